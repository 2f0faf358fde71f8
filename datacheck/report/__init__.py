"""The audit report: every CheckResult plus a dataset summary, and its JSON form.

The JSON (schema ``datacheck.audit/1``) is the source of truth; Markdown, terminal text and
``metrics.json`` are rendered from :meth:`AuditReport.to_dict`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import checks as registry
from ..checks import CheckResult, worst
from ..sources.source import Source

SCHEMA = "datacheck.audit/1"
STATUS_CODE = {"pass": 0, "warn": 1, "fail": 2}


@dataclass
class AuditReport:
    """What an audit found. ``stats`` holds run facts (timings, cache use) kept out of the JSON."""

    dataset: dict[str, Any]
    settings: dict[str, Any]
    checks: dict[str, CheckResult]
    #: Checks that were asked for but cannot run on this dataset, with the reason.
    skipped: dict[str, str] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    #: Where the images are (for thumbnails in the HTML report) and a few images per class.
    source: Source | None = None
    samples: dict = field(default_factory=dict)
    #: Relative path -> content digest of every readable image (HTML thumbnails are cached
    #: by digest in the feature cache, ``stats["cache"]``).
    digests: dict = field(default_factory=dict, repr=False)
    #: One row per image (path, digest, split, label, group, bytes, problem), written as
    #: images.parquet: what ``datacheck diff`` compares (:mod:`datacheck.history.versions`).
    images: pd.DataFrame | None = field(default=None, repr=False)
    #: The review decisions applied (:func:`datacheck.review.marks.mark`), None without a file.
    review: dict | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditReport:
        """The report of a ``datacheck.audit/1`` dict (:meth:`to_dict` gives it back): the
        findings become object columns, so every value stays as the JSON had it."""
        checks = {name: CheckResult(name, c["status"], c["summary"], dict(c["metrics"]),
                                    pd.DataFrame(c["findings"], dtype=object),
                                    dict(c.get("details") or {}))
                  for name, c in data["checks"].items()}
        return cls(dict(data["dataset"]), dict(data["settings"]), checks,
                   skipped=dict(data.get("skipped") or {}), review=data.get("review"))

    @property
    def status(self) -> str:
        return worst(*(c.status for c in self.checks.values()))

    def failed(self, names) -> list[str]:
        """Names among ``names`` whose check failed."""
        return [n for n in names if n in self.checks and self.checks[n].status == "fail"]

    def to_dict(self) -> dict[str, Any]:
        known = list(registry.registry())
        ordered = sorted(self.checks, key=lambda n: (known.index(n) if n in known else len(known),
                                                     n))
        return {
            "schema": SCHEMA,
            "status": self.status,
            "dataset": self.dataset,
            "settings": self.settings,
            "checks": {n: _check_dict(self.checks[n]) for n in ordered},
            **({"skipped": self.skipped} if self.skipped else {}),
            **({"review": self.review} if self.review is not None else {}),
        }

    def to_json(self, data: dict[str, Any] | None = None) -> str:
        """The JSON text of ``data`` (default: :meth:`to_dict`), one finding per line."""
        return dumps(self.to_dict() if data is None else data) + "\n"

    def metrics(self) -> dict[str, float]:
        return flat_metrics(self.to_dict())

    def to_html(self, data: dict[str, Any] | None = None) -> str:
        """One self-contained HTML page with inline thumbnails."""
        from .html import render_html

        return render_html(self.to_dict() if data is None else data,
                           self.source or Path("."), samples=self.samples,
                           digests=self.digests, cache_dir=self.stats.get("cache"),
                           workers=self.stats.get("workers"))

    def write(self, out: str | Path, data: dict[str, Any] | None = None) -> dict[str, Path]:
        """Write report.json, report.md, report.html, metrics.json and images.parquet into
        ``out`` (``data``: this report's :meth:`to_dict`, when the caller has it already)."""
        from .markdown import render_markdown

        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        data = self.to_dict() if data is None else data
        paths = {
            "json": folder / "report.json",
            "markdown": folder / "report.md",
            "metrics": folder / "metrics.json",
        }
        paths["json"].write_text(self.to_json(data), encoding="utf-8")
        paths["markdown"].write_text(render_markdown(data), encoding="utf-8")
        paths["metrics"].write_text(json.dumps(flat_metrics(data), indent=2) + "\n",
                                    encoding="utf-8")
        paths["html"] = folder / "report.html"
        paths["html"].write_text(self.to_html(data), encoding="utf-8")
        if self.images is not None:
            from ..history.versions import write_images

            paths["images"] = write_images(self.images, folder)
        return paths


def load_report(path: str | Path) -> AuditReport:
    """The :class:`AuditReport` of a report.json written by ``datacheck audit`` (with the
    images.parquet beside it, when there is one); anything else is one clear BadInputError.
    Its :meth:`AuditReport.to_dict` is the JSON as read."""
    from ..errors import BadInputError
    from ..history.versions import images_beside

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise BadInputError(f"{path}: not a JSON report ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise BadInputError(f"{path}: expected schema {SCHEMA!r}, found {found!r} (give the "
                            f"report.json written by datacheck audit)")
    try:
        report = AuditReport.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInputError(f"{path}: not a complete {SCHEMA} report ({exc})") from None
    report.images = images_beside(path)
    return report


def flat_metrics(data: dict[str, Any]) -> dict[str, float]:
    """Flat, unique numeric keys for ``dvc metrics``: ``check.metric`` and ``check.status``."""
    out: dict[str, float] = {"dataset.images": data["dataset"]["images"]}
    for split, n in data["dataset"]["splits"].items():
        out[f"dataset.split_{split}"] = n
    for name, check in data["checks"].items():
        out[f"{name}.status"] = STATUS_CODE[check["status"]]
        for key, value in check["metrics"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[f"{name}.{key}"] = value
    return out


def dumps(data: Any, indent: str = "") -> str:
    """Indented JSON whose lists of objects (findings) hold one compact object per line:
    readable in a diff, and written by the C encoder (``indent=`` falls back to pure Python,
    ~10x slower on 100k findings)."""
    inner = indent + "  "
    if isinstance(data, dict) and data:
        items = [f"{inner}{_compact(str(k))}: {dumps(v, inner)}" for k, v in data.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        return "[\n" + ",\n".join(inner + _compact(v) for v in data) + "\n" + indent + "]"
    return _compact(data)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


def _check_dict(result: CheckResult) -> dict[str, Any]:
    out = {
        "status": result.status,
        "summary": result.summary,
        "metrics": {k: _plain(v) for k, v in result.metrics.items()},
        "findings": _records(result.findings),
    }
    if result.details:
        out["details"] = _plain(result.details)
    return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON-safe dicts, converted column by column."""
    columns = [_column(frame[c]) for c in frame.columns]
    names = [str(c) for c in frame.columns]
    return [dict(zip(names, values)) for values in zip(*columns)]


def _column(col: pd.Series) -> list[Any]:
    if pd.api.types.is_float_dtype(col.dtype):
        return [v if math.isfinite(v) else None for v in col.tolist()]
    if pd.api.types.is_integer_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
        if col.isna().any():  # nullable integers
            return [_plain(v) for v in col]
        return col.tolist()
    return [_plain(v) for v in col]


def _plain(value: Any) -> Any:
    """JSON-safe Python value: numpy scalars unwrapped, NaN and NA become null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
