"""Folder-tree layouts: which top folders are splits and which are classes, from a listing."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..errors import BadInputError
from .split_names import NO_SPLIT, SPLITS, canonical_split

#: Columns of the index table.
COLUMNS = ["path", "split", "label", "group", "bytes"]


def from_listing(root: str, files: Mapping[str, dict], dirs: set[str],
                  split_map: Mapping[str, str]) -> pd.DataFrame:
    """Rows of the ``SPLIT/CLASS/FILE`` or ``CLASS/FILE`` layout, from a recursive listing
    (``{relative path: info}`` and folders) of a URL or an archive."""
    def hidden(rel: str) -> bool:
        return any(part.startswith(".") for part in rel.split("/"))

    visible = sorted(r for r in files if not hidden(r))
    top = sorted({r.split("/", 1)[0] for r in visible if "/" in r}
                 | {d.split("/", 1)[0] for d in dirs if d and not hidden(d)})
    named = split_folders(root, top, split_map)
    rows = []
    if named:
        for rel in visible:
            parts = rel.split("/")
            if len(parts) >= 2:  # files directly in the root belong to no split
                rows.append((rel, named[parts[0]], parts[1] if len(parts) >= 3 else None, None,
                             0))
    else:
        for rel in visible:
            parts = rel.split("/")
            rows.append((rel, NO_SPLIT, parts[0] if len(parts) >= 2 else None, None, 0))
    return pd.DataFrame(rows, columns=COLUMNS)


def split_folders(root, top: list[str], split_map: Mapping[str, str]) -> dict[str, str]:
    """``{folder: split}`` when the top-level folders of ``root`` are splits, ``{}`` when they
    are classes (no folder names a split). Raises when there is no folder, or when some but not
    all name a split."""
    if not top:
        raise BadInputError(f"{root}: no class or split folders inside (expected SPLIT/CLASS/FILE)")
    named = {d: canonical_split(d, split_map) for d in top}
    if not any(named.values()):
        return {}
    unknown = [n for n, s in named.items() if not s]
    if unknown:
        raise BadInputError(
            f"{root}: unknown split folder {unknown[0]!r}; use one of "
            f"{', '.join(SPLITS)} or map it with --split {unknown[0]}=NAME"
        )
    return named
