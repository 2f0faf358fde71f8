"""CSV/Parquet manifests: rows of path,label[,split][,group] whose paths stay under a root; any
other column (a site, scanner, date) is kept as ``EXTRA`` + its name for the shortcuts check."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..errors import BadInputError
from . import storage
from .split_names import NO_SPLIT, SPLITS, canonical_split

#: Prefix of a manifest's other columns in the table read_manifest returns.
EXTRA = "manifest:"
_KNOWN = ("path", "label", "split", "group")


def read_manifest(manifest: Path | str, root: Path | str,
                   split_map: Mapping[str, str]) -> pd.DataFrame:
    """The table of a manifest (a local path or a URL) whose paths are under ``root`` (a local
    Path, or a URL string: then ``bytes`` is left for the caller to fill)."""
    suffix = posixpath.splitext(os.fspath(manifest))[1].lower()
    try:
        if suffix not in (".csv", ".parquet", ".pq"):
            raise BadInputError(f"{manifest}: a manifest must be .csv or .parquet")
        with storage.open_binary(manifest) as fh:
            if suffix == ".csv":
                raw = pd.read_csv(fh, dtype=str, keep_default_na=False)
            else:
                raw = pd.read_parquet(fh)
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
    if isinstance(root, str):
        base = root
        table = pd.DataFrame({"path": [_safe_relative_url(base, p, manifest)
                                       for p in raw["path"]]})
    else:
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
    if "group" in raw.columns:  # an empty cell is no group, not a group named ""
        groups = raw["group"].astype(str)
        table["group"] = groups.where(groups.str.strip() != "", None).to_numpy()
    else:
        table["group"] = None
    table["bytes"] = [_size(base / p) for p in table["path"]] if isinstance(base, Path) else -1
    for column in raw.columns:
        if column not in _KNOWN:
            table[f"{EXTRA}{column}"] = raw[column].to_numpy()
    return table


def _safe_relative_url(base: str, value, manifest) -> str:
    """A manifest path (relative, or a URL / absolute path inside the root URL) relative to the
    root URL, resolved lexically; one that leaves the root is an error."""
    text = str(value)
    if not text:
        raise BadInputError(f"{manifest}: empty path in manifest")
    if "\x00" in text:
        raise BadInputError(f"{manifest}: path {text!r} contains a NUL byte")
    inside = None
    if storage.is_url(text) or text.startswith("/"):
        # an absolute path or a URL of the root's protocol (never another backend's)
        same = not storage.is_url(text) or storage.protocol(text) == storage.protocol(base)
        if same:
            _, base_path = storage.url_to_fs(base)
            path = storage.url_to_fs(text)[1] if storage.is_url(text) else text
            prefix = base_path.rstrip("/") + "/"
            norm = posixpath.normpath(path)
            if (norm + "/").startswith(prefix) and norm + "/" != prefix:
                inside = norm[len(prefix):]
    else:
        norm = posixpath.normpath(text)
        if norm != "." and norm != ".." and not norm.startswith("../"):
            inside = norm
    if inside is None:
        raise BadInputError(
            f"{manifest}: path {text!r} points outside the dataset root {base}"
        )
    return inside


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
