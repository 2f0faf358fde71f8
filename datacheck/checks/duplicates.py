"""duplicates: clusters of exact and near copies inside each split."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..neighbors import clusters
from . import CheckResult, plural


def check_duplicates(table: pd.DataFrame, pairs: pd.DataFrame) -> CheckResult:
    """Copies within a split. Exact copies and clusters whose labels disagree fail; near warn.

    Findings: ``kind`` (exact when every member has the same bytes), ``split``, ``paths``,
    ``labels``, ``label_conflict`` and the largest Hamming ``distance`` inside the cluster.
    """
    split = table["split"].to_numpy()
    within = pairs[split[pairs["i"].to_numpy()] == split[pairs["j"].to_numpy()]]
    ids = clusters(len(table), within["i"].to_numpy(), within["j"].to_numpy())
    rows = []
    max_dist = within.groupby(ids[within["i"].to_numpy()])["distance"].max()
    for cid in np.unique(ids[ids >= 0]):
        members = table.iloc[np.flatnonzero(ids == cid)]
        labels = members["label"].tolist()
        known = {lab for lab in labels if lab is not None and lab == lab}
        rows.append({
            "kind": "exact" if members["digest"].nunique() == 1 else "near",
            "split": members["split"].iloc[0],
            "paths": members["path"].tolist(),
            "labels": labels,
            "label_conflict": len(known) > 1,
            "distance": int(max_dist.get(cid, 0)),
        })
    findings = pd.DataFrame(rows, columns=["kind", "split", "paths", "labels",
                                           "label_conflict", "distance"])
    if len(findings):
        findings["_size"] = findings["paths"].map(len)
        findings = (findings.sort_values(["label_conflict", "kind", "_size"],
                                         ascending=[False, True, False], kind="stable")
                    .drop(columns="_size").reset_index(drop=True))
    exact = int((findings["kind"] == "exact").sum())
    conflicts = int(findings["label_conflict"].sum())
    redundant = int(sum(len(p) - 1 for p in findings["paths"]))
    metrics = {
        "clusters": len(findings),
        "exact_clusters": exact,
        "near_clusters": len(findings) - exact,
        "redundant_images": redundant,
        "label_conflicts": conflicts,
    }
    if not len(findings):
        return CheckResult("duplicates", "pass", "no duplicates within a split", metrics, findings)
    status = "fail" if exact or conflicts else "warn"
    summary = (f"{plural(len(findings), 'duplicate cluster')} ({exact:,} exact), "
               f"{plural(redundant, 'redundant image')}")
    if conflicts:
        summary += f", {plural(conflicts, 'cluster')} with disagreeing labels"
    return CheckResult("duplicates", status, summary, metrics, findings)
