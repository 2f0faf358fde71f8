"""``datacheck init``: add an audit stage for an existing dataset to the user's DVC project."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import BadInputError

DVC_YAML = """\
# Written by `datacheck init`. `dvc repro` re-audits whenever {data} or the audit params change.
stages:
  audit:
    cmd: >-
      datacheck audit ${{data}} --out reports/audit --cache .datacheck-cache --no-progress
      --hash ${{audit.hash}} --threshold ${{audit.threshold}}
      --min-per-class ${{audit.min_per_class}} --max-imbalance ${{audit.max_imbalance}}
      --alpha ${{audit.alpha}} --seed ${{seed}}
    deps:
      - ${{data}}
    outs:
      - reports/audit/report.json
      - reports/audit/report.md
    metrics:
      - reports/audit/metrics.json:
          cache: false
"""

PARAMS = {
    "seed": 0,
    "audit": {"hash": "phash", "threshold": 10, "min_per_class": 10, "max_imbalance": 10.0,
              "alpha": 0.05},
}


def init_project(folder: str | Path, data: str, *, force: bool = False) -> list[Path]:
    """Write dvc.yaml and params.yaml (and ignore rules) into ``folder``; return what changed."""
    root = Path(folder)
    if not (root / data).exists():
        raise BadInputError(f"{root / data}: no such dataset folder or manifest")
    targets = {root / "dvc.yaml": DVC_YAML.format(data=data),
               root / "params.yaml": yaml.safe_dump({"data": data, **PARAMS}, sort_keys=False)}
    existing = [p.name for p in targets if p.exists()]
    if existing and not force:
        raise BadInputError(f"{existing[0]} already exists in {root}; use --force to replace it")
    written = []
    for path, text in targets.items():
        path.write_text(text)
        written.append(path)
    written += _ensure_lines(root / ".dvcignore", ["__pycache__/", ".datacheck/",
                                                   ".datacheck-cache/"])
    written += _ensure_lines(root / ".gitignore", [".datacheck-cache/", ".datacheck/"])
    return written


def _ensure_lines(path: Path, lines: list[str]) -> list[Path]:
    have = path.read_text().splitlines() if path.exists() else []
    missing = [line for line in lines if line not in have]
    if not missing:
        return []
    with path.open("a") as fh:
        if have and not path.read_text().endswith("\n"):
            fh.write("\n")
        fh.write("\n".join(missing) + "\n")
    return [path]
