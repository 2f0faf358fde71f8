"""Review decisions: go through findings on a local page (``review_server``), record what was
decided from scripts (``decide``), and write the dataset with the decided fixes applied
(``apply``). The decisions file's format and how audits honour it: :mod:`datacheck.review`."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from . import checks as registry
from .audit import audit
from .errors import BadInputError
from .review import decisions as decided
from .review.fixes import apply_fixes, decision_for
from .sources.dataset import load_dataset
from .sources.split_names import SPLITS

log = logging.getLogger(__name__)

#: A cleaned manifest's columns (what ``load_dataset`` reads back).
MANIFEST_COLUMNS = ["path", "label", "split", "group"]


def decide(path: str | os.PathLike, ids: list[str], decision: str, *, value: str | None = None,
           note: str = "", decisions: str | os.PathLike | None = None,
           **options: Any) -> tuple[Path, list[decided.Decision]]:
    """Record ``decision`` (ok, drop, relabel, move, keep-one) for the findings ``ids`` of the
    dataset at ``path`` in the decisions file (default: :func:`decisions.default_path`).
    The checks the ids name are audited again (from the cache) to find them; ``options`` go to
    :func:`datacheck.audit`. Returns the file and the decisions written."""
    if decision not in decided.DECISIONS:
        raise BadInputError(f"decision must be one of {', '.join(decided.DECISIONS)}")
    if decision in ("relabel", "move") and not value:
        raise BadInputError(f"{decision} needs a value (the new "
                            f"{'label' if decision == 'relabel' else 'split'})")
    if decision == "move" and value not in SPLITS:
        raise BadInputError(f"move to one of {', '.join(SPLITS)}, not {value!r}")
    checks = _checks_of(ids)
    file = _file(path, decisions, options)
    report = audit(path, checks=checks, decisions=file if file.is_file() else None, **options)
    rows = {}
    for name in checks:
        findings = report.checks[name].findings if name in report.checks else pd.DataFrame()
        rows.update({r["id"]: (name, r) for r in findings.to_dict("records")} if len(findings)
                    else {})
    missing = [i for i in ids if i not in rows]
    if missing:
        raise BadInputError(f"{missing[0]} matches no finding in {path} (ids come from "
                            "`datacheck audit`; a fixed finding is gone)")
    if decision == "keep-one" and any(rows[i][0] != "duplicates" for i in ids):
        raise BadInputError("keep-one is for duplicate clusters (duplicates-... ids)")
    known = decided.load(file)
    written = []
    for finding_id in dict.fromkeys(ids):
        name, row = rows[finding_id]
        made = decision_for(finding_id, name, row, decision, value, note, report.images)
        if finding_id in known:
            log.warning("%s: replaces the earlier decision (%s)", finding_id,
                        known[finding_id].decision)
            del known[finding_id]
        known[finding_id] = made
        written.append(made)
    decided.save(file, known)
    return file, written


def apply(path: str | os.PathLike, out: str | os.PathLike, *,
          decisions: str | os.PathLike | None = None,
          **options: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write ``out`` (a CSV manifest: path,label,split,group, paths relative to the dataset's
    root) with every decided fix applied to the dataset at ``path``; files are not touched.
    Returns the manifest and the changes (path, action, value, reason)."""
    file = _file(path, decisions, options)
    if not file.is_file():
        raise BadInputError(f"no decisions file at {file} (record decisions with "
                            "`datacheck decide`, or name one with --decisions)")
    report = audit(path, checks=["integrity"], **options)
    table, changes = apply_fixes(report.images, decided.load(file))
    manifest = table[MANIFEST_COLUMNS]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(out, index=False)
    return manifest, changes


def _file(path, decisions, options: dict) -> Path:
    """The decisions file: the one named, or the default beside the dataset."""
    if decisions:
        return Path(decisions)
    root = load_dataset(path, split_map=options.get("split_map"), root=options.get("root")).root
    if not isinstance(root, Path):
        raise BadInputError(f"{path} is not local: name the decisions file with --decisions")
    return decided.default_path(root)


def _checks_of(ids: list[str]) -> list[str]:
    if not ids:
        raise BadInputError("name at least one finding id (from `datacheck audit`)")
    names = registry.names()
    checks = []
    for finding_id in ids:
        name = finding_id.rpartition("-")[0]
        if name not in names:
            raise BadInputError(f"{finding_id} is not a finding id (such as leakage-3f2a9c1b2d)")
        checks.append(name)
    return list(dict.fromkeys(checks))


def review_server(path: str | os.PathLike, *, port: int = 0,
                  decisions: str | os.PathLike | None = None,
                  checks: list[str] | None = None, **options: Any):
    """Audit the dataset at ``path`` and return a werkzeug server (not yet serving) on
    127.0.0.1 for its review page, and the page's URL with the session's token."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    from .review.page import make_app

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs) -> None:  # URLs carry the token: not logged
            pass

    file = _file(path, decisions, options)
    report = audit(path, checks=checks, decisions=file if file.is_file() else None, **options)
    app = make_app(report.to_dict(), {n: c.findings for n, c in report.checks.items()
                                      if len(c.findings)}, report.images, report.source, file,
                   cache_dir=report.stats.get("cache"))
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=Quiet)
    return server, f"http://127.0.0.1:{server.server_port}/?token={app.config['TOKEN']}"
