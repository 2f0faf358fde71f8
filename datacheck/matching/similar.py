"""How alike two thumbnails are: the scores that verify near-duplicate candidates.

Candidates come from :mod:`matching.copies`. Every candidate that is not a byte-identical copy
is verified on grayscale copies of the 32x32 thumbnails,
compared at the smaller image's resolution: the Pearson correlation of the two (blind to
brightness and contrast changes) must reach a bar.

Pairs of small images (both with a side <= 64 px, e.g. 28x28 Fashion-MNIST) make 64-bit hashes
collide by the thousand between different items of one class, and a correlation bar cannot tell
them apart: ~4,300 original Fashion-MNIST test<->train pairs correlate >= 0.97, mostly different
trousers or shirts of one silhouette, while a JPEG q=50 copy may score 0.94. So small pairs pass
two tests: a correlation of at least ``min_similarity_small`` (0.90), and a *local* one: after
fitting each image to the other with an affine intensity map (``a*x + b``, least squares), at
most 0.5% of the pixels (``RESIDUAL_SHARE``; 3 of 784 at 28x28, none at 14x14) may differ by
more than ``max_residual_small`` (0.25) of the image's intensity range. Re-encoding, resizing
and brightness changes leave small residuals spread over the image (JPEG q=50: 99% <= 0.22); a
different print, pocket, collar or leg shape leaves a few large ones. On Fashion-MNIST this cuts
the verified original test<->train pairs from 4,299 to 73, most of them the same product
photographed twice, and keeps 98-100% of planted JPEG, resized and brightened copies.

For photos a thumbnail is a 10-20x reduction that barely moves under re-encoding or resizing,
while different photos within 10 bits are rare and correlate < 0.6 (BSDS500), so a correlation
bar (``min_similarity``, 0.75) keeps copies with a 5% centre crop (>= 0.76); a crop shifts
every edge, so the residual test would drop them. But photos with the same coarse layout also
reach 0.75-0.84 (mosaics of different photo crops in benchmarks/e2e.py: 9 false leaks among
100k images). So a large pair below ``ALIGN_BELOW`` (0.97) must also correlate at least
``MIN_ALIGNED`` (0.88) once one thumbnail is zoomed (1-1.12x) and shifted (+-1.5 px) onto the
other, the geometry of a crop of up to ~10%: 5-10% crops of BSDS500 photos score >= 0.89
aligned, those mosaics <= 0.84, random photo pairs <= 0.60.
Figures: benchmarks/ARCHIVE.md.
"""

from __future__ import annotations

import numpy as np

from ..features import variants
from ..jit import kernel, prange
from .warp_grid import grid_similarity

#: Share of pixels allowed to exceed ``max_residual_small`` in the small-image residual test.
RESIDUAL_SHARE = 0.005

#: Large pairs correlating below this are also tested after alignment (:func:`aligned_similarity`).
ALIGN_BELOW = 0.97
#: ... and must then reach this.
MIN_ALIGNED = 0.88
#: Zooms and shifts (in pixels of a 32x32 thumbnail) tried by :func:`aligned_similarity`.
_ZOOMS = (1.0, 1.03, 1.06, 1.09, 1.12)
_SHIFTS = (-1.5, -0.75, 0.0, 0.75, 1.5)


