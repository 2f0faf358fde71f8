"""Folder trees and manifests -> the index table (one row per image).

Layouts understood:
- ``ROOT/<split>/<class>/<file>``  (split names below, or a user mapping)
- ``ROOT/<class>/<file>``          (no splits: every image is in split ``all``)
- a CSV or Parquet manifest with columns ``path,label[,split][,group]``; paths are relative to
  the manifest's folder and may not escape it;
- a zip archive of one of those folder trees (read in place, never unpacked);
- Parquet/Arrow shards (Hugging Face layout) or WebDataset tar shards: a folder of them, or one
  shard (:mod:`datacheck.sources.shard_index`).

Each may be a local path (walked with os functions; a ``file://`` URL is one) or an fsspec URL
(``s3://``, ``gs://``, ``memory://``; listed and read through :mod:`datacheck.sources.storage`).

The table has the columns ``path`` (relative, POSIX), ``split``, ``label``, ``group`` and ``bytes``.
The content ``digest`` is added by :func:`features.scan.scan`, where the bytes are read anyway.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import BadInputError
from . import packed, shard_index, storage
from .layout import COLUMNS, from_listing, split_folders
from .manifest import EXTRA, read_manifest
from .shard_index import SourceOptions
from .source import FolderSource, Source, ZipSource
from .split_names import NO_SPLIT, SPLITS, canonical_split, split_order

#: ``bytes`` of a file whose name is not valid UTF-8: listed (escaped), never opened.
BAD_NAME = -2


@dataclass
class Dataset:
    """An indexed dataset: its root folder (a resolved local Path, or a URL string) and the
    index table."""

    root: Path | str
    table: pd.DataFrame
    #: ``{path: (size, version)}`` from the folder walk or URL listing, so the scan does not
    #: stat every file again: mtime_ns for local files, else a checksum/ETag or time (see
    #: :func:`datacheck.sources.storage.version`). None for local manifests.
    listing: dict[str, tuple[int, int | None]] | None = field(default=None, repr=False)
    #: Split folders of a local tree, including empty ones (they show with 0 images).
    split_folders: list[str] = field(default_factory=list, repr=False)
    #: For a manifest, the manifest row of each table row (the table is sorted by split and
    #: path); None for folder trees and listings, whose order means nothing.
    order: np.ndarray | None = field(default=None, repr=False)
    #: A manifest's other columns (site, scanner, date, ...), one row per table row; None when
    #: it has none (and for folder trees).
    columns: pd.DataFrame | None = field(default=None, repr=False)
    #: Where the images are read from (set by :func:`load_dataset`).
    source: Source | None = field(default=None, repr=False)
    #: The root as the user named it (report paths are relative to it).
    shown_root: str = ""

    def __post_init__(self) -> None:
        if self.source is None:
            self.source = FolderSource(str(self.root))

    @property
    def splits(self) -> dict[str, int]:
        """Image count per split, in canonical order; an empty split folder counts 0."""
        counts = self.table["split"].value_counts()
        names = set(counts.index) | set(self.split_folders)
        return {s: int(counts.get(s, 0)) for s in split_order(names)}


def load_dataset(path: str | os.PathLike, *, split_map: Mapping[str, str] | None = None,
                 root: str | os.PathLike | None = None,
                 source: SourceOptions | None = None) -> Dataset:
    """Index a folder tree, a manifest, a zip archive or shards. Raises BadInputError on
    unusable input.

    A manifest's paths are relative to ``root`` (default: the manifest's folder) and may not
    leave it. ``split_map`` maps split names (``validation=val``); for shards a value that is a
    glob (``train=shards/train-*.tar``) assigns the shards it matches to that split.
    """
    path = storage.localize(os.fspath(path))
    root = None if root is None else storage.localize(os.fspath(root))
    dataset = _load(path, split_map, root, source or SourceOptions())
    if root is not None:
        dataset.shown_root = storage.shown(root)
    elif not dataset.source.is_local:
        dataset.shown_root = str(dataset.root)
    else:
        given = Path(path)
        keep = given.is_dir() or isinstance(dataset.source, ZipSource)
        dataset.shown_root = (given if keep else given.parent).as_posix()
    return dataset


def _load(path: str, split_map: Mapping[str, str] | None, root: str | None,
          options: SourceOptions) -> Dataset:
    split_map, patterns = _patterns(split_map)
    if storage.is_url(path) or (root is not None and storage.is_url(root)):
        return _load_url(path, split_map=split_map, root=root, options=options,
                         patterns=patterns)
    source_path = Path(path)
    if not source_path.exists():
        raise BadInputError(f"{source_path}: no such file or folder")
    if source_path.is_file():
        if root is None and source_path.suffix.lower() == ".zip":
            return _packed(source_path, packed.from_zip(source_path, split_map), ordered=False)
        if root is None and packed.is_shard_file(str(source_path)):
            folder = source_path.parent.resolve().as_posix()
            return _packed(source_path, packed.from_shards(
                folder, [source_path.name], options, split_map, patterns))
        root = Path(root) if root is not None else source_path.parent
        if not root.is_dir():
            raise BadInputError(f"--root {root}: no such folder")
        table = read_manifest(source_path, root, split_map)
        return _finish(source_path, table, root.resolve(), ordered=True)
    if root is not None:
        raise BadInputError("--root applies to manifests only, not to folders")
    found = packed.local_shards(source_path)
    if found:
        return _packed(source_path, packed.from_shards(
            source_path.resolve().as_posix(), found, options, split_map, patterns))
    table, stats, splits = _from_folder(source_path, split_map)
    dataset = _finish(source_path, table, source_path.resolve())
    dataset.listing = stats
    dataset.split_folders = splits
    return dataset


def _patterns(split_map: Mapping[str, str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """(name -> split mapping, split -> shard glob): ``train=shards/train-*.tar`` is a glob."""
    names, patterns = {}, {}
    for name, target in dict(split_map or {}).items():
        if any(c in target for c in "*?[/") or shard_index.is_shard(target):
            split = canonical_split(name, {})
            if not split:
                raise BadInputError(f"--split {name}={target}: {name!r} is not one of "
                                    f"{', '.join(SPLITS)}")
            patterns[split] = target
        else:
            names[name] = target
    return _checked_map(names), patterns


def _checked_map(split_map: Mapping[str, str] | None) -> dict[str, str]:
    split_map = dict(split_map or {})
    for target in split_map.values():
        if target not in SPLITS:
            raise BadInputError(
                f"split mapping target {target!r} is not one of {', '.join(SPLITS)}"
            )
    return split_map


def _load_url(path: str, *, split_map: dict[str, str], root: str | None,
              options: SourceOptions, patterns: Mapping[str, str]) -> Dataset:
    """:func:`load_dataset` for a URL (or a manifest whose ``--root`` is a URL): one listing or
    stat per file through fsspec, nothing read but the manifest."""
    kinds = {}
    for loc in (path, root):
        if loc is not None:
            kinds[loc] = storage.kind(loc) if storage.is_url(loc) else (
                "directory" if Path(loc).is_dir() else "file" if Path(loc).exists() else None)
    if kinds[path] is None:
        raise BadInputError(f"{path}: no such file or folder")
    if kinds[path] == "file" and root is None and packed.is_shard_file(path):
        parent = storage.parent(path)
        return _packed(path, packed.from_shards(
            parent, [path[len(parent):].lstrip("/")], options, split_map, patterns))
    if kinds[path] == "file":
        if root is None:
            root = storage.parent(path) if storage.is_url(path) else str(Path(path).parent)
        elif kinds[root] != "directory":
            raise BadInputError(f"--root {root}: no such folder")
        if not storage.is_url(root):  # a URL manifest of local files
            table = read_manifest(path, Path(root), split_map)
            return _finish(path, table, Path(root).resolve(), ordered=True)
        root = storage.trim(root)
        table = read_manifest(path, root, split_map)
        stats = storage.stat_urls(root, table["path"].tolist())
    else:
        if root is not None:
            raise BadInputError("--root applies to manifests only, not to folders")
        root = storage.trim(path)
        files, dirs = storage.listing(root)
        found = packed.listed_shards(files)
        if found:
            return _packed(path, packed.from_shards(root, found, options, split_map, patterns))
        table = from_listing(root, files, dirs, split_map)
        stats = {r: (int(files[r].get("size") or 0), storage.version(files[r]))
                 for r in table["path"]}
    table["bytes"] = [stats.get(p, (-1, None))[0] for p in table["path"]]
    ds = _finish(path, table, root, ordered=kinds[path] == "file")
    ds.listing = stats
    return ds


def _packed(path, loaded: packed.Packed, *, ordered: bool = True) -> Dataset:
    """The dataset of a zip archive or of shards (rows in shard order: ``ordered``)."""
    table, stats, source = loaded
    dataset = _finish(path, table, source.root, ordered=ordered)
    dataset.listing = stats
    dataset.source = source
    return dataset


def _finish(source, table: pd.DataFrame, root: Path | str, *, ordered: bool = False) -> Dataset:
    """The dataset, its table sorted by split and path (``ordered``: the table's rows are in
    the source's order, e.g. a manifest's, kept as ``Dataset.order``)."""
    if table.empty:
        raise BadInputError(f"{source}: no images found (expected SPLIT/CLASS/FILE or CLASS/FILE)")
    table = table.reset_index(drop=True)
    table = table.sort_values(["split", "path"], key=_split_sort_key, kind="stable")
    order = table.index.to_numpy() if ordered else None
    table = table.reset_index(drop=True)
    extra = [c for c in table.columns if c.startswith(EXTRA)]
    columns = table[extra].rename(columns=lambda c: c[len(EXTRA):]) if extra else None
    return Dataset(root=root, table=table[COLUMNS], order=order, columns=columns)


def _split_sort_key(col: pd.Series) -> pd.Series:
    if col.name != "split":
        return col
    rank = {s: i for i, s in enumerate(split_order(col.unique()))}
    return col.map(rank)


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _from_folder(root: Path, split_map: Mapping[str, str]) -> tuple[pd.DataFrame, dict,
                                                                    list[str]]:
    """(index table, ``{path: (size, mtime_ns)}``, split folders found) of a local tree."""
    top = _visible_dirs(root)
    names = [_escaped(d.name) for d in top]
    named = split_folders(root, names, split_map)
    if named:
        rows = []
        for d, name in zip(top, names, strict=True):
            rows += _walk_classes(root, d, split=named[name])
        splits = [named[n] for n in names]
    else:
        rows = _walk_classes(root, root, split=NO_SPLIT)
        splits = [NO_SPLIT]
    stats = {r[0]: (r[4], r[5]) for r in rows if r[4] != BAD_NAME}
    return pd.DataFrame([r[:5] for r in rows], columns=COLUMNS), stats, splits


def _walk_classes(root: Path, base: Path, *, split: str) -> list[tuple]:
    """Rows (path, split, label, group, bytes, mtime_ns) for every file under
    base/<class>/...; files directly in base have no label. Hidden entries are skipped and
    symlinked folders are not followed (no loops); a dangling symlink is nothing to read."""
    rows = []
    start = len(os.fspath(root)) + 1
    todo: list[tuple[str, str | None]] = [(os.fspath(base), None)]
    while todo:
        folder, label = todo.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    todo.append((entry.path, entry.name if label is None else label))
                    continue
                if entry.is_symlink() and entry.is_dir():
                    continue  # a symlinked folder
            except OSError:
                continue
            rel = entry.path[start:].replace(os.sep, "/")
            if not _is_utf8(rel):
                rows.append((_escaped(rel), split, label and _escaped(label), None, BAD_NAME,
                             -1))
                continue
            try:
                st = entry.stat()
            except OSError:
                continue  # dangling symlink
            rows.append((rel, split, label, None, st.st_size, st.st_mtime_ns))
    return rows


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:  # os.walk gave surrogate escapes for undecodable bytes
        return False


def _escaped(text: str) -> str:
    """Undecodable bytes of a file name as \\xNN, so reports can name the file."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
