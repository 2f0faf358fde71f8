"""Stable finding ids: ``<check>-<10 hex>``, a BLAKE2b hash of the check, the finding's kind and
the content digests of the images it names. Paths, splits and labels are left out, so renaming
or moving an image keeps the id; findings about no image (balance, splits, order, shift) are
identified by their kind and what they are about (split, label, feature, name)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pandas as pd

#: Columns that hold one image's digest or a list of digests.
DIGEST_COLUMNS = ("digest_a", "digest_b", "digest", "digests")
#: Columns that hold one image's path or a list of paths.
PATH_COLUMNS = ("a", "b", "path", "paths")
#: What a finding about no image is about; also a group leak's group and splits.
SUBJECT_COLUMNS = ("group", "split", "split_a", "split_b", "label", "feature", "name")


def add_ids(check: str, findings: pd.DataFrame, digests: Mapping[str, str]) -> pd.DataFrame:
    """``findings`` with an ``id`` column first; ``digests`` maps a path to its content digest
    (a path with none, e.g. an unreadable file, stands for itself)."""
    out = findings.copy()
    ids = [finding_id(check, row, digests) for row in findings.to_dict("records")]
    out.insert(0, "id", pd.Series(ids, index=findings.index, dtype=object))
    return out


def finding_id(check: str, row: Mapping, digests: Mapping[str, str]) -> str:
    """The id of one finding (a row as a dict)."""
    images = sorted(images_of(row, digests))
    parts = [check, str(row.get("kind") or "")]
    if images and row.get("kind") != "group":  # a group leak is its group, not its members
        parts += images
    else:
        parts += [f"{c}={row[c]}" for c in SUBJECT_COLUMNS if _present(row.get(c))]
    text = "\0".join(parts)
    return f"{check}-{hashlib.blake2b(text.encode(), digest_size=5).hexdigest()}"


def images_of(row: Mapping, digests: Mapping[str, str]) -> list[str]:
    """The content digests of the images a finding names, in order (a path without a digest
    stands for itself)."""
    found = []
    for column in DIGEST_COLUMNS:
        found += _values(row.get(column))
    for column in PATH_COLUMNS:
        found += [digests.get(p) or f"path:{p}" for p in _values(row.get(column))]
    return list(dict.fromkeys(found))


def _values(value) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value if _present(v)]
    return [str(value)] if _present(value) else []


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and value != value) \
        and value is not pd.NA
