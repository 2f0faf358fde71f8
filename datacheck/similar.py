"""Exact and near-duplicate pairs among scanned images.

Candidates come from the perceptual-hash search (:mod:`datacheck.neighbors`). Every candidate
that is not a byte-identical copy is verified on grayscale copies of the 32x32 thumbnails: the
Pearson correlation of the two (blind to brightness and contrast changes) must reach a bar.

The bar depends on size. Pairs of small images (both with a side <= 64 px, e.g. 28x28
Fashion-MNIST) make 64-bit hashes collide by the thousand between different items of one
class, so they need a high bar (``min_similarity_small``, 0.97: a JPEG q=50 or brighter copy
scores >= 0.97, a different shirt rarely does). For photos a thumbnail is a 10-20x reduction
that barely moves under re-encoding or resizing, while different photos within 10 bits are rare
and correlate < 0.6 (BSDS500), so a lower bar (``min_similarity``, 0.75) keeps copies with a 5%
centre crop (>= 0.76).
Figures: benchmarks/README.md.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from PIL import Image

from .neighbors import hamming_pairs

PAIR_COLUMNS = ["i", "j", "kind", "distance", "similarity"]


def thumb_similarity(thumbs: np.ndarray, i: np.ndarray, j: np.ndarray,
                     chunk: int = 65536) -> np.ndarray:
    """Pearson correlation between the grayscale thumbnails i[k] and j[k] (flat images give 0).

    ``thumbs`` is N x H x W (grayscale) or N x H x W x 3 (RGB, converted with ITU-R 601-2 luma).
    """
    flat = _gray(thumbs).reshape(len(thumbs), -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    flat = np.divide(flat, norms, out=np.zeros_like(flat), where=norms > 1e-6)
    out = np.empty(len(i), dtype=np.float32)
    for start in range(0, len(i), chunk):
        a = flat[i[start:start + chunk]]
        b = flat[j[start:start + chunk]]
        out[start:start + chunk] = np.einsum("ij,ij->i", a, b)
    return out


def _gray(thumbs: np.ndarray) -> np.ndarray:
    thumbs = np.asarray(thumbs, dtype=np.float32)
    if thumbs.ndim == 4:
        thumbs = thumbs @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return thumbs


def _resized(gray: np.ndarray, side: int) -> np.ndarray:
    """Grayscale thumbnails area-reduced to side x side (unchanged at their own size)."""
    if side >= gray.shape[-1]:
        return gray
    return np.stack([np.asarray(Image.fromarray(g, mode="F").resize((side, side), Image.BOX))
                     for g in gray])


#: Pairs of images whose smaller sides are both at most this use ``min_similarity_small``.
SMALL_SIDE = 64


def similar_pairs(table: pd.DataFrame, load_thumbs: Callable[[np.ndarray], np.ndarray], *,
                  threshold: int, min_similarity: float,
                  min_similarity_small: float) -> pd.DataFrame:
    """Verified pairs of rows (i < j, row positions in ``table``) that are copies of each other.

    ``kind`` is ``exact`` for identical bytes and ``near`` otherwise; ``distance`` is the Hamming
    distance of the hashes; ``similarity`` the thumbnail correlation (1.0 for exact copies).
    ``load_thumbs(rows)`` returns the thumbnails of those rows; it is called once, for the rows
    that take part in a candidate pair that is not an exact copy.
    """
    usable = np.flatnonzero(table["problem"].isna().to_numpy())
    if len(usable) < 2:
        return _pairs(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, bool),
                      np.empty(0, np.int64), np.empty(0, np.float32))
    hashes = table["hash"].to_numpy()[usable].astype(np.int64)
    a, b, dist = hamming_pairs(hashes, threshold)
    i, j = usable[a], usable[b]
    digests = table["digest"].to_numpy()
    exact = digests[i] == digests[j]
    side = table[["width", "height"]].min(axis=1).to_numpy()
    sim = np.ones(len(i), dtype=np.float32)
    if (~exact).any():
        rows = np.unique(np.concatenate([i[~exact], j[~exact]]))
        gray = _gray(load_thumbs(rows))
        # compare at the smaller image's own resolution: a 14x14 copy of a 28x28 image is
        # then nearly identical to it, instead of a blurred version of it at 32x32
        compare = np.minimum(np.minimum(side[i], side[j]), gray.shape[-1])
        for s in np.unique(compare[~exact]):
            pick = ~exact & (compare == s)
            sim[pick] = thumb_similarity(_resized(gray, int(s)), np.searchsorted(rows, i[pick]),
                                         np.searchsorted(rows, j[pick]))
    small = (side[i] <= SMALL_SIDE) & (side[j] <= SMALL_SIDE)
    keep = exact | (sim >= np.where(small, min_similarity_small, min_similarity))
    return _pairs(i[keep], j[keep], exact[keep], dist[keep], sim[keep])


def _pairs(i, j, exact, dist, sim) -> pd.DataFrame:
    """The pair table, typed even when empty (checks index arrays with its columns)."""
    return pd.DataFrame({
        "i": np.asarray(i, dtype=np.int64), "j": np.asarray(j, dtype=np.int64),
        "kind": np.where(exact, "exact", "near").astype(object),
        "distance": np.asarray(dist, dtype=np.int64),
        "similarity": np.round(np.asarray(sim, dtype=np.float64), 4),
    }, columns=PAIR_COLUMNS)
