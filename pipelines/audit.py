"""audit: run datacheck on data/ and write reports/audit/{report.json,report.md,metrics.json}.

The feature cache lives outside data/ (a DVC output must not be written by another stage).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from params import load_params  # noqa: E402

import datacheck  # noqa: E402
from datacheck.audit import (  # noqa: E402
    MAX_RESIDUAL_SMALL,
    MIN_SIMILARITY,
    MIN_SIMILARITY_SMALL,
)

CACHE = ".datacheck-cache"


def main() -> None:
    params, every = load_params("audit")
    report = datacheck.audit(
        every.get("prepare", {}).get("out", "data"),
        checks=params.get("checks", list(datacheck.CHECKS)),
        hash_name=params.get("hash", "phash"),
        threshold=params.get("threshold"),
        min_similarity=float(params.get("min_similarity", MIN_SIMILARITY)),
        min_similarity_small=float(params.get("min_similarity_small",
                                              MIN_SIMILARITY_SMALL)),
        max_residual_small=float(params.get("max_residual_small",
                                            MAX_RESIDUAL_SMALL)),
        min_per_class=int(params.get("min_per_class", 10)),
        max_imbalance=float(params.get("max_imbalance", 10)),
        alpha=float(params.get("alpha", 0.05)),
        seed=int(every.get("seed", 0)),
        cache_dir=CACHE,
        progress=False,
    )
    paths = report.write(params.get("out", "reports/audit"))
    print(f"audit: {report.status}; " + "; ".join(
        f"{name} {check.status}" for name, check in report.checks.items()))
    print("audit: wrote " + ", ".join(str(p) for p in paths.values()))


if __name__ == "__main__":
    main()
