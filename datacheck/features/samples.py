"""What a report shows of the images themselves: a few sample paths per class, and small
previews (data URIs) of files, read safely from inside the dataset root."""

from __future__ import annotations

import base64
import io
import random
import warnings

from PIL import Image, ImageOps

from ..sources.source import Source
from .images import SMALL_SIDE, to_rgb


def pick_samples(table, *, per_split: int = 3, seed: int = 0) -> dict[str, dict[str, list[str]]]:
    """``{class: {split: [paths]}}``: up to ``per_split`` seeded-random images of each class in
    each split, from a table with ``path``, ``split`` and ``label`` columns (the index from
    ``sources.dataset.load_dataset(...).table``, or the scanned table). Unlabelled rows and
    files whose names could not be read (``bytes`` < 0) are skipped."""
    rng = random.Random(seed)
    sizes = table["bytes"].tolist() if "bytes" in table.columns else [0] * len(table)
    groups: dict[str, dict[str, list[str]]] = {}
    for path, split, label, size in zip(table["path"].tolist(), table["split"].tolist(),
                                        table["label"].tolist(), sizes, strict=True):
        if label is None or label != label:  # None or NaN
            continue
        if size is not None and size == size and size < 0:
            continue
        groups.setdefault(str(label), {}).setdefault(str(split), []).append(str(path))
    out: dict[str, dict[str, list[str]]] = {}
    for label in sorted(groups):
        out[label] = {}
        for split, paths in groups[label].items():
            chosen = sorted(paths) if len(paths) <= per_split else sorted(
                rng.sample(sorted(paths), per_split))
            out[label][split] = chosen
    return out


def make_thumbnail(source: Source, ref: object, px: int
                   ) -> tuple[str | None, str, tuple[int, int]]:
    """(data URI or None, reason when None, (width, height)) for the image ``ref`` of
    ``source``: a file, archive member or shard row, read only when ``ref`` stays inside the
    source's root.

    Never raises: a missing, unreadable or oversized image gives ``None`` and a short reason."""
    if not source.contains(ref):
        return None, "outside the dataset", (0, 0)
    try:
        data = source.read(str(ref))
    except (FileNotFoundError, IsADirectoryError, KeyError):
        return None, "missing", (0, 0)
    except Exception:  # a directory, no credentials, no network: a placeholder
        return None, "cannot be read", (0, 0)
    return preview(data, px)


def preview(data: bytes, px: int) -> tuple[str | None, str, tuple[int, int]]:
    """:func:`make_thumbnail` of encoded image bytes."""
    source = io.BytesIO(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(source) as img:
                if img.format == "JPEG":  # DCT-scaled decode, still >= px a side
                    img.draft("RGB", (px, px))
                img.load()
                img = ImageOps.exif_transpose(img)
                img = to_rgb(img)
                img.thumbnail((px, px), Image.Resampling.BICUBIC)
                buf = io.BytesIO()
                small = max(img.size) <= SMALL_SIDE
                if small:
                    img.save(buf, "PNG", optimize=True)
                    mime = "image/png"
                else:
                    img.save(buf, "JPEG", quality=82, optimize=True)
                    mime = "image/jpeg"
                size = img.size
    except Image.DecompressionBombError:
        return None, "too large to preview", (0, 0)
    except Exception:  # any decoder failure is a placeholder, never a crash
        return None, "cannot be decoded", (0, 0)
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}", "", size
