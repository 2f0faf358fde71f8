"""Variant hashes: what a photo's hash becomes when it is mirrored, rotated, cropped, captioned
or framed, so that such copies are found by a Hamming search.

At decode time every image gets ``len(VARIANT_NAMES)`` 64-bit phash-style hashes, all projected
from ONE 64x64 grayscale copy of the decoded (JPEG: draft) image with fixed matrices: ``8x64 @
64x64 @ 64x8`` per window, i.e. the 8x8 low-frequency DCT block of the window area-resampled to
32x32, thresholded at its median (imagehash.phash's convention; bit 63 = coefficient 0,0).
Index 0 is the image's own ("full") hash. The others:

- 7 dihedral variants (mirror, rotations, transposes) from the full 8x8 DCT block, without a
  second DCT: mirroring x multiplies column frequency u by (-1)**u, mirroring y the row
  frequency v by (-1)**v, a transpose transposes the block;
- crop windows keeping 75%, 80% and 85% of each side, at positions at most 0.05 apart: a copy
  cropped to such a window has a full hash near the window's hash;
- caption windows (the top and bottom 88%): the copy with a caption bar, seen from its side;
- the image with near-uniform borders trimmed (border, letterbox, pillarbox).

The search (:func:`matching.neighbors.hamming_cross`) looks for every image's full hash among
the OTHER images' variant hashes: a mirrored/rotated/cropped copy B of A has ``full(B) ~
variant(A)``; a copy with a border or caption has ``variant(B) ~ full(A)``. Measured on BSDS500
with 100 planted copies per transform (benchmarks/leakage_photos.py): at radius 8, 95-100% of
each transform become candidates, at 0.005 random candidate pairs per image. ~0.1 ms CPU an image.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image

from ..jit import kernel

#: Side of the grayscale working copy every variant hash is projected from.
WORK = 64
#: Each window is resampled to HASH_SIDE x HASH_SIDE before the DCT (imagehash.phash: 32).
HASH_SIDE = 32
#: Crop windows: share of each side kept, at a GRID x GRID lattice of positions.
CROP_SCALES = (0.75, 0.80, 0.85)
#: ... at positions spaced at most CROP_STEP apart (fractions of the side), both axes.
CROP_STEP = 0.05
#: Caption windows: share of the height kept (a caption bar of ~12% dropped at top or bottom).
CAPTION_KEEP = 0.88
#: Trim: an edge row/column is "border" when this share of its pixels lie within BORDER_TOL
#: grey levels of the edge's median; trims below MIN_TRIM of a side are ignored.
BORDER_SHARE = 0.95
BORDER_TOL = 12.0
MIN_TRIM = 0.03
MAX_TRIM = 0.45

#: The dihedral variants, in the order :func:`_dihedral` makes them, named by the transform
#: that turns the image into the copy whose full hash matches the variant.
_DIHEDRAL = ("none", "mirrored", "flipped", "rotated 180",
             "transposed", "rotated 270", "rotated 90", "anti-transposed")


def _windows() -> list[tuple[str, tuple[float, float, float, float]]]:
    """Fixed windows (name, (y0, y1, x0, x1) as fractions of the image)."""
    out = []
    for s in CROP_SCALES:
        steps = max(1, math.ceil((1 - s) / CROP_STEP - 1e-9))
        offs = [round((1 - s) * k / steps, 4) for k in range(steps + 1)]
        for oy in offs:
            for ox in offs:
                out.append((f"crop {s:.2f} @({oy:.3f},{ox:.3f})", (oy, oy + s, ox, ox + s)))
    out.append(("caption bottom", (0.0, CAPTION_KEEP, 0.0, 1.0)))
    out.append(("caption top", (1 - CAPTION_KEEP, 1.0, 0.0, 1.0)))
    return out


WINDOWS = _windows()
#: Names of the hashes variant_hashes returns, in order (index 0 is the full hash).
VARIANT_NAMES = list(_DIHEDRAL) + [w[0] for w in WINDOWS] + ["trimmed"]


def _area_matrix(lo: float, hi: float, n_in: int = WORK, n_out: int = HASH_SIDE) -> np.ndarray:
    """(n_out x n_in) matrix: output sample i = mean of the input over
    [lo + i*w, lo + (i+1)*w) (fractions of the side, w = (hi-lo)/n_out), fractional pixels
    weighted by their overlap (area resampling of a window)."""
    edges = (lo + (hi - lo) * np.arange(n_out + 1) / n_out) * n_in
    a, b = edges[:-1, None], edges[1:, None]
    px = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(b, px + 1) - np.maximum(a, px), 0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


_C8 = np.cos(np.pi * (2 * np.arange(HASH_SIDE)[None, :] + 1) * np.arange(8)[:, None]
             / (2 * HASH_SIDE))  # DCT-II rows 0..7 (unnormalised: scaling is irrelevant)


@lru_cache(maxsize=4096)
def _proj(lo: float, hi: float) -> np.ndarray:
    """8 x WORK: the 8 lowest DCT frequencies of the window [lo, hi) resampled to 32."""
    return (_C8 @ _area_matrix(lo, hi)).astype(np.float32)


def _fixed_proj() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    ys = sorted({(w[1][0], w[1][1]) for w in WINDOWS} | {(0.0, 1.0)})
    xs = sorted({(w[1][2], w[1][3]) for w in WINDOWS} | {(0.0, 1.0)})
    py = np.stack([_proj(*y) for y in ys])  # Ny x 8 x 64
    px = np.stack([_proj(*x) for x in xs])  # Nx x 8 x 64
    wy = np.array([ys.index((w[1][0], w[1][1])) for w in WINDOWS])
    wx = np.array([xs.index((w[1][2], w[1][3])) for w in WINDOWS])
    return py, px, wy, wx, ys.index((0.0, 1.0)), xs.index((0.0, 1.0))


_PY, _PX, _WY, _WX, _FY, _FX = _fixed_proj()
_PXT_WINDOWS = np.ascontiguousarray(np.transpose(_PX, (0, 2, 1))[_WX])  # W x 64 x 8
_SIGN = (-1.0) ** np.arange(8)


def _dihedral_tables() -> tuple[np.ndarray, np.ndarray]:
    """Coefficient order and signs (8 x 64) that turn a flat 8x8 DCT block into its 8
    dihedral images (rows: y frequency v, columns: x frequency u): mirroring x multiplies
    column u by (-1)**u, mirroring y row v by (-1)**v, a transpose transposes the block."""
    idx = np.arange(64).reshape(8, 8)
    sign_x, sign_y = np.meshgrid(_SIGN, _SIGN)
    order, signs = [], []
    for k in range(len(_DIHEDRAL)):
        sign = np.ones((8, 8)) * (sign_x if k % 4 in (1, 3) else 1) * (sign_y if k % 4 >= 2 else 1)
        order.append((idx.T if k >= 4 else idx).ravel())
        signs.append(sign.ravel())
    return np.array(order), np.array(signs, dtype=np.float32)


_DIHEDRAL_ORDER, _DIHEDRAL_SIGN = _dihedral_tables()


def _dihedral(d: np.ndarray) -> np.ndarray:
    """The 8 dihedral images of an 8x8 DCT block, 8 x 8 x 8."""
    return (d.ravel()[_DIHEDRAL_ORDER] * _DIHEDRAL_SIGN).reshape(len(_DIHEDRAL), 8, 8)


def _pack(blocks: np.ndarray) -> np.ndarray:
    """K x 8 x 8 coefficient blocks -> K uint64 hashes (bit set where > the block's median;
    bit 63 = coefficient (0, 0), row-major, as datacheck's hash_to_int packs imagehash)."""
    flat = blocks.reshape(len(blocks), 64)
    part = np.partition(flat, (31, 32), axis=1)
    med = (part[:, 31:32] + part[:, 32:33]) * 0.5
    return np.packbits(flat > med, axis=1).view(">u8").ravel().astype(np.uint64)


def trim_box(gray: np.ndarray) -> tuple[float, float, float, float]:
    """(y0, y1, x0, x1) fractions of the image left after removing near-uniform edges
    (border, letterbox, pillarbox); (0, 1, 0, 1) when nothing is trimmed."""
    box = _trim_boxes(np.ascontiguousarray(gray, dtype=np.uint8)[None])[0]
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))