def thumb_similarity(thumbs: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Pearson correlation between the grayscale thumbnails i[k] and j[k] (flat images give 0).

    ``thumbs`` is N x H x W (grayscale) or N x H x W x 3 (RGB, converted with ITU-R 601-2 luma).
    """
    flat = np.ascontiguousarray(_unit(_gray(thumbs).reshape(len(thumbs), -1)), np.float32)
    out = np.empty(len(i), dtype=np.float32)
    _dot_kernel(flat, np.asarray(i, np.int64), np.asarray(j, np.int64), out)
    return out


@kernel(nogil=True, parallel=True, fastmath=True)
def _dot_kernel(flat, i, j, out):  # pragma: no cover - compiled
    """out[k] = flat[i[k]] . flat[j[k]], pairs in parallel, without gathering rows."""
    for m in prange(len(i)):
        x, y = flat[i[m]], flat[j[m]]
        acc = 0.0
        for q in range(flat.shape[1]):
            acc += x[q] * y[q]
        out[m] = acc


def fit_residual(thumbs: np.ndarray, i: np.ndarray, j: np.ndarray,
                 share: float = RESIDUAL_SHARE) -> np.ndarray:
    """How far i[k] and j[k] differ locally once brightness and contrast are fitted away.

    Each image is fitted to the other by least squares with ``a*x + b``; the absolute residual
    of every pixel, as a fraction of the fitted image's intensity range (max - min), is taken
    in the worse of the two directions. Returned: the residual that only ``share`` of the
    pixels exceed (the ``floor(share * pixels) + 1``-th largest), so a value <= t means "at
    most that many pixels are off by more than t". 0 for identical images, up to ~1.
    """
    flat = np.ascontiguousarray(_gray(thumbs).reshape(len(thumbs), -1), dtype=np.float32)
    out = np.empty(len(i), dtype=np.float32)
    _residual_kernel(flat, np.asarray(i, np.int64), np.asarray(j, np.int64),
                     int(flat.shape[1] * share), out)
    return out


@kernel(nogil=True, parallel=True)
def _residual_kernel(flat, i, j, k, out):  # pragma: no cover - compiled
    stats = np.empty((flat.shape[0], 4))  # mean, sum of squared deviations, min, max
    for r in prange(flat.shape[0]):
        stats[r] = _stats(flat[r])
    for m in prange(len(i)):
        out[m] = _residual_one(flat[i[m]], flat[j[m]], stats[i[m]], stats[j[m]], k)


@kernel(nogil=True, fastmath=True)
def _stats(x):  # pragma: no cover - compiled
    mean = x.sum() / x.shape[0]
    dev = 0.0
    for q in range(x.shape[0]):
        dev += (x[q] - mean) * (x[q] - mean)
    return np.array([mean, dev, x.min(), x.max()])


@kernel(nogil=True, fastmath=True)
def _residual_one(x, y, sx, sy, k):  # pragma: no cover - compiled
    mx, sxx, lox, hix = sx[0], sx[1], sx[2], sx[3]
    my, syy, loy, hiy = sy[0], sy[1], sy[2], sy[3]
    sxy = 0.0
    for q in range(x.shape[0]):
        sxy += (x[q] - mx) * (y[q] - my)
    y_on_x = sxy / sxx if sxx > 1e-6 else 0.0
    x_on_y = sxy / syy if syy > 1e-6 else 0.0
    to_y, to_x = 1.0 / max(hiy - loy, 1e-6), 1.0 / max(hix - lox, 1e-6)
    res = np.empty(x.shape[0])
    for q in range(x.shape[0]):  # vectorised; the selection below is a rarely taken branch
        dx, dy = x[q] - mx, y[q] - my
        res[q] = max(abs(dy - y_on_x * dx) * to_y, abs(dx - x_on_y * dy) * to_x)
    top = np.full(k + 1, -1.0)  # the k+1 largest residuals, descending
    for r in res:
        if r > top[k]:
            p = k
            while p > 0 and top[p - 1] < r:
                top[p] = top[p - 1]
                p -= 1
            top[p] = r
    return top[k]


def _warp_grid(side: int) -> np.ndarray:
    """Sampling coordinates (2, W, side, side) of every zoom/shift in ``_ZOOMS`` x ``_SHIFTS``."""
    centre = (side - 1) / 2
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    grids = [np.stack([(yy - centre) / z + centre + dy, (xx - centre) / z + centre + dx])
             for z in _ZOOMS for dy in _SHIFTS for dx in _SHIFTS]
    return np.stack(grids, axis=1)


def _unit(flat: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit length (flat rows become 0): dot products of two rows
    are then their Pearson correlation."""
    flat = flat - flat.mean(axis=-1, keepdims=True)
    norms = np.linalg.norm(flat, axis=-1, keepdims=True)
    return np.divide(flat, norms, out=np.zeros_like(flat), where=norms > 1e-6)


def aligned_similarity(gray: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Best Pearson correlation between grayscale thumbnails i[k] and j[k] when either one is
    zoomed (1-1.12x) and shifted (+-1.5 px) onto the other: near 1 for a crop of up to ~10%
    of the same image, well below for a different image of the same coarse layout."""
    gray = np.asarray(gray, dtype=np.float32)
    side = gray.shape[-1]
    ys, xs = (np.clip(c, 0, side - 1).reshape(-1) for c in _warp_grid(side))
    y0, x0 = np.minimum(ys.astype(np.int64), side - 2), np.minimum(xs.astype(np.int64), side - 2)
    fy, fx = ys - y0, xs - x0
    plain = _unit(gray.reshape(len(gray), -1))
    warped: dict[int, np.ndarray] = {}

    def warps(r: int) -> np.ndarray:  # bilinear sampling at every zoom/shift, edges clamped
        if r not in warped:
            g = gray[r]
            w = ((1 - fy) * ((1 - fx) * g[y0, x0] + fx * g[y0, x0 + 1])
                 + fy * ((1 - fx) * g[y0 + 1, x0] + fx * g[y0 + 1, x0 + 1]))
            warped[r] = _unit(w.reshape(len(_ZOOMS) * len(_SHIFTS) ** 2, -1))
        return warped[r]

    out = np.empty(len(i), dtype=np.float32)
    for k, (a, b) in enumerate(zip(i.tolist(), j.tolist(), strict=True)):
        out[k] = max(float((warps(b) @ plain[a]).max()), float((warps(a) @ plain[b]).max()))
    return out


def _gray(thumbs: np.ndarray, chunk: int = 2048) -> np.ndarray:
    if np.ndim(thumbs) != 4:
        return np.asarray(thumbs, dtype=np.float32)
    # channel by channel (14x faster than a matmul with (3,)), in chunks that stay in cache
    # (2.2x faster at 60k thumbnails)
    luma = np.float32(0.299), np.float32(0.587), np.float32(0.114)
    out = np.empty(thumbs.shape[:-1], dtype=np.float32)
    for s in range(0, len(thumbs), chunk):
        t = thumbs[s:s + chunk]
        out[s:s + chunk] = t[..., 0] * luma[0] + t[..., 1] * luma[1] + t[..., 2] * luma[2]
    return out


def _box_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out x n_in) weights of PIL's BOX resampling of one axis (Pillow's Resample.c: the
    input pixels whose centres fall in an output pixel's box, averaged)."""
    scale = n_in / n_out
    support = 0.5 * max(scale, 1.0)
    out = np.zeros((n_out, n_in))
    for o in range(n_out):
        centre = (o + 0.5) * scale
        lo, hi = max(int(centre - support + 0.5), 0), min(int(centre + support + 0.5), n_in)
        t = (np.arange(lo, hi) - centre + 0.5) / max(scale, 1.0)
        out[o, lo:hi] = (t > -0.5) & (t <= 0.5)
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)


def box_resized(gray: np.ndarray, side: int) -> np.ndarray:
    """Grayscale thumbnails reduced to side x side with PIL's BOX filter (unchanged at their
    own size), one weight matrix per axis for all images at once."""
    if side >= gray.shape[-1]:
        return gray
    w = _box_weights(gray.shape[-1], side).astype(np.float32)
    return np.matmul(np.matmul(w, np.asarray(gray, np.float32)), w.T)


def pair_scores(thumbs: np.ndarray, side_i: np.ndarray, side_j: np.ndarray, i: np.ndarray,
                j: np.ndarray, residual_from: np.ndarray | float = np.inf
                ) -> tuple[np.ndarray, np.ndarray]:
    """(correlation, fit residual) of the thumbnail pairs i[k], j[k] (rows of ``thumbs``).

    Each pair is compared at the smaller image's resolution (``side_*``: the images' smaller
    sides in pixels; both thumbnails area-reduced to it), which makes a 14x14 copy of a 28x28
    image nearly identical to it instead of a blurred version of it at 32x32. The residual
    (:func:`fit_residual`) is computed only for pairs whose correlation reaches
    ``residual_from`` (a bar per pair, or one for all; default: none) and is NaN elsewhere.
    """
    gray = _gray(thumbs)
    compare = np.minimum(np.minimum(side_i, side_j), gray.shape[-1])
    bar = np.broadcast_to(np.asarray(residual_from, dtype=np.float64), (len(i),))
    sim = np.zeros(len(i), dtype=np.float32)
    res = np.full(len(i), np.nan, dtype=np.float32)
    for s in np.flatnonzero(np.bincount(compare.astype(np.int64))):  # distinct sides, no sort
        pick = np.flatnonzero(compare == s)
        small = box_resized(gray, int(s))  # all rows: cheaper than finding the ones in pairs
        a, b = i[pick], j[pick]
        sim[pick] = thumb_similarity(small, a, b)
        more = sim[pick] >= bar[pick]
        if more.any():
            res[pick[more]] = fit_residual(small, a[more], b[more])
    return sim, res


def view_similarity(gray: np.ndarray, query: np.ndarray, owner: np.ndarray,
                    kind: np.ndarray, both: np.ndarray) -> np.ndarray:
    """How well each query's grey thumbnail matches its owner's thumbnail seen as the variant
    ``kind`` that matched (``both``: the query is seen through the same window too, as for two
    caption windows): their best correlation under a small zoom and shift
    (:func:`warp_grid.grid_similarity`). A cheap check of a hash match before the
    files are read."""
    views = np.empty((2 * len(query), *gray.shape[1:]), dtype=np.float32)
    for n, (q, o, k, b) in enumerate(zip(query.tolist(), owner.tolist(), kind.tolist(),
                                         both.tolist(), strict=True)):
        views[2 * n] = variants.variant_view(gray[q], k) if b else gray[q]
        views[2 * n + 1] = variants.variant_view(gray[o], k)
    return grid_similarity(views, np.arange(0, len(views), 2), np.arange(1, len(views), 2))
