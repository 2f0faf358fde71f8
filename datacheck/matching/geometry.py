"""Geometric verification of photo copies: is B a mirrored / rotated / cropped / overlaid /
rescaled copy of A? For candidate pairs that the thumbnails cannot settle.

Both files are re-decoded to <= 320 px (grey, JPEG draft), near-uniform borders trimmed; ORB
features (OpenCV) on A, and on B or on B mirrored (both when the caller does not know which);
ratio-test matches; a RANSAC similarity fit (rotation + uniform scale + translation) with >= 12
inliers; then a DENSE check at 128 px: A warped onto B and B onto A, a 6x6 grid of cells, a
cell agrees at correlation >= 0.5. A pair is a copy when >= 60% of the overlapping cells agree
in both directions and the overlap covers >= 30% of each image. The dense check is what
rejects different photos that share a tile (mosaics: up to 152 RANSAC inliers, but <= 35% of
cells agree). Measured on BSDS500 planted copies and mosaics: benchmarks/leakage_photos.py,
benchmarks/ARCHIVE.md. ~9 ms CPU a pair with one orientation of B, ~14 ms with both.
"""

from __future__ import annotations

import io
import math

import cv2
import numpy as np
from PIL import Image

from ..features.variants import trim_box

#: Long side of the verification decode, in pixels.
VERIFY_SIDE = 320
#: ORB and matching.
ORB_FEATURES = 700
RATIO = 0.8
RANSAC_PX = 4.0
#: Acceptance: RANSAC inliers, share of overlapping grid cells that agree, overlap share of
#: each (trimmed) image covered by the other.
MIN_INLIERS = 12
MIN_AGREE = 0.6
MIN_COVER = 0.3
#: Dense check: grid of CELLS x CELLS over each image at DENSE_SIDE px, a cell agrees when
#: the correlation of the aligned pixels reaches CELL_CORR (or both are flat).
DENSE_SIDE = 128
CELLS = 6
CELL_CORR = 0.5

_orb = None


def _orb_detector():
    global _orb
    if _orb is None:
        _orb = cv2.ORB_create(nfeatures=ORB_FEATURES, scaleFactor=1.25, nlevels=6,
                              edgeThreshold=15, patchSize=21, fastThreshold=10)
    return _orb


