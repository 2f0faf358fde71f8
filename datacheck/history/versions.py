"""Dataset versions: the per-image table every audit writes, and what a change did to the data.

``images.parquet`` (written next to report.json) has one row per image: ``path, digest, split,
label, group, bytes, problem``. The digest (BLAKE2b of the bytes, :func:`images.content_digest`)
is the image's identity, so two tables say what a change did even when files were renamed:

- **added** / **removed**: content (and path) only on one side;
- **modified**: same path, new content (a re-encode, an edit);
- **renamed**: same content, new path, nothing else changed;
- **relabelled**: same content, another label (whether or not the file moved);
- **split_moved**: same content, another split; a move into a later split (train -> test) is
  flagged ``leak_risk``: a model trained on the base evaluates on an image it saw;
- **regrouped**: same content, another group.

A file that stayed at its path is matched by path first (so a re-encode is *modified*, not one
removal plus one addition); the files left on each side are matched by digest. When several
files share a digest, pairs are made preferring the same split and label, then by path; the
files left over are added or removed. One matched image may be in several of relabelled,
split_moved and regrouped; *renamed* holds those that only changed path.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BadInputError
from ..sources.split_names import split_order

#: The per-image table's file, next to report.json.
IMAGES = "images.parquet"
COLUMNS = ["path", "digest", "split", "label", "group", "bytes", "problem"]
#: Sections of the data diff, in report order, with (one, many) nouns.
KINDS = {
    "added": ("image added", "images added"),
    "removed": ("image removed", "images removed"),
    "modified": ("image modified", "images modified"),
    "renamed": ("image renamed", "images renamed"),
    "relabelled": ("image relabelled", "images relabelled"),
    "split_moved": ("image moved between splits", "images moved between splits"),
    "regrouped": ("image regrouped", "images regrouped"),
}
#: ``--fail-on`` kinds of ``datacheck diff`` that look at the data: name -> test of a diff.
FAIL_KINDS = {
    "relabel": lambda d: bool(d.get("relabelled")),
    "split-move": lambda d: bool(d.get("split_moved")),
    "leak-risk": lambda d: any(r.get("leak_risk") for r in d.get("split_moved") or []),
    "modified": lambda d: bool(d.get("modified")),
    "removed": lambda d: bool(d.get("removed")),
}


# -- the table ----------------------------------------------------------------------------------

def image_table(table: pd.DataFrame) -> pd.DataFrame:
    """The per-image columns of a scanned table (one row per image, in index order)."""
    out = pd.DataFrame({c: table[c] if c in table else None for c in COLUMNS})
    out["bytes"] = pd.to_numeric(out["bytes"], errors="coerce").fillna(-1).astype("int64")
    for col in ("path", "digest", "split", "label", "group", "problem"):
        out[col] = _texts(out[col])
    return out.reset_index(drop=True)


def write_images(images: pd.DataFrame, folder: str | Path) -> Path:
    path = Path(folder) / IMAGES
    images[COLUMNS].to_parquet(path, index=False)
    return path


def read_images(path: str | Path) -> pd.DataFrame:
    """An images.parquet (or the one beside a report.json); a clear BadInputError otherwise."""
    path = Path(path)
    if path.suffix == ".json" or path.is_dir():
        path = (path if path.is_dir() else path.parent) / IMAGES
    if not path.is_file():
        raise BadInputError(f"{path}: not found (written by datacheck audit --out next to "
                            f"report.json)")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many kinds for a damaged file
        raise BadInputError(f"{path}: cannot read ({str(exc).splitlines()[0][:200]})") from None
    missing = [c for c in ("path", "digest", "split", "label") if c not in frame.columns]
    if missing:
        raise BadInputError(f"{path}: lacks column {missing[0]!r} (expected {', '.join(COLUMNS)})")
    return image_table(frame)


def images_beside(report: str | Path) -> pd.DataFrame | None:
    """The images.parquet next to a report.json, or None when there is none."""
    path = Path(report).parent / IMAGES
    return read_images(path) if path.is_file() else None


def _texts(column: pd.Series) -> pd.Series:
    """Each value as ``str``, a missing one (None, NaN, NA) as None."""
    missing = column.isna().to_numpy()
    return pd.Series(np.where(missing, None, column.astype(str).to_numpy(dtype=object)),
                     index=column.index, dtype=object)


# -- the diff -----------------------------------------------------------------------------------

def diff_images(base: pd.DataFrame, head: pd.DataFrame) -> dict[str, Any]:
    """What changed between two per-image tables: ``{"compared": True, "summary": {kind: n},
    kind: [rows], "counts": [per split and class]}`` (see the module docstring)."""
    brows = _rows(base)
    hrows = _rows(head)
    bpath = {r["path"]: r for r in brows}
    hpath = {r["path"]: r for r in hrows}
    out: dict[str, list[dict]] = {k: [] for k in KINDS}
    grouped = _has_groups(brows) and _has_groups(hrows)
    rank = {s: i for i, s in enumerate(split_order({r["split"] for r in brows + hrows}))}
    for path in hpath.keys() & bpath.keys():
        b, h = bpath[path], hpath[path]
        if b["digest"] != h["digest"]:
            out["modified"].append(_pair(b, h, digest=True))
        else:
            _attribute_changes(b, h, out, grouped, rank)
    gone = [r for r in brows if r["path"] not in hpath]
    new = [r for r in hrows if r["path"] not in bpath]
    by_digest: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    for r in gone:
        if r["digest"]:
            by_digest[r["digest"]][0].append(r)
        else:
            out["removed"].append(_one(r))
    for r in new:
        if r["digest"]:
            by_digest[r["digest"]][1].append(r)
        else:
            out["added"].append(_one(r))
    for olds, news in by_digest.values():
        paired, left_b, left_h = _match(olds, news)
        for b, h in paired:
            if not _attribute_changes(b, h, out, grouped, rank):
                out["renamed"].append(_pair(b, h))
        out["removed"] += [_one(r) for r in left_b]
        out["added"] += [_one(r) for r in left_h]
    for rows in out.values():
        rows.sort(key=lambda r: (rank.get(r.get("split"), len(rank)), r.get("label") or "",
                                 r.get("path") or ""))
    unchanged = len(hrows) - len(out["added"]) - len(out["modified"]) - len(
        {r["path"] for k in ("renamed", "relabelled", "split_moved", "regrouped")
         for r in out[k]})
    summary = {k: len(v) for k, v in out.items()}
    summary["leak_risk"] = sum(1 for r in out["split_moved"] if r["leak_risk"])
    summary["unchanged"] = unchanged
    return {"compared": True, "base_images": len(brows), "head_images": len(hrows),
            "summary": summary, **out, "counts": _counts(brows, hrows, rank)}


def has_change(data: dict[str, Any] | None, kind: str) -> bool:
    """True when the data diff has changes of ``kind`` (a key of :data:`FAIL_KINDS`)."""
    if kind not in FAIL_KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(FAIL_KINDS)}")
    return bool(data and data.get("compared")) and FAIL_KINDS[kind](data)


def not_compared(reason: str) -> dict[str, Any]:
    return {"compared": False, "reason": reason}


def _rows(frame: pd.DataFrame) -> list[dict]:
    frame = image_table(frame)
    return frame.to_dict("records")


def _has_groups(rows: list[dict]) -> bool:
    return any(r.get("group") is not None for r in rows)


def _one(r: dict) -> dict:
    return {"path": r["path"], "split": r["split"], "label": r["label"], "group": r["group"],
            "digest": r["digest"], "bytes": r["bytes"]}


def _pair(b: dict, h: dict, *, digest: bool = False) -> dict:
    row = {"path": h["path"], "split": h["split"], "label": h["label"], "group": h["group"],
           "digest": h["digest"], "base_path": b["path"], "base_split": b["split"],
           "base_label": b["label"], "base_group": b["group"]}
    if digest:
        row["base_digest"] = b["digest"]
        row["bytes"], row["base_bytes"] = h["bytes"], b["bytes"]
    return row


def _attribute_changes(b: dict, h: dict, out: dict, grouped: bool, rank: dict) -> bool:
    """Add the pair to relabelled / split_moved / regrouped as it applies; True if any."""
    changed = False
    if b["label"] != h["label"]:
        out["relabelled"].append(_pair(b, h))
        changed = True
    if b["split"] != h["split"]:
        row = _pair(b, h)
        row["leak_risk"] = rank.get(h["split"], 0) > rank.get(b["split"], 0)
        out["split_moved"].append(row)
        changed = True
    if grouped and b["group"] != h["group"]:
        out["regrouped"].append(_pair(b, h))
        changed = True
    return changed


def _match(olds: list[dict], news: list[dict]) -> tuple[list[tuple[dict, dict]], list, list]:
    """Pairs of files with one digest (same split and label first, then by path)."""
    if len(olds) == 1 and len(news) == 1:
        return [(olds[0], news[0])], [], []
    olds = sorted(olds, key=lambda r: r["path"])
    news = sorted(news, key=lambda r: r["path"])
    if len(olds) * len(news) > 10_000:  # thousands of copies of one file: pair in order
        n = min(len(olds), len(news))
        return list(zip(olds[:n], news[:n], strict=True)), olds[n:], news[n:]
    scored = sorted(((-(2 * (b["split"] == h["split"]) + (b["label"] == h["label"])), i, j)
                     for i, b in enumerate(olds) for j, h in enumerate(news)))
    used_b, used_h, pairs = set(), set(), []
    for _, i, j in scored:
        if i not in used_b and j not in used_h:
            used_b.add(i)
            used_h.add(j)
            pairs.append((olds[i], news[j]))
    return (pairs, [r for i, r in enumerate(olds) if i not in used_b],
            [r for j, r in enumerate(news) if j not in used_h])


def _counts(brows: list[dict], hrows: list[dict], rank: dict) -> list[dict[str, Any]]:
    """Images per split and class on each side, for the (split, label) cells that changed."""
    bc: dict[tuple, int] = defaultdict(int)
    hc: dict[tuple, int] = defaultdict(int)
    for r in brows:
        bc[(r["split"], r["label"])] += 1
    for r in hrows:
        hc[(r["split"], r["label"])] += 1
    keys = sorted(bc.keys() | hc.keys(),
                  key=lambda k: (rank.get(k[0], len(rank)), k[1] is None, k[1] or ""))
    return [{"split": s, "label": lab, "base": bc.get((s, lab), 0), "head": hc.get((s, lab), 0),
             "change": hc.get((s, lab), 0) - bc.get((s, lab), 0)}
            for s, lab in keys if bc.get((s, lab), 0) != hc.get((s, lab), 0)]
