"""Read this stage's section of params.yaml (dvc.api when inside a DVC repo, else the file)."""

from __future__ import annotations

from pathlib import Path

import yaml

#: The feature cache of the audit and train stages: outside data/ (a DVC output must not be
#: written by another stage) and shared, so training decodes nothing the audit decoded.
CACHE = ".datacheck-cache"


def load_params(stage: str) -> tuple[dict, dict]:
    """(section for ``stage``, all params). Falls back to params.yaml next to the cwd."""
    try:
        import dvc.api

        every = dvc.api.params_show()
    except Exception:  # outside a DVC repo, or dvc missing
        every = yaml.safe_load(Path("params.yaml").read_text()) or {}
    return every.get(stage) or {}, every
