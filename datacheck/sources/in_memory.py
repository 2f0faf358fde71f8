"""Python objects as datasets: a Hugging Face ``datasets.Dataset`` / ``DatasetDict``, or a
map-style torch ``Dataset`` of (image, label) (or a dict of them by split).

The object is written once, as Arrow shards in the layout ``datasets.save_to_disk`` uses
(``SPLIT/data-00000-of-00001.arrow``, labels as text), into a folder named by its
content under the user's cache, and audited like any shards: an image is then named
``SPLIT/data-00000-of-00001.arrow#row=N``, the N-th item of that split. Hugging Face images
keep their encoded bytes; other images (PIL, HxWxC uint8 arrays, CxHxW tensors in [0, 1]) are
stored as PNG, losslessly. Neither ``datasets`` nor ``torch`` is imported here.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image
from tqdm import tqdm

from ..errors import BadInputError
from .split_names import NO_SPLIT

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
#: Items per Arrow record batch.
BATCH = 1000


def is_python_dataset(obj: object) -> bool:
    """True for an object to audit in memory (not a path or URL)."""
    return not isinstance(obj, (str, bytes, os.PathLike)) and (
        hasattr(obj, "__getitem__") or isinstance(obj, Mapping))


def to_shards(obj: object, base: Path, *, progress: bool = True) -> Path:
    """The folder of Arrow shards holding ``obj`` (written once; a folder named by the content
    is reused)."""
    splits = _splits(obj)
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".writing-", dir=base))
    digest = hashlib.blake2b(digest_size=10)
    try:
        for split, data in splits.items():
            folder = work / split
            folder.mkdir()
            batches = _batches(data, progress, split)
            with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink, \
                    pa.ipc.new_stream(sink, pa.schema([("image", IMAGE),
                                                       ("label", pa.string())])) as writer:
                for batch in batches:
                    for blob, label in zip(batch.column(0).field("bytes").to_pylist(),
                                           batch.column(1).to_pylist()):
                        digest.update(blob or b"")
                        digest.update(str(label).encode())
                    writer.write_batch(batch)
            digest.update(split.encode())
        final = base / digest.hexdigest()
        if final.exists():
            shutil.rmtree(work)
        else:
            work.rename(final)
        return final
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _splits(obj: object) -> dict[str, object]:
    """``{split: dataset}``: a DatasetDict or a mapping by split, else one split ``all``."""
    if isinstance(obj, Mapping) or (hasattr(obj, "keys") and hasattr(obj, "values")
                                    and not hasattr(obj, "features")):
        return {str(k): obj[k] for k in obj.keys()}
    return {NO_SPLIT: obj}


def _batches(data, progress: bool, split: str) -> Iterator[pa.RecordBatch]:
    """Record batches of (image struct, label as text)."""
    if hasattr(data, "features") and hasattr(data, "with_format"):
        return _hf_batches(data)
    if not hasattr(data, "__len__"):
        raise BadInputError(f"cannot audit a {type(data).__name__}: give a path, a Hugging Face "
                            "Dataset/DatasetDict or a map-style torch Dataset")
    names = [str(c) for c in getattr(data, "classes", [])]
    return _item_batches(data, names, progress, split)


def _hf_batches(data) -> Iterator[pa.RecordBatch]:
    """A Hugging Face Dataset: its Image column's bytes (a path-only image is read from
    disk) and its ClassLabel column as names."""
    features = data.features
    image = next((k for k, f in features.items() if type(f).__name__ == "Image"), None)
    label = next((k for k, f in features.items() if type(f).__name__ == "ClassLabel"),
                 "label" if "label" in features else None)
    if image is None:
        raise BadInputError(f"the dataset has no Image column (columns: {', '.join(features)})")
    names = list(getattr(features.get(label), "names", []) or [])

    def batches() -> Iterator[pa.RecordBatch]:
        for table in data.with_format("arrow").iter(batch_size=BATCH):
            column = table.column(image).to_pylist()
            blobs = [_hf_bytes(v) for v in column]
            labels = table.column(label).to_pylist() if label else [None] * len(blobs)
            texts = [None if v is None or (isinstance(v, int) and v < 0)
                     else (names[v] if isinstance(v, int) and v < len(names) else str(v))
                     for v in labels]
            yield _batch(blobs, texts)
    return batches()


def _hf_bytes(value) -> bytes | None:
    if not value:
        return None
    if value.get("bytes"):
        return value["bytes"]
    path = value.get("path")
    return Path(path).read_bytes() if path and Path(path).is_file() else None


def _item_batches(data, names: list[str], progress: bool, split: str
                  ) -> Iterator[pa.RecordBatch]:
    blobs, labels = [], []
    for i in tqdm(range(len(data)), desc=f"reading {split}", unit="img",
                  disable=None if progress else True, leave=False):
        item = data[i]
        image, label = (item[0], item[1]) if isinstance(item, (tuple, list)) else (item, None)
        blobs.append(_png(image, i))
        label = _plain(label)
        labels.append(None if label is None else
                      names[label] if isinstance(label, int) and 0 <= label < len(names)
                      else str(label))
        if len(blobs) == BATCH:
            yield _batch(blobs, labels)
            blobs, labels = [], []
    if blobs:
        yield _batch(blobs, labels)


def _plain(value):
    """A tensor or numpy scalar label as a Python value."""
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 else value


def _png(image, index: int) -> bytes:
    """PNG bytes of a PIL image, an HxW(xC) uint8 array or a CxHxW float tensor in [0, 1]."""
    if not isinstance(image, Image.Image):
        array = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image)
        if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
            array = array.transpose(1, 2, 0)  # CxHxW -> HxWxC
        if array.dtype != np.uint8:
            array = np.clip(array * 255 + 0.5, 0, 255).astype(np.uint8)
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        try:
            image = Image.fromarray(array)
        except (TypeError, ValueError):
            raise BadInputError(f"item {index}: {type(image).__name__} of shape {array.shape} "
                                "is not an image") from None
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _batch(blobs: list, labels: list) -> pa.RecordBatch:
    image = pa.array([None if b is None else {"bytes": b, "path": None} for b in blobs], IMAGE)
    return pa.record_batch([image, pa.array(labels, pa.string())], names=["image", "label"])
