"""``datacheck.diff``: what a change did to a dataset and to its audit, from two report.json
files or from one dataset audited at a git revision and in the working tree."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audit import audit
from .errors import BadInputError
from .report import AuditReport, load_report

#: Checks ``diff(path, rev=...)`` runs on both sides unless told otherwise.
DIFF_CHECKS = ("integrity", "duplicates", "leakage", "balance")


def fail_kinds() -> list[str]:
    """``--fail-on`` kinds: new findings of a check diff compares (``new-leakage``), or a kind
    of data change (``relabel``, ``leak-risk``, ...)."""
    from . import checks as registry
    from .history.versions import FAIL_KINDS

    return [f"new-{n.replace('_', '-')}" for n in registry.compared()] + list(FAIL_KINDS)


@dataclass
class Diff:
    """A ``datacheck.diff/1`` dict and the two reports it compares."""

    data: dict[str, Any]
    base: AuditReport
    head: AuditReport
    #: Where each side's images are (for thumbnails; None: the reports' dataset roots, found
    #: when a page is drawn) and the feature cache that may hold them.
    roots: tuple[Any, Any] | None = None
    cache_dir: Path | str | None = None
    #: True when this diff audited both sides (``rev``), False when it read two reports.
    audited: bool = False

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2, ensure_ascii=False, default=str)

    def markdown(self) -> str:
        """The pull-request comment."""
        from .report.diff_markdown import render_diff_markdown

        return render_diff_markdown(self.data)

    @functools.cached_property
    def page(self) -> str:
        """One HTML page with thumbnails: old and new content, old and new label side by
        side (drawn once, however many files it is written to)."""
        from .report.diff_html import render_diff_html, report_folders

        if self.roots is None:  # report_folders reads only each report's dataset section
            roots, cache = report_folders([{"dataset": self.base.dataset},
                                           {"dataset": self.head.dataset}], self.cache_dir)
            self.roots, self.cache_dir = tuple(roots), cache
        return render_diff_html(self.data, base_root=self.roots[0], head_root=self.roots[1],
                                cache_dir=self.cache_dir)

    def failing(self, kinds) -> list[str]:
        """The ``--fail-on`` kinds (:func:`fail_kinds`) this change has."""
        from .history.versions import has_change
        from .report.diff import has_new

        known = fail_kinds()
        unknown = [k for k in kinds if k not in known]
        if unknown:
            raise BadInputError(f"unknown --fail-on kind {unknown[0]!r}; choose from "
                                f"{', '.join(known)}")
        return [k for k in kinds if (has_new(self.data, k) if k.startswith("new-")
                                     else has_change(self.data.get("data"), k))]

    def write(self, out: str | Path) -> list[Path]:
        """diff.json, diff.md and diff.html into ``out``, and, when this diff audited both
        sides, each side's reports into ``out/base`` and ``out/head``."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        if self.audited:
            for side, report in (("base", self.base), ("head", self.head)):
                report.write(folder / side)
                written.append(folder / side)
        for name, text in (("diff.json", self.to_json() + "\n"), ("diff.md", self.markdown()),
                           ("diff.html", self.page)):
            (folder / name).write_text(text, encoding="utf-8")
            written.append(folder / name)
        return written


def diff(base: str | Path, head: str | Path | None = None, *, rev: str | None = None,
         checks=DIFF_CHECKS, cache_dir: str | Path | None = None, progress: bool = True,
         **audit_kw) -> Diff:
    """Compare two audits: ``diff(base_report_json, head_report_json)``, or
    ``diff(path, rev="main")`` to audit dataset ``path`` at git revision ``rev`` (the base,
    DVC-tracked data included) and in the working tree (the head) with ``checks``.
    ``audit_kw`` goes to both audits (``split_map``, ``root``, option shortcuts such as
    ``threshold``)."""
    from .report.diff import diff_reports

    if rev is None:
        if head is None:
            raise BadInputError("give BASE and HEAD report.json files, or a dataset PATH "
                                "and a revision (--rev REV)")
        sides = [load_report(p) for p in (base, head)]
        roots, cache = None, cache_dir
    else:
        if head is not None:
            raise BadInputError("with --rev give one dataset PATH")
        # the head first: what it learns (DVC's md5s) spares reading the base
        head_report = audit(base, checks=list(checks), cache_dir=cache_dir, progress=progress,
                            **audit_kw)
        base_report = audit(base, checks=list(checks), rev=rev, cache_dir=cache_dir,
                            progress=progress, **audit_kw)
        sides = [base_report, head_report]
        roots, cache = (base_report.source, head_report.source), head_report.stats["cache"]
    data = diff_reports(*(r.to_dict() for r in sides), images=(sides[0].images, sides[1].images))
    return Diff(data, sides[0], sides[1], roots, cache, audited=rev is not None)
