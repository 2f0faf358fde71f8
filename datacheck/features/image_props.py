"""Per-image properties for the checklist checks, as pure functions (no I/O; file_properties
never raises, the thumbnail measures expect the scan's uint8 H x W x 3 thumbnails).

- :func:`file_properties` reads what the file itself says: the JPEG quality its quantization
  tables were made with, its chroma subsampling and progressive mode, the EXIF camera and
  software, how many bytes are metadata rather than pixels, and how uniform the image's outer
  ring is (a frame, a letterbox).
- :func:`thumb_properties` measures the 32x32 RGB thumbnail the scan keeps: edge steepness
  (blur) and the ring's uniformity.
- :func:`tone` measures the same thumbnail's brightness, contrast, colour and saturation.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..jit import kernel

#: libjpeg's standard luminance quantization table (ITU-T T.81 Annex K), row-major.
STD_LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
#: EXIF tags: Make, Model, Software.
_MAKE, _MODEL, _SOFTWARE = 0x010F, 0x0110, 0x0131
#: PIL's JpegImagePlugin.get_sampling codes.
_SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _scaled_tables() -> np.ndarray:
    """The standard table as libjpeg scales it for quality 1..100 (row q-1), baseline-clamped."""
    q = np.arange(1, 101, dtype=np.float64)
    scale = np.where(q < 50, 5000 / q, 200 - 2 * q)
    return np.clip(np.floor((STD_LUMINANCE[None, :] * scale[:, None] + 50) / 100), 1, 255)


_TABLES = _scaled_tables()


def jpeg_quality(tables) -> float:
    """libjpeg quality (1-100) whose scaled standard luminance table is closest to table 0 of
    ``tables`` (PIL's ``img.quantization``); NaN when there is none. Tables that are not
    scaled standard ones (some cameras) get the closest quality."""
    try:
        table = tuple(int(v) for v in tables[0])
    except (KeyError, IndexError, TypeError, ValueError):
        return float("nan")
    return _closest_quality(table) if len(table) == 64 else float("nan")


@lru_cache(maxsize=1024)
def _closest_quality(table: tuple[int, ...]) -> float:
    """A dataset holds few distinct tables: each is matched once."""
    errors = np.abs(_TABLES - np.asarray(table, dtype=np.float64)[None, :]).sum(axis=1)
    return float(np.argmin(errors) + 1)


def _exif_text(exif, tag: int) -> str:
    value = exif.get(tag) if exif is not None else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(str(value).replace("\x00", " ").split())[:80] if value else ""


def ring(lum: np.ndarray, width: int = 1) -> np.ndarray:
    """The outermost ``width`` pixels of a 2-D (H x W) or batched (N x H x W) luminance array,
    flattened per image."""
    top, bottom = lum[..., :width, :], lum[..., -width:, :]
    left, right = lum[..., width:-width, :width], lum[..., width:-width, -width:]
    parts = [p.reshape(*lum.shape[:-2], -1) for p in (top, bottom, left, right)]
    return np.concatenate(parts, axis=-1)


def metadata_bytes(data: bytes) -> float:
    """Bytes of a JPEG's or PNG's metadata (NaN for other formats): JPEG APPn and COM segments
    before the first scan (EXIF, XMP, ICC, comments; not the fixed JFIF header) less an EXIF
    thumbnail's JPEG (its size follows its content); PNG ancillary chunks (text, ICC, EXIF,
    gamma, ...). A plain JPEG or PNG has 0."""
    if data[:2] == b"\xff\xd8":
        return float(_jpeg_metadata(data))
    if data[:8] == _PNG_SIGNATURE:
        return float(_png_metadata(data))
    return float("nan")


def _jpeg_metadata(data: bytes) -> int:
    total, pos = 0, 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: compressed pixels follow
            break
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        segment = data[pos + 4:pos + 2 + length]
        if (0xE0 <= marker <= 0xEF or marker == 0xFE) and not segment.startswith(b"JFIF\0"):
            thumb = segment.find(b"\xff\xd8\xff", 6) if marker == 0xE1 else -1
            total += 2 + length - (len(segment) - thumb if thumb >= 0 else 0)
        pos += 2 + length
    return total


def _png_metadata(data: bytes) -> int:
    total, pos = 0, 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        if kind[:1].islower():  # ancillary chunk
            total += 12 + length
        pos += 12 + length
    return total


def _jpeg_settings(img) -> str:
    """Chroma subsampling and progressive mode of a JPEG, e.g. "4:2:0" or "4:4:4 progressive"."""
    from PIL import JpegImagePlugin

    sampling = _SUBSAMPLING.get(JpegImagePlugin.get_sampling(img),
                                "grey" if getattr(img, "layers", 0) == 1 else "other")
    progressive = img.info.get("progressive") or img.info.get("progression")
    return sampling + (" progressive" if progressive else "")


def file_properties(img, data: bytes) -> dict:
    """Properties of an opened PIL image and its file bytes (before or after ``load()``; the
    border is measured on the pixels as loaded, e.g. at JPEG draft scale).

    Keys (always all present): ``jpeg_quality`` (float, 1-100, NaN when not a JPEG),
    ``jpeg_settings`` (str, chroma subsampling and "progressive", "" when not a JPEG),
    ``metadata_bytes`` (float, see :func:`metadata_bytes`), ``camera`` (str, EXIF Make and
    Model joined by a space, "" when absent), ``software``
    (str, EXIF Software, ""), ``border`` (float, luminance std of the outermost ring of pixels
    in 0..1, NaN when the image cannot be measured).
    """
    out = {"jpeg_quality": float("nan"), "jpeg_settings": "", "metadata_bytes": float("nan"),
           "camera": "", "software": "", "border": float("nan")}
    try:
        if getattr(img, "format", None) == "JPEG":
            out["jpeg_quality"] = jpeg_quality(getattr(img, "quantization", None) or {})
            out["jpeg_settings"] = _jpeg_settings(img)
    except Exception:  # noqa: BLE001 - a property, never a reason to fail a decode
        pass
    try:
        out["metadata_bytes"] = metadata_bytes(data)
    except Exception:  # noqa: BLE001
        pass
    try:
        exif = img.getexif()
        make, model = _exif_text(exif, _MAKE), _exif_text(exif, _MODEL)
        out["camera"] = (model if make and model.lower().startswith(make.lower())
                         else f"{make} {model}".strip())
        out["software"] = _exif_text(exif, _SOFTWARE)
    except Exception:  # noqa: BLE001
        pass
    try:
        gray = np.asarray(img if img.mode == "L" else img.convert("L"))
        if gray.ndim == 2 and gray.dtype == np.uint8 and min(gray.shape) >= 3:
            out["border"] = _ring_std(gray) / 255
    except Exception:  # noqa: BLE001
        pass
    return out


def thumb_properties(thumbs: np.ndarray) -> dict[str, np.ndarray]:
    """Per-thumbnail measures of N x H x W x 3 uint8 thumbnails (float32 arrays of length N):

    - ``edge``: the 99th percentile of the luminance gradient magnitude over the image's
      1st-99th percentile luminance range: how steep its steepest edges are for its contrast
      (a sharp small object on plain sky scores high, an out-of-focus photo low);
    - ``border_std`` / ``border_mean``: luminance std and mean of the outermost ring, 0..1.
    """
    lum = thumbs.astype(np.float32) @ _LUMA
    edge = np.array([_edge(lum[k]) for k in range(len(lum))], dtype=np.float32)
    r = ring(lum) / 255
    return {"edge": edge, "border_std": r.std(axis=1).astype(np.float32),
            "border_mean": r.mean(axis=1).astype(np.float32)}


def edge_steepness(thumb: np.ndarray) -> float:
    """``edge`` of :func:`thumb_properties` for one H x W x 3 uint8 thumbnail."""
    return float(_edge(np.asarray(thumb, np.float32) @ _LUMA))


def sharpness(lum: np.ndarray) -> float:
    """Variance of the Laplacian of an H x W uint8 luminance thumbnail, as PIL's 3x3 kernel
    filter (0 1 0 / 1 -4 1 / 0 1 0, offset 128, clipped to 0..255, edge pixels copied) gives
    it: equal to that filter on 6,500 CIFAR-10 and BSDS500 thumbnails, ~6x faster."""
    return float(_laplacian(np.ascontiguousarray(lum, np.uint8)).astype(np.float32).var())


@kernel(nogil=True)
def _laplacian(g):
    out = g.copy()
    for y in range(1, g.shape[0] - 1):
        for x in range(1, g.shape[1] - 1):
            v = (int(g[y - 1, x]) + int(g[y + 1, x]) + int(g[y, x - 1]) + int(g[y, x + 1])
                 - 4 * int(g[y, x]) + 128)
            out[y, x] = min(max(v, 0), 255)
    return out


@kernel(nogil=True)
def _edge(lum):
    """99th percentile of the gradient magnitude over the 1st-99th percentile range (lower
    values, no interpolation), 0 for a flat image: ~2x faster than numpy per image."""
    h, w = lum.shape
    grad = np.empty((h - 1) * (w - 1), np.float32)
    for y in range(h - 1):
        for x in range(w - 1):
            grad[y * (w - 1) + x] = math.hypot(abs(lum[y, x + 1] - lum[y, x]),
                                               abs(lum[y + 1, x] - lum[y, x]))
    flat = lum.ravel()
    low, high = _kth(flat, 0.01), _kth(flat, 0.99)
    if high - low < 1.0:
        return 0.0
    return _kth(grad, 0.99) / (high - low)


@kernel(nogil=True)
def _kth(x, q):
    k = int(round(q * (len(x) - 1)))
    return np.partition(x, k)[k]


#: What :func:`tone` returns, in order.
TONE = ("brightness", "contrast", "mean_r", "mean_g", "mean_b", "dark", "light", "saturation")


def tone(px: np.ndarray, lum: np.ndarray) -> dict[str, float]:
    """Tone of one H x W x 3 uint8 thumbnail and its H x W uint8 luminance, all in 0..1:
    ``brightness`` and ``contrast`` (mean and std of the luminance), ``mean_r/g/b``,
    ``dark`` and ``light`` (its 1st and 99th percentiles, interpolated as ``np.quantile``),
    ``saturation`` (mean of max - min over the channels). One pass in numba: the numpy
    version of these eight figures costs ~10x more per image (~150 us)."""
    values = _tone_kernel(np.ascontiguousarray(px, np.uint8), np.ascontiguousarray(lum, np.uint8))
    return dict(zip(TONE, values, strict=True))


@kernel(nogil=True)
def _tone_kernel(px, lum):
    h, w = lum.shape
    n = h * w
    hist = np.zeros(256, np.int64)
    total = squares = red = green = blue = spread = 0.0
    for y in range(h):
        for x in range(w):
            v = lum[y, x]
            hist[v] += 1
            total += v
            squares += float(v) * v
            r, g, b = px[y, x, 0], px[y, x, 1], px[y, x, 2]
            red += r
            green += g
            blue += b
            spread += max(r, g, b) - min(r, g, b)
    mean = total / n
    std = math.sqrt(max(squares / n - mean * mean, 0.0))
    return (mean / 255, std / 255, red / n / 255, green / n / 255, blue / n / 255,
            _hist_quantile(hist, n, 0.01) / 255, _hist_quantile(hist, n, 0.99) / 255,
            spread / n / 255)


@kernel(nogil=True)
def _hist_quantile(hist, n, q):
    """np.quantile's linear interpolation, from a 256-bin histogram of n values."""
    pos = q * (n - 1)
    low = int(math.floor(pos))
    high = min(low + 1, n - 1)
    a = b = -1
    seen = 0
    for value in range(256):
        seen += hist[value]
        if a < 0 and seen > low:
            a = value
        if seen > high:
            b = value
            break
    return a + (b - a) * (pos - low)


@kernel(nogil=True)
def _ring_std(gray):
    """Std of the outermost ring of pixels of a uint8 image (:func:`ring`, width 1)."""
    h, w = gray.shape
    total = squares = 0.0
    n = 0
    for y in range(h):
        step = 1 if y == 0 or y == h - 1 else w - 1
        for x in range(0, w, step):
            v = float(gray[y, x])
            total += v
            squares += v * v
            n += 1
    mean = total / n
    return math.sqrt(max(squares / n - mean * mean, 0.0))
