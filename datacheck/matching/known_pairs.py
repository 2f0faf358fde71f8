"""Copy pairs an earlier audit already found, kept by content, so that auditing another
version of a dataset searches only the pairs its new images take part in.

For photos (no image <= 64 px a side), whether two images are copies, and how (distance,
similarity, transform), depends only on the two contents and the copy options: the searches
are radius searches between two images' hashes, the verification reads the two images. So
after an audit, its verified pairs are kept as pairs of content digests, together with the set
of digests it searched, in ``<cache>/pairs/<key>.npz`` (key: feature config, copy options and
a hash of the code that searches and verifies, so a change to that code searches in full).
The next audit with the same key, e.g. the base of a pull request after its head
(``datacheck diff --rev``) or a re-audit after a change, takes the kept pairs among the digests
both have, searches only the pairs that involve a digest the earlier audit did not have
(:func:`copies.find_copies` with ``touching``), and pairs rows of one digest as exact copies.
Small images (<= 64 px a side) too, with one more rule: whether their shifted and zoomed
codes are searched (sparse mode) or only their perceptual hashes (crowded mode) depends on how
many perceptual-hash pairs the whole set of small images has (:func:`small_copies.crowded`).
That count and the mode are kept with the pairs; the next audit updates the count (less the
pairs of the small images that are gone, plus the pairs that involve a new one), decides
again, and searches in full only when the mode flips.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from ..features.images import SMALL_SIDE
from . import small_copies

log = logging.getLogger(__name__)

FOLDER = "pairs"
#: Above this share of new images a full search costs less than the limited one.
MOST_NEW = 0.5


def key(config: str, options) -> str:
    """The file key of a feature config, copy options and the code that finds copies."""
    text = json.dumps([_code_version(), config, asdict(options)], sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


@functools.cache
def _code_version() -> str:
    """A hash of the searching and verifying code (this package and the variant hashes): pairs
    kept by another version of it are not reused."""
    here = Path(__file__).resolve().parent
    digest = hashlib.blake2b(digest_size=8)
    for path in [*sorted(here.glob("*.py")), here.parent / "features" / "variants.py"]:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def copy_pairs(table: pd.DataFrame, search: Callable[[np.ndarray | None, bool | None],
                                                    pd.DataFrame],
               crowd: Callable[[np.ndarray, np.ndarray | None], tuple[int, np.ndarray]],
               folder: str | os.PathLike, k: str) -> pd.DataFrame:
    """The copy pairs of ``table`` (as :func:`copies.find_copies` gives them, sorted by row
    pair). ``search(None, crowded)`` is the full search, ``search(mask, crowded)`` the pairs
    touching the rows in ``mask``; ``crowd(hashes, new)`` counts the small images'
    perceptual-hash pairs (all, or those touching the positions ``new``). What an earlier
    audit kept under key ``k`` in ``folder`` spares the rest."""
    usable = table["problem"].isna().to_numpy()
    digests = table["digest"].to_numpy(dtype=object)
    side = table[["width", "height"]].min(axis=1).to_numpy()
    small = usable & (side <= SMALL_SIDE)
    hashes = table["hash"].to_numpy()[small].astype(np.int64)
    known = read_kept(folder, k)
    same = False
    if known is not None:
        seen = set(known["digests"].tolist())
        new = usable & np.fromiter((d not in seen for d in digests), bool, len(digests))
        same = not new.any() and len(seen) == len(set(digests[usable].tolist()))
    crowded, degree, count = None, np.zeros(len(hashes), np.int64), 0
    if known is not None and new.sum() <= MOST_NEW * usable.sum():
        crowded, degree, count = _crowd_now(known, digests, small, hashes, new, crowd)
        if crowded is not None and int(known["crowded"]) in (0, 1) and \
                crowded != bool(known["crowded"]):
            known = None  # the small images' mode flips: every pair is searched again
    if known is None or new.sum() > MOST_NEW * usable.sum():
        if small.sum() >= 2:
            count, degree = crowd(hashes, None)
            crowded = small_copies.crowded(count, int(small.sum()))
        pairs = search(None, crowded)
    else:
        fresh = search(new, crowded) if new.any() else None
        parts = [_kept(known, digests, usable), _exact(digests, usable)]
        if fresh is not None:
            parts.append(fresh[fresh["kind"] != "exact"])
        pairs = pd.concat(parts, ignore_index=True)
        pairs = pairs.sort_values(["i", "j"], kind="stable").reset_index(drop=True)
    if known is None or not same:  # the same digests as the kept file: it stays as it is
        _save(folder, k, digests[usable], pairs, digests,
              {"crowded": -1 if crowded is None else int(crowded), "count": count,
               "degree": dict(zip(digests[small].tolist(), degree.tolist()))})
    return pairs


def _crowd_now(known: dict, digests: np.ndarray, small: np.ndarray, hashes: np.ndarray,
               new: np.ndarray, crowd) -> tuple[bool | None, np.ndarray, int]:
    """(crowded, degree per small row, pair count) of the small images now, from the kept
    count: less the pairs of the small images that are gone (a pair of two gone images is
    taken off twice: the count errs low), plus the pairs that involve a new image."""
    kept = dict(zip(known["crowd_digests"].tolist(), known["crowd_degree"].tolist()))
    present = set(digests[small].tolist())
    gone = sum(d for name, d in kept.items() if name not in present)
    added, degree_new = crowd(hashes, np.flatnonzero(new[small]))
    count = max(0, int(known["crowd_count"]) - gone + added)
    degree = np.array([kept.get(name, 0) for name in digests[small].tolist()],
                      np.int64) + degree_new
    if small.sum() < 2:
        return None, degree, count
    return small_copies.crowded(count, int(small.sum())), degree, count


def _kept(known: dict, digests: np.ndarray, usable: np.ndarray) -> pd.DataFrame:
    """Row pairs of the kept digest pairs whose two digests are both in the table."""
    names = known["digests"].astype(object)
    kept = pd.DataFrame({"a": names[known["a"]], "b": names[known["b"]],
                         "distance": known["distance"].astype(np.int64),
                         "similarity": known["similarity"].astype(np.float64),
                         "transform": known["transform"]})
    rows = _rows_of(digests, usable)
    both = kept.merge(rows.rename(columns={"digest": "a", "row": "i"}), on="a") \
               .merge(rows.rename(columns={"digest": "b", "row": "j"}), on="b")
    i, j = both["i"].to_numpy(), both["j"].to_numpy()
    frame = pd.DataFrame({"i": np.minimum(i, j), "j": np.maximum(i, j), "kind": "near",
                          "distance": both["distance"].to_numpy(),
                          "similarity": both["similarity"].to_numpy(),
                          "transform": both["transform"].to_numpy()})
    return frame.astype({"kind": object, "transform": object})


def _exact(digests: np.ndarray, usable: np.ndarray) -> pd.DataFrame:
    """Every two usable rows of one digest: exact copies (what the full search says of them)."""
    rows = _rows_of(digests, usable)
    rows = rows[rows["digest"].duplicated(keep=False)]
    both = rows.merge(rows, on="digest", suffixes=("_i", "_j"))
    both = both[both["row_i"] < both["row_j"]]
    frame = pd.DataFrame({"i": both["row_i"].to_numpy(), "j": both["row_j"].to_numpy()})
    frame["kind"] = "exact"
    frame["distance"] = 0
    frame["similarity"] = 1.0
    frame["transform"] = "none"
    return frame


def _rows_of(digests: np.ndarray, usable: np.ndarray) -> pd.DataFrame:
    """(digest, row) of every usable row."""
    rows = np.flatnonzero(usable)
    return pd.DataFrame({"digest": pd.Series(digests[rows], dtype=object), "row": rows})


def _save(folder: str | os.PathLike, k: str, searched: np.ndarray, pairs: pd.DataFrame,
          digests: np.ndarray, crowd: dict) -> None:
    """Keep the near pairs as digest pairs (once each: rows of one digest pair alike), with
    every digest that was searched and the small images' mode (``crowd``: crowded -1/0/1,
    the hash pair count, the degree per digest)."""
    names = np.unique(searched.astype(str))
    at = {d: n for n, d in enumerate(names)}
    near = pairs[pairs["kind"] != "exact"]
    kept: dict[tuple[int, int], tuple] = {}
    for i, j, dist, sim, how in zip(near["i"].tolist(), near["j"].tolist(),
                                    near["distance"].tolist(), near["similarity"].tolist(),
                                    near["transform"].tolist(), strict=True):
        a, b = sorted((at[digests[i]], at[digests[j]]))
        kept.setdefault((a, b), (dist, sim, how))
    ab = np.array(list(kept), dtype=np.int64).reshape(-1, 2)
    values = list(kept.values())
    write_kept(folder, k, {
        "digests": names, "a": ab[:, 0], "b": ab[:, 1],
        "distance": np.array([v[0] for v in values], dtype=np.int64),
        "similarity": np.array([v[1] for v in values], dtype=np.float64),
        "transform": np.array([v[2] for v in values], dtype=str),
        "crowded": np.int8(crowd["crowded"]), "crowd_count": np.int64(crowd["count"]),
        "crowd_digests": np.array(list(crowd["degree"]), dtype=str),
        "crowd_degree": np.array(list(crowd["degree"].values()), dtype=np.int64)})


def read_kept(folder: str | os.PathLike, name: str) -> dict | None:
    """The arrays of ``<folder>/pairs/<name>.npz``; None when there is none, or a damaged one
    (a lost shortcut: what it held is computed again)."""
    path = Path(folder) / FOLDER / f"{name}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {key: z[key] for key in z.files}
    except Exception as exc:
        log.warning("ignoring %s (%s)", path, exc)
        return None


def write_kept(folder: str | os.PathLike, name: str, arrays: dict) -> None:
    """Write ``arrays`` to ``<folder>/pairs/<name>.npz`` whole (a partial file never shows);
    a read-only cache loses the shortcut, not the audit."""
    target = Path(folder) / FOLDER
    try:
        target.mkdir(parents=True, exist_ok=True)
        part = target / f"{name}.{os.getpid()}.npz"
        np.savez(part, **arrays)
        os.replace(part, target / f"{name}.npz")
    except OSError as exc:
        log.warning("cannot keep %s in %s (%s)", name, target, exc)
