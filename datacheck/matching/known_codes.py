"""The small images' search codes kept by content between audits, so that a search limited to
new images (:func:`candidates.candidates_touching`) computes the codes of the new ones only
and reads no other thumbnail.

The codes (:func:`small_copies.searched_codes`: 12 variant codes per grey thumbnail, and 12
more of the window of a framed one) depend only on an image's content and the code that makes
them, so they are kept per digest in ``<cache>/pairs/<key>.codes.npz``, beside the pairs that
:mod:`.known_pairs` keeps and under the same key (feature config, copy options and a hash of
the matching code). Each save holds the digests of the latest search, no others.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pandas as pd

from . import small_copies
from .known_pairs import read_kept, write_kept


class KnownCodes:
    """The codes kept under ``key`` in the cache ``folder``, read when first asked for."""

    def __init__(self, folder: str | os.PathLike, key: str):
        self.folder, self.name = folder, f"{key}.codes"

    def searched_codes(self, digests: np.ndarray, gray_of: Callable[[np.ndarray], np.ndarray]
                       ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`small_copies.searched_codes` of the images with these ``digests``: the
        kept codes, and those of the others from their grey thumbnails (``gray_of(positions)``);
        then all of them kept."""
        kept = read_kept(self.folder, self.name)
        n = len(digests)
        width = len(small_copies.VARIANTS)
        plain = np.zeros((n, width), np.int64)
        window = np.zeros((n, width), np.int64)
        framed = np.zeros(n, dtype=bool)
        at = np.full(n, -1)
        if kept is not None:
            at = pd.Index(kept["digests"]).get_indexer(digests.astype(str))
            known = np.flatnonzero(at >= 0)
            plain[known] = kept["plain"][at[known]]
            framed[known] = kept["framed"][at[known]]
            window[known] = kept["window"][at[known]]
        missing = np.flatnonzero(at < 0)
        if len(missing):
            owner, every = small_copies.searched_codes(gray_of(missing))
            plain[missing] = every[:len(missing)]
            framed[missing[owner[len(missing):]]] = True
            window[missing[owner[len(missing):]]] = every[len(missing):]
        extra = np.flatnonzero(framed)
        owner, every = np.concatenate([np.arange(n), extra]), np.concatenate([plain,
                                                                              window[extra]])
        if len(missing) or kept is None or len(np.unique(digests)) != len(kept["digests"]):
            self.keep(digests, owner, every)  # new digests, or some gone
        return owner, every

    def keep(self, digests: np.ndarray, owner: np.ndarray, every: np.ndarray) -> None:
        """Keep the :func:`small_copies.searched_codes` (``owner``, ``every``) of the images
        with these ``digests`` (replacing what was kept)."""
        n = len(digests)
        window = np.zeros((n, every.shape[1]), np.int64)
        window[owner[n:]] = every[n:]
        framed = np.zeros(n, dtype=bool)
        framed[owner[n:]] = True
        names, first = np.unique(digests.astype(str), return_index=True)  # once each
        write_kept(self.folder, self.name, {"digests": names, "plain": every[:n][first],
                                            "framed": framed[first], "window": window[first]})
