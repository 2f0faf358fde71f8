"""splits: are the evaluation splits big enough to measure what the team is chasing?

For an expected error rate ``p`` an evaluation split of ``n`` images estimates the error to
within +-``1.96 * sqrt(p (1 - p) / n)`` (95%, normal approximation; the same resolution the
error decomposition reports per split, :func:`resolution`). Two error rates measured on two
such samples must differ by ``sqrt(2)`` times that before a 95% interval of the difference
excludes zero: the smallest difference the split resolves. (Two models scored on the *same*
images can do better with a paired test; this is the conservative figure.)

- warn: an evaluation split (val, test-val, test) resolves worse than ``max_halfwidth``
  (default +-2 points: at 10% error that takes 865 images), or one of its classes has fewer
  than ``min_test_per_class`` images (a per-class error from 20 images is +-13 points);
- fail: the half-width exceeds the expected error itself (fewer than ~35 images at 10%): the
  split cannot tell a model at the expected error from a perfect one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ..options import group, option
from ..sources.split_names import split_order
from . import Check, CheckResult, Skip, plural, register, worst

EVALUATION = ("val", "test-val", "test")
EXPECTED_ERROR = 0.1
MAX_HALFWIDTH = 0.02
MIN_TEST_PER_CLASS = 20
COLUMNS = ["kind", "split", "label", "count", "halfwidth", "min_difference", "detail"]


@group("splits", order=70)
@dataclass(frozen=True)
class SplitOptions:
    """Sizing of evaluation splits."""

    expected_error: float = option(EXPECTED_ERROR, "Error rate the split sizes are judged at.",
                                   minimum=0.0, maximum=0.5)
    max_halfwidth: float = option(MAX_HALFWIDTH, "Largest acceptable 95% half-width of an "
                                  "evaluation split's error estimate.", minimum=0.0,
                                  maximum=1.0)
    min_test_per_class: int = option(MIN_TEST_PER_CLASS, "Evaluation-split classes with fewer "
                                     "images are reported.", minimum=0)


def resolution(n: int, error: float) -> float:
    """95% half-width of an error rate measured on ``n`` images: the formula of
    :func:`learning.decomposition.decompose` (``1/n`` floors the variance at error 0 or 1)."""
    if n <= 0:
        return float("inf")
    return 1.96 * math.sqrt(max(error * (1 - error), 1 / n) / n)


def images_needed(halfwidth: float, error: float) -> int:
    """Images an evaluation split needs for ``halfwidth`` at ``error``."""
    if halfwidth <= 0:
        return 0
    return math.ceil(1.96 ** 2 * max(error * (1 - error), 1e-12) / halfwidth ** 2)


def check_splits(table: pd.DataFrame, *, expected_error: float = EXPECTED_ERROR,
                 max_halfwidth: float = MAX_HALFWIDTH,
                 min_test_per_class: int = MIN_TEST_PER_CLASS) -> CheckResult:
    """Counts and resolution per split and class; findings for the splits and classes that are
    too small (only evaluation splits are judged)."""
    ok = table[table["problem"].isna()]
    splits = split_order(ok["split"].unique())
    judged = [s for s in splits if s in EVALUATION]
    if not judged:
        raise Skip("no evaluation split (val, test-val or test) to size")
    p = expected_error
    rows, statuses, metrics, sizes = [], ["pass"], {"expected_error": p}, {}
    for split in splits:
        part = ok[ok["split"] == split]
        n = len(part)
        hw = resolution(n, p)
        key = split.replace("-", "_")
        metrics[f"images_{key}"] = n
        metrics[f"halfwidth_{key}"] = round(hw, 5)
        counts = part["label"].dropna().astype(str).value_counts().sort_index()
        sizes[split] = {"images": n, "halfwidth": round(hw, 5),
                        "min_difference": round(math.sqrt(2) * hw, 5),
                        "classes": {c: {"images": int(k), "halfwidth": round(resolution(k, p), 5)}
                                    for c, k in counts.items()}}
        if split not in EVALUATION:
            continue
        if hw > max_halfwidth:
            severity = "fail" if hw > p else "warn"
            statuses.append(severity)
            rows.append({"kind": "split", "split": split, "label": None, "count": n,
                         "halfwidth": round(hw, 5), "min_difference": round(math.sqrt(2) * hw, 5),
                         "detail": f"{n:,} images measure a {p:.0%} error to +-{hw:.1%}; "
                                   f"+-{max_halfwidth:.0%} takes "
                                   f"{images_needed(max_halfwidth, p):,}"
                                   + (" (cannot tell the expected error from zero)"
                                      if severity == "fail" else "")})
        for label, k in counts[counts < min_test_per_class].items():
            statuses.append("warn")
            rows.append({"kind": "class", "split": split, "label": label, "count": int(k),
                         "halfwidth": round(resolution(int(k), p), 5),
                         "min_difference": round(math.sqrt(2) * resolution(int(k), p), 5),
                         "detail": f"{label!r} has {k} {split} images: its error is known to "
                                   f"+-{resolution(int(k), p):.0%}"})
    findings = pd.DataFrame(rows, columns=COLUMNS)
    status = worst(*statuses)
    parts = [f"{s} {sizes[s]['images']:,} images +-{sizes[s]['halfwidth']:.1%}" for s in judged]
    summary = f"at {p:.0%} error: " + "; ".join(parts)
    small = int((findings["kind"] == "class").sum())
    if small:
        summary += f"; {plural(small, 'class', 'classes')} under {min_test_per_class} images"
    return CheckResult("splits", status, summary, metrics, findings, {"splits": sizes})


def _run(ctx) -> CheckResult:
    o = ctx.options["splits"]
    return check_splits(ctx.table, expected_error=o.expected_error,
                        max_halfwidth=o.max_halfwidth, min_test_per_class=o.min_test_per_class)


register(Check(
    name="splits", title="Split sizes", order=42,
    doc="Whether val/test splits (and their classes) are big enough to resolve the error "
        "differences you care about (95% half-width at --expected-error).",
    run=_run, options=("splits",),
    columns=(("kind", "kind"), ("split", "split"), ("label", "class"), ("count", "images"),
             ("halfwidth", "±95%"), ("min_difference", "resolves"), ("detail", "detail")),
    line=lambda row: f"{row['split']}: {row['detail']}",
))
