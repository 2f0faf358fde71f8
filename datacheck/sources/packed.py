"""Datasets packed into few files: zip archives of a folder tree, and Parquet/Arrow or
WebDataset shards. Each loader returns the index table, the per-image ``(size, version)``
stats and the :class:`Source` that reads the images."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import pandas as pd
import pyarrow.parquet as pq

from ..errors import BadInputError
from . import shard_index, storage
from .layout import COLUMNS, from_listing
from .shard_index import SourceOptions
from .source import FolderSource, Source, ZipSource
from .split_names import canonical_split

Packed = tuple[pd.DataFrame, dict, Source]


def is_shard_file(path: str) -> bool:
    """A tar or Arrow file, or a Parquet file with an image column (not a manifest)."""
    if not shard_index.is_shard(path):
        return False
    if not path.lower().endswith(".parquet"):
        return True
    try:
        with storage.open_binary(path) as fh:
            names = pq.ParquetFile(fh).schema_arrow.names
    except Exception:  # not Parquet at all: the manifest reader says so
        return False
    return "path" not in names


def local_shards(folder: Path) -> list[str]:
    """Relative paths of the shards under ``folder`` when it holds shards and no image files
    (a Hugging Face or WebDataset layout), else []. Stops at the first image file."""
    found, todo = [], [folder]
    while todo:
        current = todo.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                todo.append(Path(entry.path))
            elif entry.name.lower().endswith(shard_index.IMAGE_SUFFIXES):
                return []
            elif shard_index.is_shard(entry.name):
                found.append(Path(entry.path).relative_to(folder).as_posix())
    return sorted(found)


def _readme(root: str) -> str | None:
    try:
        with storage.open_binary(storage.join(root, "README.md")) as fh:
            return fh.read().decode("utf-8", "replace")
    except (OSError, BadInputError):
        return None
    except Exception:  # a backend's own error: the README is optional
        return None


def _shard_version(url: str) -> int | None:
    """A version of a whole shard (every row's): its mtime and size, or its checksum."""
    if not storage.is_url(url):
        st = os.stat(url)
        return storage.version({"mtime": st.st_mtime_ns, "size": st.st_size,
                                "checksum": f"{st.st_mtime_ns}:{st.st_size}"})
    fs, inner = storage.url_to_fs(url)
    return storage.version(fs.info(inner))


def from_zip(archive: Path, split_map: Mapping[str, str]) -> Packed:
    """A zip of a folder tree (one wrapping folder is looked through): listed from its
    central directory; each member's CRC is its version."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            dirs = {i.filename.rstrip("/") for i in zf.infolist() if i.is_dir()}
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadInputError(f"{archive}: not a readable zip archive ({exc})") from None
    files = {i.filename: i for i in infos}
    dirs |= {str(PurePosixPath(n).parent) for n in files} - {"."}
    prefix = _wrapper(files, dirs)
    inner = {n[len(prefix):]: i for n, i in files.items() if n.startswith(prefix)}
    inner_dirs = {d[len(prefix):] for d in dirs if d.startswith(prefix) and d != prefix[:-1]}
    table = from_listing(str(archive), inner, inner_dirs, split_map)
    table["path"] = prefix + table["path"]
    table["bytes"] = [files[p].file_size for p in table["path"]]
    stats = {p: (files[p].file_size, files[p].CRC) for p in table["path"]}
    return table, stats, ZipSource(str(archive.resolve()))


def _wrapper(files: Mapping[str, object], dirs: set[str]) -> str:
    """``"name/"`` when every member is inside one top folder that names no split or class
    layout by itself (``cifar/train/cat/1.png``), else ``""``."""
    tops = {n.split("/", 1)[0] for n in files} | {d.split("/", 1)[0] for d in dirs}
    if len(tops) != 1 or any("/" not in n for n in files):
        return ""
    top = next(iter(tops))
    below = {n.split("/")[1] for n in files if n.count("/") >= 2}
    return f"{top}/" if below and canonical_split(top) is None else ""


def listed_shards(files: Mapping[str, object]) -> list[str]:
    """:func:`local_shards` for a URL listing."""
    visible = [r for r in files if not any(p.startswith(".") for p in r.split("/"))]
    if any(r.lower().endswith(shard_index.IMAGE_SUFFIXES) for r in visible):
        return []
    return sorted(r for r in visible if shard_index.is_shard(r))



def from_shards(root: str, rels: list[str], options: SourceOptions,
                split_map: Mapping[str, str], patterns: Mapping[str, str]) -> Packed:
    """The dataset of shards ``rels`` under ``root`` (a local folder or a URL)."""
    readme = _readme(root)
    rows = shard_index.index_shards(root, rels, options, split_map, patterns, readme)
    table = pd.DataFrame(rows, columns=COLUMNS)
    versions = {rel: _shard_version(storage.join(root, rel)) for rel in rels}
    stats = {ref: (size, versions[shard_of]) for ref, size, shard_of in
             zip(table["path"], table["bytes"], table["path"].str.rpartition("#")[0])}
    return table, stats, FolderSource(root, options.image_column)
