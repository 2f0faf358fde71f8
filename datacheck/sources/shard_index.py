"""Shards -> the index table: one row per image of Parquet/Arrow shards (Hugging Face layout) or
WebDataset tar shards, with its split, label and a reference ``SHARD#MEMBER``.

Split: the shard's file-name prefix (``train-00000-of-00002.parquet``, ``test_000.tar``), else
its nearest folder that names a split (``train/data-00000.arrow``), else ``all``; ``--split
NAME=SPLIT`` maps other names, and ``--split SPLIT=PATTERN`` (a glob) assigns shards by path.
Labels: Parquet/Arrow ``label`` column (``--label-column``), integer class indices named by the
Hugging Face ``ClassLabel`` metadata (in the shard's schema, a ``dataset_info.json`` beside it,
or the README's ``dataset_info`` block); tar members ``KEY.cls`` or ``KEY.json``
(``--label-key``). Only labels are read here; the images are read when they are decoded.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import BadInputError
from ..options import group, option
from . import shards, storage
from .split_names import NO_SPLIT, canonical_split

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm",
                  ".pgm")
LABEL_SUFFIXES = (".cls", ".json", ".txt")


@group("source", order=5)
@dataclass(frozen=True)
class SourceOptions:
    """How images and labels are found in Parquet/Arrow and WebDataset shards."""

    image_column: str = option("", "Parquet/Arrow column of encoded images [default: image].",
                               param=False)
    label_column: str = option("label", "Parquet/Arrow column of labels.", param=False)
    label_key: str = option("label", "Field of a WebDataset KEY.json that holds the label "
                            "(KEY.cls is read first).", param=False)


def is_shard(name: str) -> bool:
    return name.lower().endswith(shards.SHARD_SUFFIXES)


def split_of(rel: str, split_map: Mapping[str, str], patterns: Mapping[str, str]) -> str:
    """The split of a shard at ``rel`` (see the module docstring)."""
    for split, pattern in patterns.items():
        if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(PurePosixPath(rel).name, pattern):
            return split
    path = PurePosixPath(rel)
    prefix = re.split(r"[-_.]", path.name, maxsplit=1)[0]
    for name in (prefix, *reversed(path.parent.parts)):
        split = canonical_split(name, split_map)
        if split:
            return split
    return NO_SPLIT


def index_shards(root: str, rels: Sequence[str], options: SourceOptions,
                 split_map: Mapping[str, str], patterns: Mapping[str, str],
                 readme: str | None) -> list[tuple]:
    """Rows (ref, split, label, group, bytes) of every image in the shards ``rels``."""
    rows: list[tuple] = []
    for rel in rels:
        split = split_of(rel, split_map, patterns)
        url = storage.join(root, rel)
        if rel.lower().endswith(shards.TAR_SUFFIXES):
            rows += _tar_rows(url, rel, split, options.label_key)
        else:
            rows += _table_rows(url, rel, split, options, readme)
    return rows


def _table_rows(url: str, rel: str, split: str, options: SourceOptions,
                readme: str | None) -> list[tuple]:
    schema, labels = _labels_of(url, options.label_column)
    shards.image_column_of(schema, options.image_column, url)
    names = _class_names(schema, options.label_column, url, readme)
    if labels is None:
        texts = [None] * schema_rows(url)
    elif pa.types.is_integer(labels.type):
        texts = [None if v is None or v < 0 else (names[v] if v < len(names) else str(v))
                 for v in labels.to_pylist()]
    else:
        texts = [None if v is None else str(v) for v in labels.to_pylist()]
    return [(shards.row_ref(rel, i), split, label, None, 0) for i, label in enumerate(texts)]


def schema_rows(url: str) -> int:
    if url.lower().endswith(".arrow"):
        return shards.read_arrow(url).num_rows
    with storage.open_binary(url) as fh:
        return pq.ParquetFile(fh).metadata.num_rows


def _labels_of(url: str, column: str) -> tuple[pa.Schema, pa.ChunkedArray | None]:
    """(The shard's schema, its label column or None), reading nothing else."""
    try:
        if url.lower().endswith(".arrow"):
            table = shards.read_arrow(url)
            schema = table.schema
            return schema, table.column(column) if column in schema.names else None
        with storage.open_binary(url) as fh:
            shard = pq.ParquetFile(fh)
            schema = shard.schema_arrow
            if column not in schema.names:
                return schema, None
            return schema, shard.read(columns=[column]).column(column)
    except (pa.ArrowException, OSError) as exc:
        raise BadInputError(f"{url}: not a readable Parquet/Arrow shard "
                            f"({str(exc).splitlines()[0][:160]})") from None


def _class_names(schema: pa.Schema, column: str, url: str, readme: str | None) -> list[str]:
    """ClassLabel names of ``column``: from the schema's Hugging Face metadata, a
    dataset_info.json beside an Arrow shard, or the dataset's README."""
    meta = (schema.metadata or {}).get(b"huggingface")
    if meta:
        features = json.loads(meta).get("info", {}).get("features", {})
        names = (features.get(column) or {}).get("names")
        if names:
            return [str(n) for n in names]
    info_url = storage.join(storage.parent(url), "dataset_info.json") if storage.is_url(url) \
        else str(PurePosixPath(url).parent / "dataset_info.json")
    try:
        with storage.open_binary(info_url) as fh:
            names = json.load(fh).get("features", {}).get(column, {}).get("names")
        if names:
            return [str(n) for n in names]
    except (OSError, ValueError, AttributeError):
        pass
    return _readme_names(readme, column)


def _readme_names(readme: str | None, column: str) -> list[str]:
    """Names from the README's YAML ``dataset_info: features: - name: label dtype:
    class_label: names: {'0': cat, ...}`` (needs PyYAML; none without it)."""
    if not readme or not readme.startswith("---"):
        return []
    try:
        import yaml
        card = yaml.safe_load(readme.split("---", 2)[1]) or {}
    except Exception:  # no PyYAML, or a card that is not YAML: integer labels stay numbers
        return []
    infos = card.get("dataset_info") or []
    for info in infos if isinstance(infos, list) else [infos]:
        for feature in info.get("features", []) or []:
            if feature.get("name") == column:
                names = ((feature.get("dtype") or {}).get("class_label") or {}).get("names")
                if isinstance(names, dict):
                    return [str(names[k]) for k in sorted(names, key=lambda k: int(k))]
    return []


def _tar_rows(url: str, rel: str, split: str, label_key: str) -> list[tuple]:
    """One row per image member of a WebDataset shard; its label from KEY.cls / KEY.json."""
    try:
        members = shards.tar_members(url)
    except Exception as exc:  # tarfile.ReadError and friends
        raise BadInputError(f"{url}: not a readable tar shard ({exc})") from None
    images, label_members = [], {}
    for name, offset, size in members:
        key, ext = _key_ext(name)
        if ext in IMAGE_SUFFIXES:
            images.append((key, name, size))
        elif ext in LABEL_SUFFIXES and key not in label_members or ext == ".cls":
            label_members[key] = (name, offset, size)
    labels = shards.stored(url, f"labels:{label_key}",
                           lambda: _tar_labels(url, label_members, label_key))
    return [(f"{rel}#{name}", split, labels.get(key), None, size) for key, name, size in images]


def _key_ext(name: str) -> tuple[str, str]:
    """WebDataset's key and extension: the basename splits at its first dot."""
    folder, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), ("." + ext.lower() if dot else "")


def _tar_labels(url: str, members: Mapping[str, tuple[str, int, int]], label_key: str
                ) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    with storage.open_binary(url) as fh:
        for key, (name, offset, size) in members.items():
            fh.seek(offset)
            text = fh.read(size).decode("utf-8", "replace").strip()
            if name.lower().endswith(".json"):
                try:
                    value = json.loads(text).get(label_key)
                except (ValueError, AttributeError):
                    value = None
                out[key] = None if value is None else str(value)
            else:
                out[key] = text or None
    return out
