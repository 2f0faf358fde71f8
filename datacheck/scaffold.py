"""``datacheck init``: add an audit stage for an existing dataset to the user's DVC project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from . import options as grouped
from .errors import BadInputError
from .features.scan import ScanOptions
from .matching.copies import CopyOptions

DVC_YAML = """\
# Written by `datacheck init`. `dvc repro` re-audits whenever {data} or the audit params change.
stages:
  audit:
    cmd: >-
      datacheck audit ${{data}} --out reports/audit --cache .datacheck-cache --no-progress
      --seed ${{seed}}
{flags}
    deps:
      - ${{data}}
    outs:
      - reports/audit/report.json
      - reports/audit/report.md
    metrics:
      - reports/audit/metrics.json:
          cache: false
"""


def audit_params() -> dict[str, Any]:
    """Every audit option that belongs in params.yaml, at its default (the copy-search radius
    resolved for the default hash; on/off switches stay on the command line), from the option
    groups' declarations."""
    values: dict[str, Any] = {}
    for cls in grouped.GROUPS.values():
        values.update({k: v for k, v in grouped.params_of(cls()).items()
                       if v is not None and not isinstance(v, bool)})
    values["threshold"] = CopyOptions().radius(ScanOptions().hash)
    return values


def _flags(params: dict[str, Any]) -> str:
    """The command-line flags that pass each audit param from params.yaml."""
    flag_of = {f.name: f.metadata.get("flag") or "--" + f.name.replace("_", "-")
               for cls in grouped.GROUPS.values() for f in grouped.fields(cls)}
    return "\n".join(f"      {flag_of[k]} ${{audit.{k}}}" for k in params)


def init_project(folder: str | Path, data: str, *, force: bool = False) -> list[Path]:
    """Write dvc.yaml and params.yaml (and ignore rules) into ``folder``; return what changed."""
    root = Path(folder)
    if not (root / data).exists():
        raise BadInputError(f"{root / data}: no such dataset folder or manifest")
    params = audit_params()
    targets = {root / "dvc.yaml": DVC_YAML.format(data=data, flags=_flags(params)),
               root / "params.yaml": yaml.safe_dump({"data": data, "seed": 0, "audit": params},
                                                    sort_keys=False)}
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
