"""Folder trees and manifests -> the index table (one row per image).

Layouts understood:
- ``ROOT/<split>/<class>/<file>``  (split names below, or a user mapping)
- ``ROOT/<class>/<file>``          (no splits: every image is in split ``all``)
- a CSV or Parquet manifest with columns ``path,label[,split][,group]``; paths are relative to
  the manifest's folder and may not escape it.

The table has the columns ``path`` (relative, POSIX), ``split``, ``label``, ``group`` and ``bytes``.
The content ``digest`` is added by :func:`datacheck.scan.scan`, where the bytes are read anyway.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import BadInputError

#: Canonical split names, in the order reports list them.
SPLITS = ("train", "train-val", "val", "test-val", "test")
NO_SPLIT = "all"

#: Common spellings accepted without a mapping.
SPLIT_ALIASES = {
    "training": "train",
    "trainval": "train-val",
    "train_val": "train-val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "testval": "test-val",
    "test_val": "test-val",
    "testing": "test",
}

COLUMNS = ["path", "split", "label", "group", "bytes"]
#: ``bytes`` of a file whose name is not valid UTF-8: listed (escaped), never opened.
BAD_NAME = -2


@dataclass
class Dataset:
    """An indexed dataset: its root folder and the index table."""

    root: Path
    table: pd.DataFrame

    @property
    def splits(self) -> dict[str, int]:
        """Image count per split, in canonical order."""
        counts = self.table["split"].value_counts()
        return {s: int(counts[s]) for s in split_order(counts.index)}


def split_order(names) -> list[str]:
    """Canonical splits first (train ... test), then any others alphabetically."""
    rank = {s: i for i, s in enumerate(SPLITS + (NO_SPLIT,))}
    return sorted(set(names), key=lambda s: (rank.get(s, len(rank)), s))


def canonical_split(name: str, mapping: Mapping[str, str] | None = None) -> str | None:
    """The canonical split for a folder or manifest value, or None when it is not a split."""
    mapping = mapping or {}
    if name in mapping:
        return mapping[name]
    low = name.lower()
    if low in SPLITS:
        return low
    return SPLIT_ALIASES.get(low)


def load_dataset(path: str | os.PathLike, *, split_map: Mapping[str, str] | None = None,
                 root: str | os.PathLike | None = None) -> Dataset:
    """Index a folder tree or a CSV/Parquet manifest. Raises BadInputError on unusable input.

    A manifest's paths are relative to ``root`` (default: the manifest's folder) and may not
    leave it.
    """
    source = Path(path)
    if not source.exists():
        raise BadInputError(f"{source}: no such file or folder")
    split_map = dict(split_map or {})
    for target in split_map.values():
        if target not in SPLITS:
            raise BadInputError(
                f"split mapping target {target!r} is not one of {', '.join(SPLITS)}"
            )
    if source.is_file():
        root = Path(root) if root is not None else source.parent
        if not root.is_dir():
            raise BadInputError(f"--root {root}: no such folder")
        table = _from_manifest(source, root, split_map)
    else:
        if root is not None:
            raise BadInputError("--root applies to manifests only, not to folders")
        table = _from_folder(source, split_map)
        root = source
    if table.empty:
        raise BadInputError(f"{source}: no images found (expected SPLIT/CLASS/FILE or CLASS/FILE)")
    table = table.sort_values(["split", "path"], key=_split_sort_key).reset_index(drop=True)
    return Dataset(root=root.resolve(), table=table[COLUMNS])


def _split_sort_key(col: pd.Series) -> pd.Series:
    if col.name != "split":
        return col
    rank = {s: i for i, s in enumerate(split_order(col.unique()))}
    return col.map(rank)


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _from_folder(root: Path, split_map: Mapping[str, str]) -> pd.DataFrame:
    top = _visible_dirs(root)
    if not top:
        raise BadInputError(f"{root}: no class or split folders inside (expected SPLIT/CLASS/FILE)")
    named = {_escaped(d.name): canonical_split(_escaped(d.name), split_map) for d in top}
    known = [n for n, s in named.items() if s]
    if known:
        unknown = [n for n, s in named.items() if not s]
        if unknown:
            raise BadInputError(
                f"{root}: unknown split folder {unknown[0]!r}; use one of "
                f"{', '.join(SPLITS)} or map it with --split {unknown[0]}=NAME"
            )
        rows = []
        for d in top:
            rows += _walk_classes(root, d, split=named[_escaped(d.name)])
    else:
        rows = _walk_classes(root, root, split=NO_SPLIT)
    return pd.DataFrame(rows, columns=COLUMNS)


def _walk_classes(root: Path, base: Path, *, split: str) -> list[tuple]:
    """Rows for every file under base/<class>/...; files directly in base have no label."""
    rows = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = Path(dirpath).relative_to(base)
        label = rel_dir.parts[0] if rel_dir.parts else None
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if not _is_utf8(rel):
                rows.append((_escaped(rel), split, label and _escaped(label), None, BAD_NAME))
                continue
            try:
                st = full.stat()
            except OSError:
                continue  # dangling symlink: nothing to read
            rows.append((rel, split, label, None, st.st_size))
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


def _from_manifest(manifest: Path, root: Path, split_map: Mapping[str, str]) -> pd.DataFrame:
    suffix = manifest.suffix.lower()
    try:
        if suffix == ".csv":
            raw = pd.read_csv(manifest, dtype=str, keep_default_na=False)
        elif suffix in (".parquet", ".pq"):
            raw = pd.read_parquet(manifest)
        else:
            raise BadInputError(f"{manifest}: a manifest must be .csv or .parquet")
    except BadInputError:
        raise
    except Exception as exc:  # pandas raises many kinds for a malformed file
        raise BadInputError(f"{manifest}: cannot read manifest ({exc})") from None
    missing = [c for c in ("path", "label") if c not in raw.columns]
    if missing:
        raise BadInputError(
            f"{manifest}: manifest lacks column {missing[0]!r} (needs path,label[,split][,group])"
        )
    if raw.empty:
        raise BadInputError(f"{manifest}: manifest has no rows")
    base = root.resolve()
    table = pd.DataFrame({"path": [_safe_relative(base, p, manifest) for p in raw["path"]]})
    table["label"] = raw["label"].astype(str).to_numpy()
    if "split" in raw.columns:
        values = raw["split"].astype(str)
        mapped = {v: canonical_split(v, split_map) for v in values.unique()}
        bad = [v for v, s in mapped.items() if not s]
        if bad:
            raise BadInputError(
                f"{manifest}: unknown split {bad[0]!r}; use one of {', '.join(SPLITS)} "
                f"or map it with --split {bad[0]}=NAME"
            )
        table["split"] = values.map(mapped).to_numpy()
    else:
        table["split"] = NO_SPLIT
    table["group"] = raw["group"].astype(str).to_numpy() if "group" in raw.columns else None
    table["bytes"] = [_size(base / p) for p in table["path"]]
    return table


def _safe_relative(base: Path, value, manifest: Path) -> str:
    text = str(value)
    if not text:
        raise BadInputError(f"{manifest}: empty path in manifest")
    if "\x00" in text:
        raise BadInputError(f"{manifest}: path {text!r} contains a NUL byte")
    candidate = Path(text)
    try:
        full = (candidate if candidate.is_absolute() else base / candidate).resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops, names too long
        raise BadInputError(f"{manifest}: cannot resolve path {text!r} ({exc})") from None
    try:
        return full.relative_to(base).as_posix()
    except ValueError:
        raise BadInputError(
            f"{manifest}: path {text!r} points outside the dataset root {base}"
        ) from None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1  # missing: reported by the integrity check
