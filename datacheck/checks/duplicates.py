"""duplicates: clusters of exact and near copies inside each split."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..matching.copies import copy_pairs
from ..matching.neighbors import clusters
from . import Check, CheckResult, plural, register


def check_duplicates(table: pd.DataFrame, pairs: pd.DataFrame) -> CheckResult:
    """Copies within a split. Exact copies and clusters whose labels disagree fail; near warn.

    Findings: ``kind`` (exact when every member has the same bytes), ``split``, ``paths``,
    ``labels``, ``label_conflict``, the largest Hamming ``distance`` inside the cluster and the
    ``transforms`` its copies show (none, mirrored, cropped, ...).
    """
    split = table["split"].to_numpy()
    within = pairs[split[pairs["i"].to_numpy()] == split[pairs["j"].to_numpy()]]
    ids = clusters(len(table), within["i"].to_numpy(), within["j"].to_numpy())
    rows = []
    by_cluster = within.groupby(ids[within["i"].to_numpy()])
    max_dist = by_cluster["distance"].max()
    kinds_of = by_cluster["transform"].agg(lambda t: sorted(set(t)))
    paths = table["path"].to_numpy(dtype=object)
    labels_all = table["label"].to_numpy(dtype=object)
    digests = table["digest"].to_numpy(dtype=object)
    in_cluster = np.flatnonzero(ids >= 0)
    order = in_cluster[np.argsort(ids[in_cluster], kind="stable")]  # by cluster, then row
    cids, starts = np.unique(ids[order], return_index=True)
    groups = np.split(order, starts[1:]) if len(order) else []
    for cid, members in zip(cids, groups, strict=True):
        labels = labels_all[members].tolist()
        known = {lab for lab in labels if lab is not None and lab == lab}
        rows.append({
            "kind": "exact" if len(set(digests[members])) == 1 else "near",
            "split": split[members[0]],
            "paths": paths[members].tolist(),
            "digests": digests[members].tolist(),
            "labels": labels,
            "label_conflict": len(known) > 1,
            "distance": int(max_dist.get(cid, 0)),
            "transforms": kinds_of.get(cid, []),
        })
    findings = pd.DataFrame(rows, columns=["kind", "split", "paths", "labels",
                                           "label_conflict", "distance", "transforms",
                                           "digests"])
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


register(Check(
    name="duplicates", title="Duplicates", order=20,
    shape="clusters", nouns=("duplicate cluster", "duplicate clusters"),
    doc="Exact and near-duplicate clusters within each split.",
    run=lambda ctx: check_duplicates(ctx.table, copy_pairs(ctx)),
    options=("copies",),
    columns=(("kind", "kind"), ("split", "split"), ("paths", "files"), ("labels", "labels")),
    line=lambda row: f"{row['kind']} in {row['split']}: " + ", ".join(row["paths"][:4]),
    severity=lambda row: "fail" if row["kind"] == "exact" or row["label_conflict"] else "warn",
))
