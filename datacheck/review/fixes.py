"""What a decision's fix applies to, and the fixes applied to a dataset's image table.

A fix targets images by content digest *and* the split they were in when it was decided: an
exact leak's two copies share a digest, and only the later split's copy is to go. Renaming an
image, or moving it to another class folder, keeps its digest and split, so the fix still
finds it. Targets by check:
- leakage: the copy in the later split (for a group leak, every image of the group there);
- duplicates: every member of the cluster (``keep-one`` keeps the first by path);
- any other finding about images: the images it names.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from .decisions import FIXES, Decision, author, today
from .ids import images_of

CHANGE_COLUMNS = ["path", "action", "value", "reason"]


def targets_of(check: str, row: Mapping, images: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``images`` (path, digest, split, label, group) a fix of this finding
    changes."""
    if check == "leakage" and row.get("kind") == "group":
        hit = (images["group"] == row["group"]) & (images["split"] == row["split_b"])
        return images[hit]
    if check == "leakage":
        return images[images["path"] == row["b"]]
    by_path = dict(zip(images["path"], images["digest"], strict=True))
    names = set(images_of(row, by_path))
    hit = images["digest"].isin(names) | images["path"].map(lambda p: f"path:{p}" in names)
    named = {p for key in ("path", "paths", "a", "b") for p in _list(row.get(key))}
    return images[hit & images["path"].isin(named)] if named else images[hit]


def decision_for(finding_id: str, check: str, row: Mapping, decision: str, value: str | None,
                 note: str, images: pd.DataFrame) -> Decision:
    """The decision entry for one finding, with the images a fix changes (for ``ok``, every
    image it names: when all are gone, the decision is stale)."""
    if decision in FIXES:
        targets = targets_of(check, row, images)
    else:
        named = set(images_of(row, dict(zip(images["path"], images["digest"], strict=True))))
        targets = images[images["digest"].isin(named)
                         | images["path"].map(lambda p: f"path:{p}" in named)]
    digests = [d if isinstance(d, str) else f"path:{p}"
               for p, d in zip(targets["path"], targets["digest"], strict=True)]
    return Decision(id=finding_id, decision=decision, value=value, note=note, author=author(),
                    date=today(), images=digests, splits=[str(s) for s in targets["split"]],
                    paths=list(targets["path"]))


def apply_fixes(images: pd.DataFrame, decisions: Mapping[str, Decision]
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``images`` with every fix applied (drop, relabel, move, keep one), and the changes made
    (path, action, value, reason)."""
    table = images.copy()
    changes = []
    dropped: set[str] = set()
    for decision in decisions.values():
        if decision.decision not in FIXES:
            continue
        rows = _resolve(table, decision)
        reason = f"decision {decision.id}" + (f": {decision.note}" if decision.note else "")
        if decision.decision == "keep-one":
            rows = rows.sort_values("path").iloc[1:]
        for path in rows["path"]:
            if decision.decision in ("drop", "keep-one"):
                dropped.add(path)
                changes.append((path, "drop", None, reason))
            else:
                column = "label" if decision.decision == "relabel" else "split"
                table.loc[table["path"] == path, column] = decision.value
                changes.append((path, decision.decision, decision.value, reason))
    table = table[~table["path"].isin(dropped)].reset_index(drop=True)
    return table, pd.DataFrame(changes, columns=CHANGE_COLUMNS)


def _resolve(table: pd.DataFrame, decision: Decision) -> pd.DataFrame:
    """The rows a decision's targets are now: same digest and split (a path stands for itself
    when the image had no digest)."""
    hit = pd.Series(False, index=table.index)
    splits = decision.splits or [None] * len(decision.images)
    for digest, split in zip(decision.images, splits, strict=False):
        same = (table["path"] == digest[5:]) if digest.startswith("path:") else \
            (table["digest"] == digest)
        hit |= same & ((table["split"] == split) if split is not None else True)
    return table[hit]


def _list(value) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)] if isinstance(value, str) else []
