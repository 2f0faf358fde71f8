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

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from . import small_copies
from .known_pairs import FOLDER

log = logging.getLogger(__name__)


class KnownCodes:
    """The codes kept under ``key`` in the cache ``folder`` (none when there is no file, or a
    damaged one)."""

    def __init__(self, folder: str | os.PathLike, key: str):
        self.path = Path(folder) / FOLDER / f"{key}.codes.npz"
        self._kept = _load(self.path)

    def searched_codes(self, digests: np.ndarray, gray_of: Callable[[np.ndarray], np.ndarray]
                       ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`small_copies.searched_codes` of the images with these ``digests``: the
        kept codes, and those of the others from their grey thumbnails (``gray_of(positions)``);
        then all of them kept."""
        n = len(digests)
        width = len(small_copies.VARIANTS)
        plain = np.zeros((n, width), np.int64)
        window = np.zeros((n, width), np.int64)
        framed = np.zeros(n, dtype=bool)
        at = np.full(n, -1)
        if self._kept is not None:
            at = pd.Index(self._kept["digests"]).get_indexer(digests.astype(str))
            known = np.flatnonzero(at >= 0)
            plain[known] = self._kept["plain"][at[known]]
            framed[known] = self._kept["framed"][at[known]]
            window[known] = self._kept["window"][at[known]]
        missing = np.flatnonzero(at < 0)
        if len(missing):
            owner, every = small_copies.searched_codes(gray_of(missing))
            plain[missing] = every[:len(missing)]
            framed[missing[owner[len(missing):]]] = True
            window[missing[owner[len(missing):]]] = every[len(missing):]
        extra = np.flatnonzero(framed)
        owner, every = np.concatenate([np.arange(n), extra]), np.concatenate([plain,
                                                                              window[extra]])
        if (len(missing) or self._kept is None
                or len(np.unique(digests)) != len(self._kept["digests"])):
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
        self._kept = {"digests": names, "plain": every[:n][first], "framed": framed[first],
                      "window": window[first]}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            part = self.path.with_name(f"{self.path.stem}.{os.getpid()}.npz")
            np.savez(part, **self._kept)
            os.replace(part, self.path)
        except OSError as exc:  # a read-only cache: the next search computes them again
            log.warning("cannot keep search codes in %s (%s)", self.path.parent, exc)


def _load(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {name: z[name] for name in ("digests", "plain", "framed", "window")}
    except Exception as exc:  # a damaged file is a lost shortcut: the codes are made again
        log.warning("ignoring %s (%s)", path, exc)
        return None
