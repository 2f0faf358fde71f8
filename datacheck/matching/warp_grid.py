"""A separable zoom-and-shift grid: the best Pearson correlation of one grey image with
another zoomed and shifted over a fixed grid, on the overlap. B is interpolated along x once
per (zoom, dx) and along y on the fly over the rectangle that stays inside, so a grid of
zooms x shifts x shifts costs about zooms x shifts column passes (numba kernels). The
kernels ``warp_axes``, ``warped_columns``, ``rect_corr`` and ``pearson`` are public:
:mod:`matching.small_align` runs the same grid as the first step of its alignment."""

from __future__ import annotations

import numpy as np

from ..jit import kernel, prange


@kernel(nogil=True)
def _axis(s, z, shift):
    """One axis of a zoom/shift warp, as :func:`_source` samples it: the first and last
    output index inside the source, and per index the source pixel and bilinear weight."""
    c = (s - 1) / 2.0
    src = np.zeros(s, np.int64)
    weight = np.zeros(s)
    lo, hi = s, -1
    for u in range(s):
        pos = (u - c) / z + c + shift
        if pos < 0.0 or pos > s - 1:
            continue
        lo, hi = min(lo, u), max(hi, u)
        src[u] = min(int(pos), s - 2)
        weight[u] = pos - src[u]
    return lo, hi, src, weight


@kernel(nogil=True, parallel=True, fastmath=True)
def _grid_kernel(G, i, j, zooms, shifts, out):
    """Best correlation over zoom x shift x shift, either image warped onto the other: the
    warp is separable (no rotation), so B is interpolated along x once per (zoom, dx), then
    along y on the fly over the rectangle that stays inside (contiguous, vectorised rows)."""
    s, nz, ns = G.shape[1], len(zooms), len(shifts)
    lo, hi, src, wt = warp_axes(s, zooms, shifts)
    for t in prange(len(i)):
        cols = np.empty((ns, s, s))
        best = -1.0
        for way in range(2):
            A, B = (G[i[t]], G[j[t]]) if way == 0 else (G[j[t]], G[i[t]])
            for a in range(nz):
                warped_columns(B, lo[a], hi[a], src[a], wt[a], cols)
                for by in range(ns):
                    for bx in range(ns):
                        best = max(best, rect_corr(A, cols[bx], lo[a, by], hi[a, by],
                                                   lo[a, bx], hi[a, bx], src[a, by],
                                                   wt[a, by], 0.5))
        out[t] = best


@kernel(nogil=True)
def warp_axes(s, zooms, shifts):
    """:func:`_axis` for every (zoom, shift): tables lo, hi (zoom x shift) and src, wt
    (zoom x shift x s)."""
    nz, ns = len(zooms), len(shifts)
    lo = np.empty((nz, ns), np.int64)
    hi = np.empty((nz, ns), np.int64)
    src = np.empty((nz, ns, s), np.int64)
    wt = np.empty((nz, ns, s))
    for a in range(nz):
        for b in range(ns):
            lo[a, b], hi[a, b], src[a, b], wt[a, b] = _axis(s, zooms[a], shifts[b])
    return lo, hi, src, wt


@kernel(nogil=True, fastmath=True)
def warped_columns(B, lo, hi, src, wt, cols):
    """B interpolated along x for each shift of one zoom (``cols[shift]``), over the columns
    that stay inside."""
    s = B.shape[0]
    for bx in range(len(lo)):
        for x in range(lo[bx], hi[bx] + 1):
            k, f = src[bx, x], wt[bx, x]
            for y in range(s):
                cols[bx, y, x] = (1 - f) * B[y, k] + f * B[y, k + 1]


@kernel(nogil=True, fastmath=True)
def rect_corr(A, cols, y0, y1, x0, x1, src, wt, min_share):
    """Pearson correlation of A with ``cols`` interpolated along y, over rows y0..y1 and
    columns x0..x1; -2 when that covers less than ``min_share`` of the image (as _corr2)."""
    s = A.shape[0]
    n = (y1 - y0 + 1) * (x1 - x0 + 1)
    if y1 < y0 or x1 < x0 or n < min_share * s * s:
        return -2.0
    sa = sb = saa = sbb = sab = 0.0
    for y in range(y0, y1 + 1):
        k, f = src[y], wt[y]
        for x in range(x0, x1 + 1):
            b = (1 - f) * cols[k, x] + f * cols[k + 1, x]
            av = A[y, x]
            sa, sb, saa, sbb, sab = sa + av, sb + b, saa + av * av, sbb + b * b, sab + av * b
    return pearson(n, sa, sb, saa, sbb, sab)


@kernel(inline="always")
def pearson(n, sa, sb, saa, sbb, sab):
    """Pearson correlation from the sums over n pixels; 0 when either side is flat."""
    va = saa - sa * sa / n
    vb = sbb - sb * sb / n
    if va > 1e-6 * n and vb > 1e-6 * n:
        return (sab - sa * sb / n) / np.sqrt(va * vb)
    return 0.0


def grid_similarity(gray: np.ndarray, i: np.ndarray, j: np.ndarray,
                    zooms=(1.0, 1.03, 1.06, 1.09, 1.12),
                    shifts=(-1.5, -0.75, 0.0, 0.75, 1.5)) -> np.ndarray:
    """Best Pearson correlation of grey images i[k] and j[k] (N x S x S) when either is zoomed
    and shifted onto the other over a fixed grid (default: that of
    :func:`matching.similar.aligned_similarity`, 1-1.12x and +-1.5 px at 32), on the overlap;
    a numba kernel, ~0.3 ms a pair on one core."""
    out = np.zeros(len(i), dtype=np.float64)
    if len(i):
        _grid_kernel(np.ascontiguousarray(gray, np.float64), np.asarray(i, np.int64),
                     np.asarray(j, np.int64), np.asarray(zooms, np.float64),
                     np.asarray(shifts, np.float64), out)
    return out.astype(np.float32)
