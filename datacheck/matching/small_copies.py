"""Copies among small images (both sides <= 64 px, e.g. CIFAR 32x32, Fashion-MNIST 28x28).

Small images make perceptual hashes collide by the thousand where a dataset is a crowd of
look-alikes (Fashion-MNIST: centred silhouettes on black), yet real datasets of small photos
(CIFAR-10) hold copies that are re-cropped, shifted by 1-3 px, rescaled 5-15%, recoloured or
mirrored, which an unaligned comparison rejects and a third of which are beyond 10 bits of
phash. So the small images of a dataset are handled in one of two modes:

- **sparse** (perceptual-hash candidates are rare: at most ``CROWDED_RATE`` of all pairs, or
  fewer than ``MIN_CROWD``; CIFAR-10 test: 143 pairs, 2.9e-6 of all): every image gets 12
  phash-like codes of its grey thumbnail (itself, its mirror, 8 shifts by 2 px, zooms 1.1 and
  1.2, each a resampling folded into the DCT matrices, ~16 us an image), searched exactly; an
  image with more than ``DENSE_ABOVE`` plain-code neighbours searches with its own code only,
  and each other keeps its ``TOP_K`` nearest matches. Every candidate pair is then *aligned*
  (:mod:`matching.small_align`) and is a copy when the aligned correlation is >= ``MIN_CORR``
  and correlation + detail (high-pass) correlation >= ``MIN_SUM``. CIFAR-10 test: 36 of the 39
  published near-duplicate pairs (two of the three misses are different shots of one scene),
  0 other pairs across classes.
- **crowded** (Fashion-MNIST: 7.2M candidate pairs, 3e-3 of all): the perceptual-hash candidates
  only, verified unaligned (:func:`matching.similar.pair_scores`: correlation >= 0.90 and a fit
  residual <= 0.25), which tells re-encoded, resized and brightened copies from different
  products of one silhouette (73 flagged test<->train pairs). Aligned matching cannot: there it
  accepts thousands of look-alikes, so shifted, cropped and mirrored copies of such images are
  not searched.

**Frames.** A small picture on a plain border (white, black, grey; even or not) is *framed*
when near-uniform edges (:func:`features.variants.trim_box`) on two sides or more cover 15%
of it, leave at least half of each side, and the picture fills the window's edges (an object
on plain sky does not). The frame dominates a 32-px thumbnail, so two different pictures in
similar frames hash and align alike. In sparse mode a framed image is also searched by the
codes of its window inside the frame, and a pair with a framed image is verified on the
windows too (trimmed past the frame's blend into the picture, compared at the window's own
resolution): two framed images must match there; a framed and a plain one match on the
windows, or as wholes when the framed one's window also matches the plain one seen through
the same window (its own frame may be unseen: frame to frame is no match). Such a pair
accepted on the windows is named ``framed``. Frames and windows: :mod:`.small_frames`.

Figures: benchmarks/leakage_cifar.py, benchmarks/small_images.py, benchmarks/small60k.py,
benchmarks/ARCHIVE.md.
"""

from __future__ import annotations

import numpy as np

from ..features.variants import window
from .neighbors import hamming_cross, hamming_pairs
from .similar import pair_scores
from .small_align import align
from .small_frames import frames, trimmed, windowed

#: Crowded mode when more than this share of all pairs of small images are hash candidates
#: (CIFAR-10 test: 2.9e-6; sklearn's digits drawn at 28x28: 1.5e-4; Fashion-MNIST: 3e-3) ...
CROWDED_RATE = 5e-5
#: ... and there are at least this many (a few pairs among a few images say nothing).
MIN_CROWD = 50
#: Images with more plain-code neighbours than this search with their own code only ...
DENSE_ABOVE = 5
#: ... and the others keep this many nearest variant matches.
TOP_K = 5
#: Acceptance of an aligned pair: aligned correlation, and correlation + detail correlation.
MIN_CORR = 0.80
MIN_SUM = 1.50


def _dct8(n=32):
    """First 8 rows of the orthonormal n-point DCT-II matrix (what phash keeps)."""
    k = np.arange(n)
    c = np.sqrt(2 / n) * np.cos(np.pi * (2 * k[None, :] + 1) * np.arange(8)[:, None] / (2 * n))
    c[0] /= np.sqrt(2)
    return c