def load_gray(data: bytes, side: int = VERIFY_SIDE) -> tuple[np.ndarray, tuple[int, int]]:
    """Grayscale uint8 copy with the long side <= ``side`` (JPEG draft decoding), and the
    file's full (width, height)."""
    img = Image.open(io.BytesIO(data))
    full = img.size
    if img.format == "JPEG":
        img.draft("L", (max(1, full[0] * side // max(full)), max(1, full[1] * side // max(full))))
    img = img.convert("L")
    if max(img.size) > side:
        k = side / max(img.size)
        img = img.resize((max(1, round(img.width * k)), max(1, round(img.height * k))),
                         Image.BILINEAR)
    return np.asarray(img), full


def _trimmed(g: np.ndarray) -> tuple[np.ndarray, float]:
    y0, y1, x0, x1 = trim_box(g)
    h, w = g.shape
    a, b, c, d = int(round(y0 * h)), int(round(y1 * h)), int(round(x0 * w)), int(round(x1 * w))
    # the edge rows/cols next to a border carry JPEG ringing: drop one more pixel there
    a, c = a + (a > 0), c + (c > 0)
    b, d = b - (b < h), d - (d < w)
    return g[a:b, c:d], 1 - (b - a) * (d - c) / (h * w)


def _cells(ref: np.ndarray, mov: np.ndarray, mask: np.ndarray) -> tuple[float, float, int]:
    """(share of valid cells that agree, share of ref covered by mask, valid cells)."""
    h, w = ref.shape
    agree = valid = 0
    for cy in range(CELLS):
        for cx in range(CELLS):
            sl = (slice(cy * h // CELLS, (cy + 1) * h // CELLS),
                  slice(cx * w // CELLS, (cx + 1) * w // CELLS))
            m = mask[sl] > 0.5
            if m.mean() < 0.6:
                continue
            valid += 1
            a, b = ref[sl][m], mov[sl][m]
            sa, sb = a.std(), b.std()
            if sa < 4 and sb < 4:
                agree += abs(a.mean() - b.mean()) < 20
                continue
            if sa < 1e-3 or sb < 1e-3:
                continue
            agree += float(np.corrcoef(a, b)[0, 1]) >= CELL_CORR
    return (agree / valid if valid else 0.0), float((mask > 0.5).mean()), valid


def _dense(ga, gb, m):
    """Dense agreement of A and B under the similarity ``m`` (A -> B pixel coordinates):
    (agree share in B's frame, agree share in A's frame, B covered, A covered)."""
    def small(g):
        k = DENSE_SIDE / max(g.shape)
        return cv2.resize(g, (max(8, round(g.shape[1] * k)), max(8, round(g.shape[0] * k))),
                          interpolation=cv2.INTER_AREA).astype(np.float32), k
    sa, ka = small(ga)
    sb, kb = small(gb)
    # A-small -> B-small: scale into A pixels, apply m, scale to B-small
    s_ab = np.diag([kb, kb, 1.0]) @ np.vstack([m, [0, 0, 1]]) @ np.diag([1 / ka, 1 / ka, 1.0])
    if abs(np.linalg.det(s_ab[:2, :2])) < 1e-6:
        return 0.0, 0.0, 0.0, 0.0
    s_ba = np.linalg.inv(s_ab)
    sa, sb = cv2.GaussianBlur(sa, (3, 3), 0.8), cv2.GaussianBlur(sb, (3, 3), 0.8)
    a_on_b = cv2.warpAffine(sa, s_ab[:2], (sb.shape[1], sb.shape[0]), flags=cv2.INTER_LINEAR)
    mask_b = cv2.warpAffine(np.ones_like(sa), s_ab[:2], (sb.shape[1], sb.shape[0]))
    b_on_a = cv2.warpAffine(sb, s_ba[:2], (sa.shape[1], sa.shape[0]), flags=cv2.INTER_LINEAR)
    mask_a = cv2.warpAffine(np.ones_like(sb), s_ba[:2], (sa.shape[1], sa.shape[0]))
    agree_b, cover_b, _ = _cells(sb, a_on_b, mask_b)
    agree_a, cover_a, _ = _cells(sa, b_on_a, mask_a)
    return agree_b, agree_a, cover_b, cover_a


def _match(kpa, da, kpb, db):
    if da is None or db is None or len(kpa) < 4 or len(kpb) < 4:
        return None, 0
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    good = [p[0] for p in matcher.knnMatch(da, db, k=2)
            if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < 6:
        return None, 0
    pa = np.float32([kpa[g.queryIdx].pt for g in good])
    pb = np.float32([kpb[g.trainIdx].pt for g in good])
    cv2.setRNGSeed(0)  # RANSAC samples from the calling thread's RNG: same pair, same answer
    m, inl = cv2.estimateAffinePartial2D(pa, pb, method=cv2.RANSAC,
                                         ransacReprojThreshold=RANSAC_PX, maxIters=2000,
                                         confidence=0.995)
    if m is None:
        return None, 0
    return m, int(inl.sum())


def _uniform_share(g: np.ndarray, mask: np.ndarray) -> float:
    """Share of the pixels outside ``mask`` close to their dominant grey level (a bar/border
    is mostly one colour, cropped-away photo content rarely is)."""
    out = g[mask < 0.5]
    if out.size < 20:
        return 0.0
    hist = np.bincount((out // 16).astype(np.int64), minlength=16)
    return hist.max() / out.size


def verify_pair(bytes_a: bytes, bytes_b: bytes, detail: bool = False,
                mirrored: bool | None = None):
    """Is B a (possibly mirrored/rotated/cropped/overlaid/rescaled) copy of photo A?

    Returns ``(accepted, transform, score)``: ``transform`` (what turns A into B, or for
    crops/overlays either way round) is one of none, mirrored, rotated 90 (B is A turned 90
    degrees counter-clockwise, PIL ``Image.ROTATE_90``), rotated 180, rotated 270, cropped,
    overlay, rescaled; ``score`` in [0, 1] is the dense agreement share (0 when rejected before
    it). With ``detail`` a dict of the measurements is appended. ``mirrored`` (when the
    candidate search already knows whether B is a mirror image of A) matches B only that way
    round; None tries both.
    """
    ga0, size_a = load_gray(bytes_a)
    gb0, size_b = load_gray(bytes_b)
    ga, trim_a = _trimmed(ga0)
    gb, trim_b = _trimmed(gb0)
    orb = _orb_detector()
    kpa, da = orb.detectAndCompute(ga, None)
    best = (None, 0, False, gb)
    for flip in (False, True) if mirrored is None else (mirrored,):
        g = cv2.flip(gb, 1) if flip else gb
        kpb, db = orb.detectAndCompute(g, None)
        m, inl = _match(kpa, da, kpb, db)
        if m is not None and inl > best[1]:
            best = (m, inl, flip, g)
    m, inliers, mirrored, gbm = best
    info = {"inliers": inliers, "mirrored": mirrored, "trim_a": trim_a, "trim_b": trim_b}
    if m is None or inliers < MIN_INLIERS:
        return (False, "none", 0.0, info) if detail else (False, "none", 0.0)
    agree_b, agree_a, cover_b, cover_a = _dense(ga, gbm, m)
    scale = math.hypot(m[0, 0], m[1, 0])
    angle = math.degrees(math.atan2(m[1, 0], m[0, 0])) % 360
    agree = min(agree_a, agree_b)
    info.update(agree_a=agree_a, agree_b=agree_b, cover_a=cover_a, cover_b=cover_b,
                scale=scale, angle=angle)
    ok = agree >= MIN_AGREE and min(cover_a, cover_b) >= MIN_COVER
    if not ok:
        return (False, "none", agree, info) if detail else (False, "none", agree)
    # name the transform: geometry first, then what is missing/added, then size
    quarter = round(angle / 90) % 4
    off = abs(((angle - 90 * quarter) + 180) % 360 - 180)
    # pixel scale between the files at full resolution (B pixels per A pixel)
    full_scale = scale * (max(gb0.shape) / max(size_b)) ** -1 * (max(ga0.shape) / max(size_a))
    if mirrored:
        name = "mirrored"
    elif quarter and off < 12:
        # atan2 in image coordinates (y down): +90 = clockwise on screen
        name = {1: "rotated 270", 2: "rotated 180", 3: "rotated 90"}[quarter]
    elif max(trim_a, trim_b) > 0.03:
        name = "overlay"
    elif min(cover_a, cover_b) < 0.88:
        # something of one image is missing in the other: cropped-away photo, or a bar
        if cover_a < cover_b:
            uni = _uniform_share(cv2.resize(ga, (DENSE_SIDE, DENSE_SIDE)),
                                 _mask_small(ga, gbm, m, other_into=True))
        else:
            uni = _uniform_share(cv2.resize(gbm, (DENSE_SIDE, DENSE_SIDE)),
                                 _mask_small(ga, gbm, m, other_into=False))
        info["uniform_outside"] = uni
        name = "overlay" if uni >= 0.55 else "cropped"
    elif agree < 0.9:
        name = "overlay"
    elif abs(math.log(max(full_scale, 1e-6))) > math.log(1.05):
        name = "rescaled"
    else:
        name = "none"
    info["full_scale"] = full_scale
    return (True, name, agree, info) if detail else (True, name, agree)


def _mask_small(ga, gb, m, other_into: bool) -> np.ndarray:
    """Mask (DENSE_SIDE x DENSE_SIDE) of the part of A (other_into=True) or of B covered by
    the other image under ``m``."""
    ha, wa = ga.shape
    hb, wb = gb.shape
    full = np.vstack([m, [0, 0, 1]])
    if other_into:  # B's frame mapped into A, then A resized to DENSE_SIDE square
        t = np.diag([DENSE_SIDE / wa, DENSE_SIDE / ha, 1.0]) @ np.linalg.inv(full)
        return cv2.warpAffine(np.ones((hb, wb), np.float32), t[:2], (DENSE_SIDE, DENSE_SIDE))
    t = np.diag([DENSE_SIDE / wb, DENSE_SIDE / hb, 1.0]) @ full
    return cv2.warpAffine(np.ones((ha, wa), np.float32), t[:2], (DENSE_SIDE, DENSE_SIDE))
