"""Aligning two small grey thumbnails: the best correlation of one with the other mirrored,
zoomed (in y and x), rotated and shifted, and how well their fine detail then agrees.

A coarse exhaustive search on 8x8 copies (mirror x 5 zooms 0.8-1.25 x 5x5 shifts up to 4 px at
32), then a hill-climb at full size over (zoom y, zoom x, rotation up to 0.1 rad, dy, dx) with
steps 0.04/0.02/0.01 zoom, 1/0.5/0.25 px, 0.04/0.02/0.01 rad, maximising the aligned Pearson
correlation plus the correlation of the high-pass images (image minus a Gaussian blur of sigma
1 px at 32: the "detail"), from each mirror whose coarse score is within 0.1 of the best.
numba kernels, pairs in parallel; the coarse grid a separable warp (~0.04 ms a pair on one
core), the hill-climb ~2 ms a pair that passes the gate.
"""

from __future__ import annotations

import numpy as np

from ..jit import kernel, prange
from .similar import box_resized
from .warp_grid import pearson, rect_corr, warp_axes, warped_columns

#: Pairs whose coarse (8x8) aligned correlation is below this are not refined.
GATE = 0.75


def _highpass(g: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter  # only a search needs it: ~0.13 s of startup

    return (g - gaussian_filter(g, (0, sigma, sigma), mode="nearest")).astype(np.float32)


def align(gray, side_i, side_j, i, j) -> np.ndarray:
    """Aligned scores of pairs i[k], j[k] (rows of the N x 32 x 32 grey thumbnails), compared at
    the smaller image's side (<= 32): len(i) x 13, ``COLUMNS``."""
    out = np.zeros((len(i), len(COLUMNS)))
    compare = np.minimum(np.minimum(side_i, side_j), gray.shape[-1])
    i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
    for s in np.unique(compare):
        pick = np.flatnonzero(compare == s)
        rows = np.unique(np.concatenate([i[pick], j[pick]]))
        g = np.ascontiguousarray(box_resized(gray[rows], int(s)), np.float32)
        o = np.zeros((len(pick), len(COLUMNS)))
        f = s / 32
        _verify_kernel(g, _highpass(g, f), box_resized(g, max(int(s) // 4, 4)),
                       box_resized(g, max(int(s) // 2, 4)), np.searchsorted(rows, i[pick]),
                       np.searchsorted(rows, j[pick]), ZOOMS, SHIFTS * f, 0.6, 0.005, 1.0,
                       True, STEPS_Z, STEPS_PX * f, STEPS_R, GATE, 0, -1.0, o)
        out[pick] = o
    return out


@kernel(inline="always")
def _source(u, v, s, c, cr, sr, zy, zx, dy, dx, m):
    """Where A's pixel (u, v from the centre c) samples B under the warp (rotation cr/sr, zoom
    zy/zx, shift dy/dx, mirrored when m): (inside B, y0, x0, fy, fx) for bilinear sampling."""
    yy = (cr * u - sr * v) / zy + c + dy
    xx = (sr * u + cr * v) / zx + c + dx
    if yy < 0.0 or yy > s - 1 or xx < 0.0 or xx > s - 1:
        return False, 0, 0, 0.0, 0.0
    if m:
        xx = s - 1 - xx
    y0 = min(int(yy), s - 2)
    x0 = min(int(xx), s - 2)
    return True, y0, x0, yy - y0, xx - x0


@kernel(inline="always")
def _bilinear(B, y0, x0, fy, fx):
    return ((1 - fy) * (1 - fx) * B[y0, x0] + (1 - fy) * fx * B[y0, x0 + 1]
            + fy * (1 - fx) * B[y0 + 1, x0] + fy * fx * B[y0 + 1, x0 + 1])


@kernel(nogil=True, fastmath=True)
def _corr2(A, Ah, B, Bh, m, zy, zx, rot, dy, dx, min_share, want_hp):
    """(plain corr, high-pass corr) of A with warped B (Ah, Bh: high-pass copies)."""
    s = A.shape[0]
    c = (s - 1) / 2.0
    cr, sr = np.cos(rot), np.sin(rot)
    n = 0
    sa = sb = saa = sbb = sab = 0.0
    ha = hb = haa = hbb = hab = 0.0
    for y in range(s):
        u = y - c
        for x in range(s):
            inside, y0, x0, fy, fx = _source(u, x - c, s, c, cr, sr, zy, zx, dy, dx, m)
            if not inside:
                continue
            b = _bilinear(B, y0, x0, fy, fx)
            a = A[y, x]
            n += 1
            sa += a
            sb += b
            saa += a * a
            sbb += b * b
            sab += a * b
            if want_hp:
                bh = _bilinear(Bh, y0, x0, fy, fx)
                ah = Ah[y, x]
                ha += ah
                hb += bh
                haa += ah * ah
                hbb += bh * bh
                hab += ah * bh
    if n < min_share * s * s:
        return -2.0, -2.0
    return (pearson(n, sa, sb, saa, sbb, sab),
            pearson(n, ha, hb, haa, hbb, hab) if want_hp else 0.0)


@kernel(nogil=True)
def _residual(A, B, m, zy, zx, rot, dy, dx, share):
    """Affine-fit residual on the overlap at the warp (both directions, worse one): the value
    only ``share`` of the overlap pixels exceed, as a share of the intensity range; plus the
    fit slope / offset of B onto A."""
    s = A.shape[0]
    c = (s - 1) / 2.0
    cr, sr = np.cos(rot), np.sin(rot)
    xa = np.empty(s * s)
    xb = np.empty(s * s)
    n = 0
    for y in range(s):
        u = y - c
        for x in range(s):
            inside, y0, x0, fy, fx = _source(u, x - c, s, c, cr, sr, zy, zx, dy, dx, m)
            if not inside:
                continue
            xb[n] = _bilinear(B, y0, x0, fy, fx)
            xa[n] = A[y, x]
            n += 1
    if n < 4:
        return 1.0, 1.0, 0.0
    x, yv = xa[:n], xb[:n]
    mx, my = x.mean(), yv.mean()
    dxv, dyv = x - mx, yv - my
    sxx, syy, sxy = (dxv * dxv).sum(), (dyv * dyv).sum(), (dxv * dyv).sum()
    y_on_x = sxy / sxx if sxx > 1e-6 else 0.0
    x_on_y = sxy / syy if syy > 1e-6 else 0.0
    span_x = max(x.max() - x.min(), 1e-6)
    span_y = max(yv.max() - yv.min(), 1e-6)
    r = np.maximum(np.abs(dyv - y_on_x * dxv) / span_y, np.abs(dxv - x_on_y * dyv) / span_x)
    k = int(n * share)
    r = np.sort(r)
    return r[n - 1 - k], x_on_y, mx - x_on_y * my


@kernel(nogil=True)
def _objective(A, Ah, B, Bh, m, p, min_share, w_hp):
    cp, ch = _corr2(A, Ah, B, Bh, m, p[0], p[1], p[2], p[3], p[4], min_share, w_hp > 0)
    return cp + w_hp * ch, cp, ch


@kernel(nogil=True)
def _align_one(A, Ah, B, Bh, Aq, Bq, A2, B2, zooms, shifts, axes, min_share, w_hp, rich,
               steps_z, steps_px, steps_r, gate, half_levels, stop_below):
    """Coarse grid (mirror x zoom x shift) on quarter-side copies Aq/Bq (8x8 at 32), then a
    hill-climb at full resolution maximising corr + w_hp * high-pass corr over (zy, zx, rot,
    dy, dx) (``rich``; else isotropic zoom and shift only) from the best point of each
    mirror whose coarse score is within 0.1 of the best. Returns (objective, corr, hp corr,
    m, zy, zx, rot, dy, dx, coarse); objective -3 when the coarse score < ``gate``."""
    coarse = np.full(2, -3.0)
    start = np.zeros((2, 3))
    _coarse_grid(Aq, Bq, zooms, shifts, axes, min_share, coarse, start)
    best_c = max(coarse[0], coarse[1])
    out = np.full(10, -3.0)
    out[9] = best_c
    if best_c < gate:
        return out
    p = np.zeros(5)
    q = np.zeros(5)
    for m in range(2):
        if coarse[m] < best_c - 0.1:
            continue
        p[0] = start[m, 0]
        p[1] = start[m, 0]
        p[2] = 0.0
        p[3] = start[m, 1]
        p[4] = start[m, 2]
        for level in range(len(steps_px)):
            half = level < half_levels
            if half:
                X, Xh, Y, Yh, wl, g = A2, A2, B2, B2, 0.0, 0.5
            else:
                X, Xh, Y, Yh, wl, g = A, Ah, B, Bh, w_hp, 1.0
            if level == 0 or level == half_levels:
                for k in range(3, 5):
                    p[k] *= g
                cur, cp, ch = _objective(X, Xh, Y, Yh, m, p, min_share, wl)
                for k in range(3, 5):
                    p[k] /= g
                if level == half_levels and level > 0 and cp < stop_below:
                    break
            improved = True
            it = 0
            while improved and it < 12:
                improved = False
                it += 1
                nd = 10 if rich else 6
                for t in range(nd):
                    for k in range(5):
                        q[k] = p[k]
                    if t == 0:
                        q[0] += steps_z[level]
                        q[1] += steps_z[level]
                    elif t == 1:
                        q[0] -= steps_z[level]
                        q[1] -= steps_z[level]
                    elif t == 2:
                        q[3] += steps_px[level]
                    elif t == 3:
                        q[3] -= steps_px[level]
                    elif t == 4:
                        q[4] += steps_px[level]
                    elif t == 5:
                        q[4] -= steps_px[level]
                    elif t == 6:
                        q[0] += steps_z[level]
                        q[1] -= steps_z[level]
                    elif t == 7:
                        q[0] -= steps_z[level]
                        q[1] += steps_z[level]
                    elif t == 8:
                        q[2] += steps_r[level]
                    else:
                        q[2] -= steps_r[level]
                    if q[0] < 0.7 or q[0] > 1.43 or q[1] < 0.7 or q[1] > 1.43 or abs(q[2]) > 0.1:
                        continue
                    for k in range(3, 5):
                        q[k] *= g
                    o, c1, c2 = _objective(X, Xh, Y, Yh, m, q, min_share, wl)
                    for k in range(3, 5):
                        q[k] /= g
                    if o > cur + 1e-5:
                        cur, cp, ch = o, c1, c2
                        for k in range(5):
                            p[k] = q[k]
                        improved = True
        if cur > out[0]:
            out[0] = cur
            out[1] = cp
            out[2] = ch
            out[3] = m
            for k in range(5):
                out[4 + k] = p[k]
    return out


@kernel(nogil=True, fastmath=True)
def _coarse_grid(A, B, zooms, shifts, axes, min_share, coarse, start):
    """Per mirror m, the best correlation of A with B zoomed and shifted and where:
    ``coarse[m]``, ``start[m] = (zoom, dy, dx)`` (``shifts`` in px at the full side; ``axes``:
    :func:`warp_axes` of them at A's side). What :func:`_corr2` gives without rotation, as the
    separable warp of :func:`_grid_kernel` (B mirrored by reversing its columns)."""
    lo, hi, src, wt = axes
    s, ns = A.shape[0], len(shifts)
    cols = np.empty((ns, s, s))
    for m in range(2):
        Bm = np.ascontiguousarray(B[:, ::-1]) if m else B
        for a in range(len(zooms)):
            warped_columns(Bm, lo[a], hi[a], src[a], wt[a], cols)
            for by in range(ns):
                for bx in range(ns):
                    cc = rect_corr(A, cols[bx], lo[a, by], hi[a, by], lo[a, bx], hi[a, bx],
                                   src[a, by], wt[a, by], min_share)
                    if cc > coarse[m]:
                        coarse[m] = cc
                        start[m, 0] = zooms[a]
                        start[m, 1] = shifts[by]
                        start[m, 2] = shifts[bx]


@kernel(nogil=True, parallel=True)
def _verify_kernel(G, H, Q, G2, i, j, zooms, shifts, min_share, share, w_hp, rich, steps_z,
                   steps_px, steps_r, gate, half_levels, stop_below, out):
    axes = warp_axes(Q.shape[1], zooms, shifts * (Q.shape[1] / G.shape[1]))  # the coarse grid's
    for t in prange(len(i)):
        A, B = G[i[t]], G[j[t]]
        r = _align_one(A, H[i[t]], B, H[j[t]], Q[i[t]], Q[j[t]], G2[i[t]], G2[j[t]], zooms,
                       shifts, axes, min_share, w_hp, rich, steps_z, steps_px, steps_r, gate,
                       half_levels, stop_below)
        out[t, 0] = _corr2(A, A, B, B, 0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, False)[0]
        out[t, 1] = r[1]
        out[t, 2] = r[2]
        out[t, 3] = r[3]
        out[t, 4] = r[4]
        out[t, 5] = r[5]
        out[t, 6] = r[6]
        out[t, 7] = r[7]
        out[t, 8] = r[8]
        out[t, 12] = r[9]
        if r[0] > -3.0:
            m = int(r[3])
            out[t, 2] = _corr2(A, H[i[t]], B, H[j[t]], m, r[4], r[5], r[6], r[7], r[8],
                               min_share, True)[1]
            res, slope, off = _residual(A, B, m, r[4], r[5], r[6], r[7], r[8], share)
            out[t, 9] = res
            out[t, 10] = slope
            out[t, 11] = off
        else:
            out[t, 9] = 1.0
            out[t, 10] = 1.0



COLUMNS = ["plain", "corr", "detail", "mirror", "zoom_y", "zoom_x", "rotation", "dy", "dx",
           "residual", "slope", "offset", "coarse"]
ZOOMS = np.array([1 / 1.25, 1 / 1.12, 1.0, 1.12, 1.25])
SHIFTS = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])   # px at the comparison side / 32
STEPS_Z = np.array([0.04, 0.02, 0.01])
STEPS_PX = np.array([1.0, 0.5, 0.25])
STEPS_R = np.array([0.04, 0.02, 0.01])   # radians (2.3, 1.1, 0.6 deg)


