"""order: is a manifest's row order shuffled, or sorted by label?

A loader that reads a manifest sequentially (no shuffle, or a streaming/sharded reader) feeds a
class-sorted manifest as long single-class stretches: the model forgets the earlier classes.
Within each split, in manifest order, the number of runs of equal labels is compared with what
a random order of the same labels gives (the Wald-Wolfowitz runs test generalised to k
categories: mean ``(N(N+1) - sum n_i^2) / N``, variance
``(sum n_i^2 (sum n_i^2 + N(N+1)) - 2 N sum n_i^3 - N^3) / (N^2 (N-1))``, normal
approximation). It warns when the order has at most ``MAX_RUN_RATIO`` of the expected runs and
the one-sided p-value is below ``ALPHA``: clumping that is both certain and large. The longest
single-label run is reported with where it starts.

Folder trees have no order (they are listed sorted by path), so the check needs the manifest's
row positions: ``Dataset.order`` (the manifest row of each table row, None for folder trees).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..sources.split_names import split_order
from . import Check, CheckResult, Skip, register, worst

ALPHA = 0.001
MAX_RUN_RATIO = 0.5
MIN_IMAGES = 20
COLUMNS = ["kind", "split", "label", "runs", "expected_runs", "pvalue", "longest", "start",
           "detail"]


def runs_test(labels) -> dict:
    """Runs of equal values in ``labels`` vs a random permutation of them: runs, expected runs,
    z, one-sided p-value (too few runs), and the longest run (label, length, start)."""
    from scipy.special import ndtr

    values = np.asarray(labels).astype(str)
    n = len(values)
    _, codes, counts = np.unique(values, return_inverse=True, return_counts=True)
    change = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [n]]))
    runs = len(starts)
    c = counts.astype(np.float64)
    s2, s3 = float((c ** 2).sum()), float((c ** 3).sum())
    mean = (n * (n + 1) - s2) / n
    var = ((s2 * (s2 + n * (n + 1)) - 2 * n * s3 - n ** 3) / (n ** 2 * (n - 1))
           if n > 1 else 0.0)
    z = (runs - mean) / math.sqrt(var) if var > 0 else 0.0
    best = int(np.argmax(lengths))
    return {"runs": runs, "expected": mean, "z": z, "pvalue": float(ndtr(z)) if var > 0 else 1.0,
            "longest": int(lengths[best]), "label": values[starts[best]],
            "start": int(starts[best])}


def check_order(table: pd.DataFrame, order, *, alpha: float = ALPHA,
                max_ratio: float = MAX_RUN_RATIO) -> CheckResult:
    """``order[i]``: the manifest position of table row ``i``."""
    frame = table.assign(_pos=np.asarray(order)).sort_values("_pos", kind="stable")
    frame = frame[frame["label"].notna()]
    rows, statuses, metrics = [], ["pass"], {}
    for split in split_order(frame["split"].unique()):
        part = frame[frame["split"] == split]
        if len(part) < MIN_IMAGES or part["label"].nunique() < 2:
            continue
        t = runs_test(part["label"].to_numpy())
        key = split.replace("-", "_")
        metrics[f"runs_ratio_{key}"] = round(t["runs"] / t["expected"], 4)
        metrics[f"longest_run_{key}"] = t["longest"]
        if t["pvalue"] < alpha and t["runs"] <= max_ratio * t["expected"]:
            statuses.append("warn")
            row = int(part["_pos"].iloc[t["start"]])
            rows.append({"kind": "sorted", "split": split, "label": t["label"],
                         "runs": t["runs"], "expected_runs": round(t["expected"], 1),
                         "pvalue": t["pvalue"], "longest": t["longest"], "start": row,
                         "detail": f"{t['runs']:,} label runs where a shuffled order has "
                                   f"~{t['expected']:,.0f} (p={t['pvalue']:.2g}); the longest is "
                                   f"{t['longest']:,} {t['label']!r} images from manifest row "
                                   f"{row:,}: shuffle before reading sequentially"})
    if not metrics:
        raise Skip(f"needs a split with at least {MIN_IMAGES} labelled images of two classes")
    findings = pd.DataFrame(rows, columns=COLUMNS)
    status = worst(*statuses)
    summary = ("labels come in long runs in " + ", ".join(findings["split"]) if len(findings)
               else "label order looks shuffled")
    return CheckResult("order", status, summary, metrics, findings)


def _run(ctx) -> CheckResult:
    order = getattr(ctx.dataset, "order", None)
    if order is None:
        raise Skip("the rows have no source order (folder trees are listed sorted by path)")
    return check_order(ctx.table, order)


register(Check(
    name="order", title="Order", order=47,
    doc="Whether a manifest lists images in label order (runs test per split).",
    run=_run,
    columns=(("split", "split"), ("runs", "runs"), ("expected_runs", "expected"),
             ("longest", "longest run"), ("label", "class"), ("start", "from row"),
             ("detail", "detail")),
    line=lambda row: f"{row['split']}: {row['detail']}",
))
