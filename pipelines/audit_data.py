"""audit stage: run datacheck on data/ and write reports/audit/{report.json,report.md,metrics.json}.

Every key of params.yaml's ``audit`` section but ``out`` and ``checks`` is an audit option (the
fields of datacheck's option groups, e.g. ``threshold`` or ``min_per_class``), passed as is.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from params import CACHE, load_params  # noqa: E402

import datacheck  # noqa: E402


def main() -> None:
    params, every = load_params("audit")
    options = {k: v for k, v in params.items() if k not in ("out", "checks")}
    report = datacheck.audit(every.get("prepare", {}).get("out", "data"),
                             checks=params.get("checks"), seed=int(every.get("seed", 0)),
                             cache_dir=CACHE, progress=False, **options)
    paths = report.write(params.get("out", "reports/audit"))
    print(f"audit: {report.status}; " + "; ".join(
        f"{name} {check.status}" for name, check in report.checks.items()))
    print("audit: wrote " + ", ".join(str(p) for p in paths.values()))


if __name__ == "__main__":
    main()