def trim_boxes(gray: np.ndarray) -> np.ndarray:
    """N x 4: :func:`trim_box` of each image of an N x H x W uint8 stack, in one call."""
    return _trim_boxes(np.ascontiguousarray(gray, dtype=np.uint8))


@kernel(nogil=True)
def _trim_boxes(stack):
    out = np.empty((stack.shape[0], 4))
    for n in range(stack.shape[0]):
        top, bottom, left, right = _edge_cuts(stack[n])
        if 1 - top - bottom < 0.2 or 1 - left - right < 0.2:  # flat: nothing to trim to
            out[n] = (0.0, 1.0, 0.0, 1.0)
        else:
            out[n] = (top, 1 - bottom, left, 1 - right)
    return out


@kernel(nogil=True)
def _edge_cuts(g):
    """(top, bottom, left, right) shares to cut, in one call (four calls cost ~10 us more)."""
    h, w = g.shape
    return (_edge_cut(g, h), _edge_cut(g[::-1], h), _edge_cut(g.T, w),
            _edge_cut(g.T[::-1], w))


@kernel(nogil=True)
def _edge_cut(arr, n):
    """Share of the image to cut at the edge ``arr[0]`` (rows from there inwards): the rows
    that are border (BORDER_SHARE of their pixels within BORDER_TOL of the edge's median)."""
    edge = arr[0].astype(np.int16)
    ref = np.sort(edge)[len(edge) // 2]
    if np.mean(np.abs(edge - ref) <= BORDER_TOL) < BORDER_SHARE:
        return 0.0  # the usual case: a photo edge, checked in a microsecond
    lim = max(1, int(n * MAX_TRIM))
    k = lim
    for r in range(lim):
        if np.mean(np.abs(arr[r].astype(np.int16) - ref) <= BORDER_TOL) < BORDER_SHARE:
            k = r
            break
    # the first non-border row is usually a blend of border and photo (resampling, JPEG):
    # count half of it as border
    return (k + 0.5) / n if k / n >= MIN_TRIM else 0.0


def _valid_box(img: Image.Image, full_size) -> tuple[float, float, float, float] | None:
    """Region of a JPEG draft decode holding real pixels: a 481-px side decoded at 1/8 gives 61
    pixels of which the last one holds 1/8 of a block (edge padding). None: all of it."""
    if not full_size or tuple(full_size) == img.size:
        return None
    out = []
    for full, small in zip(full_size, img.size):
        scale = 2 ** round(math.log2(max(full / small, 1)))
        out.append(min(small, full / scale))
    return (0.0, 0.0, out[0], out[1])


def variant_hashes(image, full_size: tuple[int, int] | None = None) -> np.ndarray:
    """All hashes of one image (a PIL image, e.g. the draft decode, or a 2-D grey array):
    uint64 array of ``len(VARIANT_NAMES)``; index 0 is the full hash. The trimmed hash equals
    the full one when there is no border to trim. ``full_size`` (width, height of the file)
    lets a JPEG draft decode's partial last block row/column be left out."""
    if isinstance(image, Image.Image):
        img = image if image.mode == "L" else image.convert("L")
    else:
        img = Image.fromarray(np.asarray(image, dtype=np.uint8))
    valid = _valid_box(img, full_size)
    arr = np.asarray(img)
    if valid is not None:
        arr = arr[:max(1, int(valid[3])), :max(1, int(valid[2]))]
    box = trim_box(arr)
    g = np.asarray(img.resize((WORK, WORK), Image.BILINEAR, box=valid), dtype=np.float32)
    rows = _PY @ g                                    # Ny x 8 x 64: row-projected once
    full = rows[_FY] @ _PX[_FX].T                     # 8 x 8
    wins = np.matmul(rows[_WY], _PXT_WINDOWS)         # W x 8 x 8
    if box != (0.0, 1.0, 0.0, 1.0):
        trimmed = (_proj(round(box[0], 3), round(box[1], 3)) @ g
                   @ _proj(round(box[2], 3), round(box[3], 3)).T)
    else:
        trimmed = full
    return _pack(np.concatenate([_dihedral(full), wins, trimmed[None]]))




def search_table(variants: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, flat index) of every variant hash worth searching, from an
    N x len(VARIANT_NAMES) array: the full hash (index 0) is left out, and so is a trimmed hash
    equal to the full one (nothing was trimmed). A hash's owner row is ``index // V`` and its
    variant ``index % V`` (V = len(VARIANT_NAMES)), worked out for the few that match."""
    keep = np.ones(variants.shape, dtype=bool)
    keep[:, 0] = False
    keep[:, TRIMMED] = variants[:, TRIMMED] != variants[:, 0]
    index = np.flatnonzero(keep)
    return variants.ravel()[index], index


#: Variant index of the hash with plain borders trimmed (equal to the full hash when none).
TRIMMED = len(VARIANT_NAMES) - 1
#: Variant indices of the two caption windows (a bar painted over both images hides the same
#: strip, so the two windows match each other).
CAPTION = (VARIANT_NAMES.index("caption bottom"), VARIANT_NAMES.index("caption top"))


def mirrors(kind: np.ndarray) -> np.ndarray:
    """Whether variant ``kind`` turns the image over (mirrored, flipped, transposed,
    anti-transposed): a copy it found is a mirror image, rotated or not. Crop, caption and
    trimmed windows (and -1, no variant) do not."""
    kind = np.asarray(kind)
    turned = (kind >= 4).astype(int) + np.isin(kind % 4, (1, 3)) + np.isin(kind % 4, (2, 3))
    return (kind >= 0) & (kind < len(_DIHEDRAL)) & (turned % 2 == 1)


def _dihedral_image(g: np.ndarray, k: int) -> np.ndarray:
    """The image whose DCT block is ``_dihedral(dct(g))[k]``."""
    t = g.T if k >= 4 else g
    if k % 4 in (1, 3):
        t = t[:, ::-1]
    if k % 4 in (2, 3):
        t = t[::-1, :]
    return t


def window(g: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The (y0, y1, x0, x1) fraction window of a grey image, resampled to its own size."""
    side = g.shape[0]
    y0, y1, x0, x1 = box
    img = Image.fromarray(np.ascontiguousarray(g, np.float32), "F")
    return np.asarray(img.resize((side, side), Image.BILINEAR,
                                 box=(x0 * side, y0 * side, x1 * side, y1 * side)))


def variant_view(g: np.ndarray, k: int) -> np.ndarray:
    """Grey thumbnail ``g`` seen as variant ``k`` sees it: mirrored / rotated, or a window."""
    if k < len(_DIHEDRAL):
        return _dihedral_image(g, k)
    if k == TRIMMED:
        return window(g, trim_box(np.clip(g, 0, 255).astype(np.uint8)))
    return window(g, WINDOWS[k - len(_DIHEDRAL)][1])
