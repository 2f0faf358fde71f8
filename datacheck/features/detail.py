"""How much detail an image holds at its own resolution: blur and upscaling.

The scan's 32x32 thumbnail cannot show blur on a large photo (a blur of 10 px on a 1,000-px
photo is 0.3 px there), so these measures are taken at a *working scale* tied to the image's
size (:func:`working_reduction`: the full image below 2,400 px a side, half of it up to 4,800 px,
a quarter up to 9,600 px, an eighth above), decoded for JPEGs with draft mode:

- ``fine_edge``: edge steepness at the working scale: the steepest 1% of luminance gradients
  over the 1st-99th percentile range, as the thumbnail's ``edge``
  (:func:`datacheck.features.image_props.edge_steepness`) but counted in histograms (~2 ms a
  megapixel). A sharp photo's edges rise by ~0.2-0.7 of its contrast per working pixel, a
  blurred one's by less than 0.1.
- ``detail_ratio``: how much steeper the edges get when the working image is reduced 4x. A
  photo with detail down to its pixels gets little steeper (~1-1.9x); an image blown up from a
  smaller one, or blurred, gets 2-4x steeper: its real detail ends well above its pixel size.

A second JPEG decode at the working scale costs about as much as the first (entropy decoding
dominates), so it is spent only where the file's own bits hint at missing detail
(:func:`may_lack_detail`): a JPEG spends few bits on an image without fine detail. Images the
hint clears keep NaN (sharp). PNG and other formats are decoded in full anyway and always
measured. Calibrated on BSDS500 photos and CIFAR-10 in ``benchmarks/quality.py``.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from ..jit import kernel

#: Side below which an image is measured at full size, and the sides from which a quarter and
#: an eighth are used instead of a half.
FULL_BELOW, QUARTER_FROM, EIGHTH_FROM = 2400, 4800, 9600
#: Smallest longer side measured (the 4x reduction of ``detail_ratio`` keeps 64 px); smaller
#: images are judged on the scan's thumbnail, which shows all their detail.
MIN_SIDE = 256
#: Expected JPEG bits per pixel of a photo: ``ln bpp = BPP_AT_Q90 + BPP_PER_LOG_SCALE *
#: ln(scale / 20) + BPP_PER_LOG_DETAIL * ln(detail)``, where ``scale`` is libjpeg's quality
#: scaling (20 at quality 90) and ``detail`` the mean absolute luminance step of the 1/8-scale
#: draft. Fitted on BSDS500 photos at qualities 75, 90 and 95.
BPP_AT_Q90, BPP_PER_LOG_SCALE, BPP_PER_LOG_DETAIL = 2.18, -0.455, 0.62
#: A JPEG whose bits fall this far (natural log) below the expectation is measured.
HINT_MARGIN = -0.2


def working_reduction(width: int, height: int) -> int:
    """1, 2, 4 or 8: how much the image is reduced before its detail is measured."""
    side = max(width, height)
    return 1 if side < FULL_BELOW else 2 if side < QUARTER_FROM else 4 if side < EIGHTH_FROM else 8


def may_lack_detail(nbytes: int, width: int, height: int, quality: float,
                    draft_gray: np.ndarray) -> bool:
    """Whether a JPEG's size hints at missing fine detail: fewer bits per pixel than a photo
    with the same coarse detail (``draft_gray``, its 1/8-scale luminance, uint8) at the same
    quality. Flat images are left to the blank check."""
    detail = _mean_steps(np.ascontiguousarray(draft_gray, np.uint8))
    if detail <= 0 or nbytes <= 0 or not quality == quality:
        return False
    scale = 5000 / quality if quality < 50 else max(200 - 2 * quality, 1)
    expected = (BPP_AT_Q90 + BPP_PER_LOG_SCALE * math.log(scale / 20)
                + BPP_PER_LOG_DETAIL * math.log(detail))
    return math.log(nbytes * 8 / (width * height)) - expected < HINT_MARGIN


@kernel(nogil=True)
def _mean_steps(lum):
    """Mean absolute step between horizontal neighbours plus that between vertical ones, in
    0..2 (1 = full range): a uint8 image's coarse detail, ~50x cheaper than numpy's diffs."""
    h, w = lum.shape
    across = down = 0
    for y in range(h):
        for x in range(w):
            v = np.int32(lum[y, x])
            if x + 1 < w:
                across += abs(np.int32(lum[y, x + 1]) - v)
            if y + 1 < h:
                down += abs(np.int32(lum[y + 1, x]) - v)
    if h < 2 or w < 2:
        return 0.0
    return (across / (h * (w - 1)) + down / ((h - 1) * w)) / 255


def measure(gray: Image.Image) -> dict[str, float]:
    """``fine_edge`` and ``detail_ratio`` of a luminance ("L") image at the working scale."""
    fine = _steepness(np.asarray(gray, np.uint8))
    ratio = float("nan")
    if min(gray.size) >= 32 and fine > 0:
        ratio = _steepness(np.asarray(gray.reduce(4), np.uint8)) / fine
    return {"fine_edge": fine, "detail_ratio": ratio}


@kernel(nogil=True)
def _steepness(lum):
    """99th percentile of the gradient magnitude over the 1st-99th percentile range of a uint8
    image (ranks as ``image_props._edge``, exact: squared gradients are integers and counted in
    a histogram); 0 when flat."""
    h, w = lum.shape
    levels = np.zeros(256, np.int32)
    squares = np.zeros(2 * 255 * 255 + 1, np.int32)
    for y in range(h - 1):
        for x in range(w - 1):
            v = np.int32(lum[y, x])
            levels[v] += 1
            dx, dy = np.int32(lum[y, x + 1]) - v, np.int32(lum[y + 1, x]) - v
            squares[dx * dx + dy * dy] += 1
        levels[lum[y, w - 1]] += 1
    for x in range(w):
        levels[lum[h - 1, x]] += 1
    low, high = _rank(levels, 0.01, h * w), _rank(levels, 0.99, h * w)
    if high - low < 1:
        return 0.0
    return math.sqrt(_rank(squares, 0.99, (h - 1) * (w - 1))) / (high - low)


@kernel(nogil=True)
def _rank(hist, q, n):
    """The bin holding the value of rank round(q * (n - 1)) in ascending order."""
    k = int(round(q * (n - 1)))
    seen = 0
    for b in range(len(hist)):
        seen += hist[b]
        if seen > k:
            return b
    return len(hist) - 1


def measure_loaded(gray: Image.Image, width: int, height: int) -> dict[str, float]:
    """Measure the luminance of an image decoded at full size (not a JPEG draft)."""
    r = working_reduction(width, height)
    return measure(gray.reduce(r) if r > 1 else gray)


def measure_jpeg(data: bytes, width: int, height: int) -> dict[str, float]:
    """Decode a JPEG again at its working scale and measure it."""
    r = working_reduction(width, height)
    with Image.open(io.BytesIO(data)) as img:
        img.draft("L", (width // r, height // r))
        gray = img.convert("L")
    return measure(gray)