def _resample(shift=0.0, zoom=1.0, mirror=False, n=32):
    """n x n matrix of a 1-D linear resampling: out[y] = in[(y-c)/zoom + c + shift], edges
    clamped, optionally mirrored."""
    cc = (n - 1) / 2
    m = np.zeros((n, n))
    for y in range(n):
        s = min(max((y - cc) / zoom + cc + shift, 0), n - 1)
        y0 = min(int(s), n - 2)
        f = s - y0
        m[y, y0] += 1 - f
        m[y, y0 + 1] += f
    return m[:, ::-1] if mirror else m


#: Hash variants (y op, x op): identity, mirror, the 8 shifts by 2 px, zoom 1.1 and 1.2.
VARIANTS = [((0, 1, False), (0, 1, False)), ((0, 1, False), (0, 1, True))] + [
    ((dy, 1, False), (dx, 1, False)) for dy in (-2, 0, 2) for dx in (-2, 0, 2) if dy or dx] + [
    ((0, z, False), (0, z, False)) for z in (1.1, 1.2)]


def _variant_ops():
    c = _dct8()
    ops = sorted({op for v in VARIANTS for op in v})
    mats = np.stack([c @ _resample(*op) for op in ops]).astype(np.float32)  # K x 8 x 32
    index = {op: k for k, op in enumerate(ops)}
    return mats, [(index[y], index[x]) for y, x in VARIANTS]


_MATS, _PAIRS = _variant_ops()


