"""evaluate: error per split, the decomposition, and files for `dvc metrics` / `dvc plots`.

Reads ``models/predictions.csv`` (path,split,label,prediction) and writes
``reports/eval/metrics.json`` (flat keys), ``reports/eval/decomposition.md``,
``reports/eval/confusion.csv`` (actual,predicted for the test split) and
``reports/eval/per_class.csv`` (class, split, error).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from params import load_params  # noqa: E402

from datacheck.learning.decomposition import decompose  # noqa: E402
from datacheck.report.decomposition import render_decomposition  # noqa: E402


def main() -> None:
    params, every = load_params("evaluate")
    preds = pd.read_csv(params.get("predictions", "models/predictions.csv"), dtype=str)
    wrong = (preds["label"] != preds["prediction"]).astype(float)
    errors = {s: wrong[preds["split"] == s].to_numpy() for s in preds["split"].unique()}
    result = decompose(errors, goal=float(params.get("goal_error", 0.0)),
                       seed=int(every.get("seed", 0)))
    out = Path(params.get("out", "reports/eval"))
    out.mkdir(parents=True, exist_ok=True)
    metrics = {f"error_{s}": v["error"] for s, v in result["splits"].items()}
    metrics.update({f"n_{s}": v["n"] for s, v in result["splits"].items()})
    metrics.update({name: v["value"] for name, v in result["components"].items() if v})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "decomposition.md").write_text(render_decomposition(result))
    test = preds[preds["split"] == ("test" if "test" in errors else preds["split"].iloc[-1])]
    test[["label", "prediction"]].rename(columns={"label": "actual", "prediction": "predicted"}
                                         ).to_csv(out / "confusion.csv", index=False)
    per_class = (preds.assign(error=wrong).groupby(["label", "split"])["error"].mean()
                 .reset_index().rename(columns={"label": "class"}))
    per_class.to_csv(out / "per_class.csv", index=False)
    print(render_decomposition(result))


if __name__ == "__main__":
    main()
