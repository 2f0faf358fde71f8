"""An audit's findings marked with the decisions about them.

Each finding gets a ``review`` value: None (not reviewed), ``ok``, or ``fix pending: <fix>``
(decided, not yet applied: the finding is still in the data, so it keeps counting). A check's
status leaves out the findings decided ``ok``: the worst severity of the rest, when the check's
status is the worst of its findings' (``Check.severity``); for other checks, pass once every
finding is reviewed. A decision that matches no finding is *resolved* when its images are still
there, and *stale* when they are all gone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from .. import checks as registry
from ..checks import CheckResult, worst
from .decisions import Decision


def mark(results: dict[str, CheckResult], decisions: dict[str, Decision],
         present: Iterable[str], file: Path | None) -> dict:
    """Mark every result's findings (they need an ``id`` column) in place; return the review
    summary the report keeps: the file, counts, the stale decisions' ids and every decision
    (``entries``: what ``datacheck diff`` compares)."""
    used: set[str] = set()
    reviewed = pending = 0
    for name, result in list(results.items()):
        findings = result.findings
        if not len(findings) or "id" not in findings:
            continue
        marks = [_mark(decisions.get(i)) for i in findings["id"]]
        used.update(i for i in findings["id"] if i in decisions)
        findings = findings.assign(review=marks)
        ok = findings["review"] == "ok"
        fixes = findings["review"].fillna("").str.startswith("fix pending")
        if not ok.any() and not fixes.any():
            results[name] = dataclasses.replace(result, findings=findings)
            continue
        reviewed += int(ok.sum())
        pending += int(fixes.sum())
        notes = [f"{int(ok.sum()):,} reviewed ok" if ok.any() else "",
                 f"{int(fixes.sum()):,} fix pending" if fixes.any() else ""]
        results[name] = dataclasses.replace(
            result, findings=findings,
            status=_status(name, result, findings[~ok]) if ok.any() else result.status,
            summary=f"{result.summary} ({', '.join(n for n in notes if n)})",
            metrics={**result.metrics, "reviewed": int(ok.sum()), "fix_pending": int(fixes.sum())})
    here = set(present)
    unmatched = [d for i, d in decisions.items() if i not in used]
    stale = [d.id for d in unmatched if not any(img in here for img in d.images)]
    return {"file": _shown(file), "decisions": len(decisions),
            "reviewed": reviewed, "fix_pending": pending,
            "resolved": len(unmatched) - len(stale), "stale": stale,
            "entries": [{k: v for k, v in d.as_entry().items()
                         if k in ("id", "decision", "value", "note", "author", "date")}
                        for d in decisions.values()]}


def _shown(file: Path | None) -> str | None:
    """The file relative to the working folder when it is inside it (a report written in a
    DVC pipeline must not depend on where the repository is checked out), else absolute."""
    if file is None:
        return None
    absolute = Path(file).resolve()
    try:
        return absolute.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(absolute)


def _mark(decision: Decision | None) -> str | None:
    if decision is None:
        return None
    if decision.decision == "ok":
        return "ok"
    return f"fix pending: {decision.decision}" + (f" {decision.value}" if decision.value else "")


def _status(name: str, result: CheckResult, remaining) -> str:
    check = registry.get(name)
    if check is None or check.severity is None:
        return "pass" if not len(remaining) else result.status
    every = worst(*(check.severity(r) for r in result.findings.to_dict("records")))
    if every != result.status:  # the status says more than its findings (e.g. labels unrelated)
        return result.status
    return worst(*(check.severity(r) for r in remaining.to_dict("records")))