def codes(gray: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """N x 12 phash-like codes (8x8 low DCT of the grey thumbnail vs its median) of each
    variant in ``VARIANTS`` (column 0: the image itself)."""
    n = len(gray)
    out = np.empty((n, len(VARIANTS)), np.int64)
    for s in range(0, n, chunk):
        g = np.asarray(gray[s:s + chunk], np.float32)
        right = np.einsum("nyx,kbx->nkyb", g, _MATS, optimize=True)
        for v, (ky, kx) in enumerate(_PAIRS):
            d = np.matmul(_MATS[ky], right[:, kx]).reshape(len(g), 64)
            bits = d > np.median(d, axis=1, keepdims=True)
            out[s:s + chunk, v] = np.packbits(bits, axis=1).view(">u8").astype(
                np.uint64).view(np.int64).ravel()
    return out


def crowded(pairs: int, n: int) -> bool:
    """Whether ``n`` images with ``pairs`` perceptual-hash candidate pairs among them are a
    crowd: at least MIN_CROWD pairs, and more than CROWDED_RATE of all possible pairs (a rate
    does not grow with the dataset, a count does)."""
    return pairs >= MIN_CROWD and pairs > CROWDED_RATE * n * (n - 1) / 2


def candidates(owner: np.ndarray, every: np.ndarray, radius: int, *,
               workers: int | None = None):
    """Candidate pairs (i, j, distance) among small images in sparse mode, from their
    :func:`searched_codes` (a framed image is searched by its window's codes too)."""
    i, j, d = _closest(*_sparse_candidates(every, radius, workers), owner)
    return np.minimum(i, j), np.maximum(i, j), d


def candidates_touching(owner: np.ndarray, every: np.ndarray, new: np.ndarray, radius: int,
                        *, workers: int | None = None):
    """The sparse-mode candidates (i, j, distance) that involve one of the images ``new``,
    from the :func:`searched_codes` of all: each new image (and its window, when framed)
    searched against every image's codes, the few new codes as the database. A new image with
    more than DENSE_ABOVE plain-code neighbours searches with its own code only; the others
    keep their TOP_K nearest matches."""
    query = np.flatnonzero(np.isin(owner, new))
    v = every.shape[1]
    a, m, _ = hamming_cross(every[:, 0], every[query, 0], radius, workers=workers)
    keep = owner[a] != owner[query[m]]
    degree = np.bincount(m[keep], minlength=len(query))
    sparse = query[degree <= DENSE_ABOVE]
    dense = query[degree > DENSE_ABOVE]
    a, m, d = hamming_cross(every.ravel(), every[sparse].ravel(), radius, workers=workers)
    b, n, e = hamming_cross(every[:, 0], every[dense, 0], radius, workers=workers)
    i, j, d = _closest(np.concatenate([a // v, b]), np.concatenate([sparse[m // v], dense[n]]),
                       np.concatenate([d, e]).astype(np.int64), owner)
    # the TOP_K nearest of each sparse new image (j: the new one)
    order = np.lexsort((d, j))
    i, j, d = i[order], j[order], d[order]
    start = np.ones(len(j), dtype=bool)
    start[1:] = j[1:] != j[:-1]
    rank = np.arange(len(j)) - np.flatnonzero(start)[np.cumsum(start) - 1]
    keep = (rank < TOP_K) | np.isin(j, owner[dense])
    return i[keep], j[keep], d[keep]


def searched_codes(gray: np.ndarray, framing=None) -> tuple[np.ndarray, np.ndarray]:
    """(owner, codes): the variant codes of every grey thumbnail, then of every framed one's
    window (in row order); ``owner[k]``, the image whose code row k is. ``framing``:
    :func:`frames` of ``gray``, when known."""
    framed, windows, _, _ = frames(gray) if framing is None else framing
    extra = np.flatnonzero(framed)
    return (np.concatenate([np.arange(len(gray)), extra]),
            codes(np.concatenate([gray, windows[extra]])))


def _closest(a: np.ndarray, b: np.ndarray, d: np.ndarray, owner: np.ndarray):
    """Code-row pairs (a, b, distance) as image pairs (``owner``): an image with itself (its
    window) dropped, and one row per pair of images, the closest (in its given order)."""
    i, j = owner[a], owner[b]
    keep = i != j
    i, j, d = i[keep], j[keep], d[keep]
    order = np.lexsort((d, np.maximum(i, j), np.minimum(i, j)))
    i, j, d = i[order], j[order], d[order]
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    first = np.ones(len(i), dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return i[first], j[first], d[first]


def verify(gray, side_i, side_j, a, b, options, aligned: bool, framing=None):
    """(accepted, score, transform) of small pairs ``a[k], b[k]`` (rows of the grey
    thumbnails): aligned (sparse mode, frames seen through: see the module's docstring) or
    unaligned (crowded mode). ``framing``: :func:`frames` of ``gray`` (at least of the rows
    in ``a`` and ``b``; the windows may be None), when known."""
    if not aligned:
        ok, sim = unaligned(gray, side_i, side_j, a, b, options)
        return ok, sim, np.full(len(a), "none", dtype=object)
    scores = align(gray, side_i, side_j, a, b)
    ok = _accepted(scores)
    name = _names(scores)
    framed, windows, scale, boxes = frames(gray) if framing is None else framing
    if windows is None:
        windows = windowed(gray, framed, boxes)
    look = np.flatnonzero(framed[a] | framed[b])
    side_i, side_j = np.asarray(side_i, np.float64), np.asarray(side_j, np.float64)
    if len(look):
        # compared at the windows' own resolution (an upsampled window has no fine detail)
        inner = align(windows, np.maximum(np.round(side_i[look] * scale[a[look]]), 4),
                      np.maximum(np.round(side_j[look] * scale[b[look]]), 4), a[look], b[look])
        inner_ok = _accepted(inner)
        both = framed[a[look]] & framed[b[look]]
        whole = np.flatnonzero(ok[look] & ~both & ~inner_ok)
        ok[look] = inner_ok | (ok[look] & ~both)
        if len(whole):
            pick = look[whole]
            ok[pick] = _same_window(gray, windows, scale, boxes, framed, a[pick], b[pick],
                                    np.minimum(side_i[pick], side_j[pick]))
        scores[look[inner_ok]] = inner[inner_ok]
        name[look[inner_ok]] = "framed"
    return ok, np.where(ok, scores[:, 1], scores[:, 0]), name


def _same_window(gray, windows, scale, boxes, framed, a, b, side) -> np.ndarray:
    """Whether pairs of a framed and a plain thumbnail that match as wholes also match inside
    the framed one's window, the plain one seen through the same window: a match of wholes may
    be frame to frame, the plain one's own frame unseen (JPEG-blurred, 1 px on a side), with
    different pictures inside."""
    own = np.where(framed[a], a, b)
    other = np.where(framed[a], b, a)
    crops = np.stack([trimmed(window(gray[o], tuple(boxes[f].tolist())))
                      for f, o in zip(own.tolist(), other.tolist(), strict=True)])
    res = np.maximum(np.round(side * scale[own]), 4)
    both = np.concatenate([windows[own], crops])
    n = len(own)
    return _accepted(align(both, res, res, np.arange(n), np.arange(n, 2 * n)))


def _accepted(scores: np.ndarray) -> np.ndarray:
    corr, detail = scores[:, 1], scores[:, 2]
    return (corr >= MIN_CORR) & (corr + detail >= MIN_SUM)


def unaligned(gray, side_i, side_j, a, b, options) -> tuple[np.ndarray, np.ndarray]:
    """(accepted, correlation) of small pairs in crowded mode: correlation >=
    ``min_similarity_small`` and fit residual <= ``max_residual_small``, unaligned."""
    sim, res = pair_scores(gray, side_i, side_j, a, b,
                           residual_from=options.min_similarity_small)
    ok = (sim >= options.min_similarity_small) & (res <= options.max_residual_small)
    return ok, sim.astype(np.float64)


def _names(scores: np.ndarray) -> np.ndarray:
    """mirrored > rescaled (a zoom off by >= 6% or a rotation >= 0.05 rad) > shifted (>= 1 px at
    32) > recoloured (grey levels: slope off by > 10% or offset > 12) > none."""
    name = np.full(len(scores), "none", dtype=object)
    name[(np.abs(scores[:, 10] - 1) > 0.1) | (np.abs(scores[:, 11]) > 12)] = "recoloured"
    name[np.hypot(scores[:, 7], scores[:, 8]) >= 1.0] = "shifted"
    zoom = np.abs(np.log(np.clip(scores[:, 4:6], 1e-3, None)))
    name[(zoom.max(axis=1) >= 0.06)
         | (np.abs(scores[:, 6]) >= 0.05)] = "rescaled"
    name[scores[:, 3] > 0] = "mirrored"
    return name


def _sparse_candidates(codes, radius, workers, dense_above=DENSE_ABOVE, top_k=TOP_K):
    """Candidate pairs (i, j, distance) with a density cap. ``codes``: N x V variant codes
    (column 0: the image). An image's degree is how many plain codes lie within ``radius`` of
    its own. Sparse images (degree <= dense_above) search with all V codes and keep their
    ``top_k`` nearest matches; dense ones search with the plain code only."""
    n, v = codes.shape
    a, b, d0 = hamming_pairs(codes[:, 0], radius, workers=workers)
    deg = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    sparse = deg <= dense_above
    dd = ~sparse[a] & ~sparse[b]
    pi, pj, pd = a[dd], b[dd], d0[dd].astype(np.int64)
    sp, de = np.flatnonzero(sparse), np.flatnonzero(~sparse)
    allc = np.concatenate([codes[sp].T.ravel(), codes[de, 0]])
    owner = np.concatenate([np.tile(sp, v), de])
    a, b, d = hamming_pairs(allc, radius, workers=workers)
    a, b = owner[a], owner[b]
    k = a != b
    a, b, d = a[k], b[k], d[k]
    # best distance per image pair, then the top_k per sparse endpoint
    key = np.minimum(a, b) * n + np.maximum(a, b)
    o = np.lexsort((d, key))
    key, d = key[o], d[o]
    first = np.ones(len(key), bool)
    first[1:] = key[1:] != key[:-1]
    key, d = key[first], d[first]
    i, j = key // n, key % n
    keep = np.zeros(len(key), bool)
    for x in (i, j):
        s = sparse[x]
        idx = np.flatnonzero(s)
        o = idx[np.lexsort((d[idx], x[idx]))]
        xs = x[o]
        start = np.ones(len(o), bool)
        start[1:] = xs[1:] != xs[:-1]
        grp = np.cumsum(start) - 1
        rank = np.arange(len(o)) - np.flatnonzero(start)[grp]
        keep[o[rank < top_k]] = True
    dist = np.concatenate([d[keep].astype(np.int64), pd])
    return np.concatenate([i[keep], pi]), np.concatenate([j[keep], pj]), dist


