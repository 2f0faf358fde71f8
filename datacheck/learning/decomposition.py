"""The error decomposition of the two-validation-set recipe, with bootstrap intervals.

    test error = goal + avoidable bias + variance + distribution shift + val overfitting
    avoidable bias      = train - goal
    variance            = train-val - train
    distribution shift  = test-val - train-val
    val overfitting     = test - test-val

Each split's errors are resampled independently (the splits are independent samples), so a
component's interval reflects the sizes of both splits it subtracts. ``resolution`` is the
half-width of the 95% interval of each split's own error: a shift smaller than the test-val
resolution cannot be seen.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import BadInputError

SPLITS = ("train", "train-val", "test-val", "test")
COMPONENTS = {
    "avoidable_bias": ("train", None),
    "variance": ("train-val", "train"),
    "distribution_shift": ("test-val", "train-val"),
    "val_overfitting": ("test", "test-val"),
}


def load_errors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Per-split 0/1 error vectors from a CSV/Parquet with ``split`` and either ``error``
    (0/1 or bool) or ``label`` and ``prediction`` columns."""
    source = Path(path)
    if not source.is_file():
        raise BadInputError(f"{source}: no such file")
    try:
        frame = (pd.read_parquet(source) if source.suffix.lower() in (".parquet", ".pq")
                 else pd.read_csv(source, dtype={"label": str, "prediction": str}))
    except Exception as exc:
        raise BadInputError(f"{source}: cannot read predictions ({exc})") from None
    if "split" not in frame:
        raise BadInputError(f"{source}: needs a 'split' column")
    if "error" in frame:
        wrong = frame["error"].astype(float)
    elif {"label", "prediction"} <= set(frame.columns):
        wrong = (frame["label"].astype(str) != frame["prediction"].astype(str)).astype(float)
    else:
        raise BadInputError(f"{source}: needs an 'error' column or 'label' and 'prediction'")
    errors = {s: wrong[frame["split"] == s].to_numpy() for s in SPLITS}
    if not len(errors["train"]):
        raise BadInputError(f"{source}: no rows with split 'train'")
    return errors


def decompose(errors: dict[str, np.ndarray], *, goal: float = 0.0, n_boot: int = 2000,
              seed: int = 0, level: float = 0.95) -> dict:
    """Error per split, the four components and bootstrap intervals; missing splits -> None."""
    rng = np.random.default_rng(seed)
    present = {s: np.asarray(v, dtype=float) for s, v in errors.items() if len(v)}
    rates = {s: float(v.mean()) for s, v in present.items()}
    boots = {s: rng.binomial(len(v), rates[s], n_boot) / len(v) for s, v in present.items()}
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    out: dict = {"goal": goal, "splits": {}, "components": {}}
    for s in SPLITS:
        if s in present:
            n, p = len(present[s]), rates[s]
            out["splits"][s] = {"n": n, "error": round(p, 6),
                                "resolution": round(1.96 * np.sqrt(max(p * (1 - p), 1 / n) / n), 6)}
    for name, (first, second) in COMPONENTS.items():
        if first not in present or (second and second not in present):
            out["components"][name] = None
            continue
        minus = boots[second] if second else goal
        value = rates[first] - (rates[second] if second else goal)
        sample = boots[first] - minus
        out["components"][name] = {"value": round(value, 6),
                                   "low": round(float(np.percentile(sample, lo)), 6),
                                   "high": round(float(np.percentile(sample, hi)), 6)}
    return out
