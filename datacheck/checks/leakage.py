"""leakage: the same image (exact or near copy) or the same group in two splits."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..matching.copies import copy_pairs
from ..sources.split_names import split_order
from . import Check, CheckResult, plural, register

COLUMNS = ["kind", "a", "split_a", "b", "split_b", "distance", "similarity", "transform",
           "label_a", "label_b", "group", "digest_a", "digest_b"]


def check_leakage(table: pd.DataFrame, pairs: pd.DataFrame) -> CheckResult:
    """Every cross-split copy, and every group found in more than one split; any leak fails.

    ``a`` is always the image in the earlier split (train before train-val, val, test-val, test).
    """
    rank = {s: k for k, s in enumerate(split_order(table["split"].unique()))}
    split = table["split"].to_numpy()
    i, j = pairs["i"].to_numpy(), pairs["j"].to_numpy()
    cross = split[i] != split[j]
    i, j = i[cross], j[cross]
    ranks = pd.Series(split).map(rank).to_numpy()
    swap = ranks[i] > ranks[j]
    a = np.where(swap, j, i)
    b = np.where(swap, i, j)
    sub = pairs[cross]
    paths, labels = table["path"].to_numpy(), table["label"].to_numpy()
    digests = table["digest"].to_numpy(dtype=object)  # identities that survive renames
    findings = pd.DataFrame({
        "kind": sub["kind"].to_numpy(), "a": paths[a], "split_a": split[a],
        "b": paths[b], "split_b": split[b], "distance": sub["distance"].to_numpy(),
        "similarity": sub["similarity"].to_numpy(), "transform": sub["transform"].to_numpy(),
        "label_a": labels[a], "label_b": labels[b],
        "group": None, "digest_a": digests[a], "digest_b": digests[b],
    }, columns=COLUMNS)
    findings = pd.concat([findings, _group_leaks(table, rank)], ignore_index=True)
    if len(findings):
        findings["_ra"] = findings["split_a"].map(rank)
        findings["_rb"] = findings["split_b"].map(rank)
        findings = (findings.sort_values(["_ra", "_rb", "kind", "distance", "a", "b"],
                                         kind="stable")
                    .drop(columns=["_ra", "_rb"]).reset_index(drop=True))
    metrics = _metrics(findings)
    if not len(findings):
        return CheckResult("leakage", "pass", "no image or group is shared between splits",
                           metrics, findings)
    parts = [f"{n:,} {k}" for k, n in findings["kind"].value_counts().sort_index().items()]
    leaked = metrics["leaked_images"]
    summary = (f"{plural(len(findings), 'cross-split pair')} ({', '.join(parts)}); "
               f"{plural(leaked, 'image')} in a later split also in an earlier one")
    return CheckResult("leakage", "fail", summary, metrics, findings)


def _group_leaks(table: pd.DataFrame, rank: dict[str, int]) -> pd.DataFrame:
    if "group" not in table or table["group"].isna().all():
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    grouped = table[table["group"].notna()].groupby("group", sort=True)
    for group, members in grouped:
        splits = sorted(members["split"].unique(), key=rank.get)
        first = {s: members[members["split"] == s].iloc[0] for s in splits}
        for x, sa in enumerate(splits):
            for sb in splits[x + 1:]:
                ra, rb = first[sa], first[sb]
                rows.append({"kind": "group", "a": ra["path"], "split_a": sa, "b": rb["path"],
                             "split_b": sb, "distance": None, "similarity": None,
                             "transform": None,
                             "label_a": ra["label"], "label_b": rb["label"], "group": group,
                             "digest_a": ra["digest"], "digest_b": rb["digest"]})
    return pd.DataFrame(rows, columns=COLUMNS)


def _metrics(findings: pd.DataFrame) -> dict[str, float]:
    kinds = findings["kind"].value_counts()
    metrics = {
        "pairs": len(findings),
        "exact_pairs": int(kinds.get("exact", 0)),
        "near_pairs": int(kinds.get("near", 0)),
        "group_leaks": int(kinds.get("group", 0)),
        "leaked_images": int(findings.loc[findings["kind"] != "group", "b"].nunique()),
    }
    for (sa, sb), n in findings.groupby(["split_a", "split_b"], sort=False).size().items():
        metrics[f"pairs_{sa}_{sb}"] = int(n)
    return metrics


def _line(row: dict) -> str:
    if row["kind"] == "group":
        return f"group {row['group']}: {row['split_a']} and {row['split_b']}"
    how = "" if row.get("transform") in (None, "none") else f", {row['transform']}"
    return f"{row['kind']} ({row['distance']} bits{how}): {row['a']} == {row['b']}"


register(Check(
    name="leakage", title="Leakage", order=30, shape="pairs",
    nouns=("leak", "leaks"),
    doc="Images (exact or near copies) and groups shared between splits.",
    run=lambda ctx: check_leakage(ctx.table, copy_pairs(ctx)),
    options=("copies",),
    columns=(("kind", "kind"), ("split_a", "split"), ("a", "file"), ("split_b", "split"),
             ("b", "copy"), ("transform", "transform"), ("distance", "bits")),
    line=_line,
    severity=lambda row: "fail",
))
