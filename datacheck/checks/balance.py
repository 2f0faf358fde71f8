"""balance: class counts per split, imbalance, missing classes, label-distribution differences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..options import group, option
from ..sources.split_names import split_order
from . import Check, CheckResult, plural, register, worst

#: A split whose largest class is this many times its smallest fails.
MAX_IMBALANCE = 10.0
#: Classes with fewer images than this in a split warn.
MIN_PER_CLASS = 10
#: Total variation distance between two splits' label distributions above this warns.
MAX_TVD = 0.1
COLUMNS = ["kind", "split", "label", "count", "detail"]


def check_balance(table: pd.DataFrame, *, max_imbalance: float = MAX_IMBALANCE,
                  min_per_class: int = MIN_PER_CLASS, max_tvd: float = MAX_TVD,
                  alpha: float = 0.05) -> CheckResult:
    """Fails on a class missing from a split or imbalance above ``max_imbalance``; warns on
    minority classes and on splits whose label distributions differ (TVD and chi-square)."""
    labelled = table[table["label"].notna() & table["problem"].isna()]
    if labelled.empty:
        return CheckResult("balance", "warn", "no labelled images to count",
                           {}, pd.DataFrame(columns=COLUMNS))
    counts = pd.crosstab(labelled["label"], labelled["split"])
    counts = counts[split_order(counts.columns)]
    rows, metrics = [], {"classes": int(len(counts))}
    statuses = ["pass"]
    for split in counts.columns:
        col = counts[split]
        present = col[col > 0]
        ratio = float(present.max() / present.min())
        metrics[f"imbalance_{split}"] = round(ratio, 3)
        metrics[f"min_count_{split}"] = int(present.min())
        for label in col[col == 0].index:
            rows.append(("missing", split, label, 0, f"no {label!r} images in {split}"))
            statuses.append("fail")
        if ratio > max_imbalance:
            rows.append(("imbalance", split, present.idxmin(), int(present.min()),
                         f"largest class {present.idxmax()!r} has {ratio:.1f}x the images "
                         f"of the smallest"))
            statuses.append("fail")
        for label, n in present[present < min_per_class].items():
            rows.append(("minority", split, label, int(n),
                         f"{label!r} has only {n} images (fewer than {min_per_class})"))
            statuses.append("warn")
    reference = counts.columns[0]
    for split in counts.columns[1:]:
        pair = counts[[reference, split]]
        pair = pair[pair.sum(axis=1) > 0]
        p, q = pair[reference] / pair[reference].sum(), pair[split] / pair[split].sum()
        tvd = float(0.5 * np.abs(p - q).sum())
        pvalue = chi2_independence_pvalue(pair.to_numpy()) if len(pair) > 1 else 1.0
        metrics[f"tvd_{reference}_{split}"] = round(tvd, 4)
        metrics[f"chi2_p_{reference}_{split}"] = pvalue
        if tvd > max_tvd and pvalue < alpha:
            diff = (q - p)
            label = diff.abs().idxmax()
            rows.append(("distribution", split, label, int(pair.loc[label, split]),
                         f"label distribution differs from {reference} (TVD {tvd:.2f}, "
                         f"p={pvalue:.2g}); {label!r} {p[label]:.0%} -> {q[label]:.0%}"))
            statuses.append("warn")
    findings = pd.DataFrame(rows, columns=COLUMNS)
    status = worst(*statuses)
    if status == "pass":
        summary = (f"{plural(len(counts), 'class', 'classes')}; largest/smallest at most "
                   f"{max(metrics[f'imbalance_{s}'] for s in counts.columns):.1f}x per split")
    else:
        kinds = findings["kind"].value_counts()
        phrases = {
            "missing": ("class missing from a split", "classes missing from a split"),
            "imbalance": (f"split over {max_imbalance:g}x imbalance",
                          f"splits over {max_imbalance:g}x imbalance"),
            "minority": (f"class below {min_per_class} images in a split",
                         f"classes below {min_per_class} images in a split"),
            "distribution": ("split whose label mix differs", "splits whose label mix differs"),
        }
        summary = "; ".join(plural(int(kinds[k]), *phrases[k]) for k in phrases if k in kinds)
    details = {"counts": {s: {str(k): int(v) for k, v in counts[s].items()}
                          for s in counts.columns}}
    return CheckResult("balance", status, summary, metrics, findings, details)


def chi2_independence_pvalue(counts: np.ndarray) -> float:
    """p-value of Pearson's chi-square test of independence on a contingency table (Yates'
    continuity correction when it has one degree of freedom): the same as
    ``scipy.stats.chi2_contingency(counts)[1]`` (tests/test_audit.py compares them), without
    importing scipy.stats, which costs ~1 s of every audit's start."""
    from scipy.special import chdtrc

    observed = np.asarray(counts, dtype=np.float64)
    expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0) / observed.sum()
    dof = (observed.shape[0] - 1) * (observed.shape[1] - 1)
    if dof == 0:
        return 1.0
    diff = np.abs(observed - expected)
    if dof == 1:
        diff = np.maximum(diff - 0.5, 0.0)
    stat = float((diff ** 2 / expected).sum())
    return float(chdtrc(dof, stat))


@group("balance", order=40)
@dataclass(frozen=True)
class BalanceOptions:
    """Thresholds of the balance check."""

    min_per_class: int = option(MIN_PER_CLASS, "Classes with fewer images in a split are "
                                "reported.", minimum=0)
    max_imbalance: float = option(MAX_IMBALANCE, "Largest/smallest class ratio above which "
                                  "balance fails.", minimum=1.0)


def _run(ctx) -> CheckResult:
    opts = ctx.options["balance"]
    return check_balance(ctx.table, min_per_class=opts.min_per_class,
                         max_imbalance=opts.max_imbalance)


register(Check(
    name="balance", title="Balance", order=40, shape="counts",
    doc="Class counts per split, imbalance and label-distribution differences.",
    run=_run, options=("balance",),
    columns=(("kind", "kind"), ("split", "split"), ("label", "class"), ("count", "images"),
             ("detail", "detail")),
    line=lambda row: f"{row['split']}: {row['detail']}",
))
