"""The pull-request comment for a ``datacheck.diff/1`` dict (see :mod:`datacheck.report.diff`)."""

from __future__ import annotations

from typing import Any

from .. import checks as registry
from .diff import has_new
from .escape import md, plain
from .mdtable import Code, cell, details, fold, status, table

#: Where rows beyond a table's limit are.
JSON = "the JSON diff"


def summary_line(diff: dict[str, Any]) -> str:
    """``1 new leak, 0 removed · 0 new duplicate clusters, 0 removed · ...`` (plain text)."""
    parts = []
    for key, check in registry.compared().items():
        part = diff.get(key) or {}
        if not part.get("compared"):
            continue
        n, r = len(part.get("added") or []), len(part.get("removed") or [])
        text = f"{n:,} new {check.nouns[n != 1]}, {r:,} removed"
        grown = sum(1 for c in part.get("changed") or [] if c.get("joined"))
        if grown:
            text += f", {grown:,} grown"
        parts.append(text)
    n = len(diff.get("class_counts") or [])
    if n:
        parts.append(f"{n:,} class count{'' if n == 1 else 's'} changed")
    return " · ".join(parts) if parts else "nothing to compare"


def render_diff_markdown(diff: dict[str, Any]) -> str:
    """A GitHub pull-request comment for a ``datacheck.diff/1`` dict. Every file name, label and
    value from the reports is escaped; long tables fold into ``<details>``."""
    from ..history.versions import has_change
    from .data_diff import BUDGET, render_data_markdown, summary_text

    data = diff.get("data")
    new = any(has_new(diff, k) for k in registry.compared()) or has_change(data, "leak-risk")
    icon = "❌" if new else "✅"
    base, head = diff.get("base") or {}, diff.get("head") or {}
    headline = summary_line(diff) + (f" · data: {summary_text(data)}" if data is not None
                                      else "")
    lines = [f"## datacheck diff: {icon} {headline}", ""]
    lines.append(f"Base: {status(base.get('status'))}, {_int(base.get('images'))} images · "
                 f"head: {status(head.get('status'))}, {_int(head.get('images'))} images.")
    if diff.get("settings"):
        changed = ", ".join(f"{md(k)} {md(plain(v.get('base')))} → {md(plain(v.get('head')))}"
                            for k, v in diff["settings"].items())
        lines += ["", f"> Settings differ between the two audits ({changed}); some changes "
                      "below may come from the settings, not the data."]
    lines += ["", "| check | base | head |", "|---|---|---|"]
    for name, st in (diff.get("checks") or {}).items():
        b, h = st.get("base_status"), st.get("head_status")
        mark = "" if b == h else " ⬅️ changed"
        lines.append(f"| {md(name)} | {status(b)} | {status(h)}{mark} |")
    at = len(lines)  # the data section goes here, sized to what the rest leaves
    for key, spec in registry.compared().items():
        lines += _section(diff, key, spec.title, spec.nouns, spec.columns)
    for key, title, cols in (("split_counts", "Images per split", ("split",)),
                             ("class_counts", "Images per class", ("split", "label"))):
        rows = diff.get(key) or []
        if not rows:
            continue
        header = [*cols, "base", "head", "change"]
        table = [f"| {' | '.join('class' if c == 'label' else c for c in header)} |",
                 "|" + "---|" * len(cols) + "---:|---:|---:|"]
        body = [f"| {' | '.join(md(r.get(c)) for c in cols)} | {_int(r.get('base'))} | "
                f"{_int(r.get('head'))} | {_signed(r.get('change'))} |" for r in rows]
        lines += ["", f"### {title}: {len(rows):,} changed", "", *fold(table, body, JSON)]
    if diff.get("decisions"):
        lines += _decisions(diff["decisions"])
    if data is not None:
        left = BUDGET - sum(len(x) + 1 for x in lines)
        lines[at:at] = render_data_markdown(data, budget=max(left, 2_000))
    return "\n".join(lines) + "\n"


def _section(diff: dict[str, Any], key: str, title: str, what: tuple[str, str],
             cols) -> list[str]:
    part = diff.get(key) or {}
    if not part.get("compared"):
        reason = part.get("reason")
        return ["", f"### {title}: not compared ({md(reason)})"] if reason and \
            reason != "in neither report" else []
    out: list[str] = []
    for which, label in (("added", "new"), ("removed", "removed")):
        rows = part.get(which) or []
        if not rows:
            continue
        use = list(cols) if all(k in r for r in rows for k, _ in cols[:1]) else _generic_cols(rows)
        if any(r.get("review") for r in rows) and ("review", "review") not in use:
            use.append(("review", "review"))
        head, body = table(use, rows)
        out += ["", f"### {title}: {len(rows):,} {label}", ""]
        out += fold(head, body, JSON) if which == "added" else details(
            f"{len(rows):,} removed {what[len(rows) != 1]}", head, body, JSON)
    changed = part.get("changed") or []
    if changed:
        head = ["| split | files now | joined | left |", "|---|---|---|---|"]
        body = [f"| {md(c.get('split'))} | {cell(c.get('paths'))} | {cell(c.get('joined'))} | "
                f"{cell(c.get('left'))} |" for c in changed]
        out += ["", f"### {title}: {len(changed):,} changed", "", *fold(head, body, JSON)]
    if not out:
        out = ["", f"### {title}: no change"]
    if part.get("identity") == "path" and (part.get("added") or part.get("removed")):
        out += ["", "<sub>Matched by file path: a renamed file shows as removed and new.</sub>"]
    return out


def _decisions(part: dict[str, Any]) -> list[str]:
    """The review decisions the change added, changed or removed."""
    cols = [("id", "finding"), ("decision", "decision"), ("value", "value"), ("note", "note"),
            ("author", "author"), ("date", "date")]
    out: list[str] = []
    added, removed = part.get("added") or [], part.get("removed") or []
    changed = [{**c["head"], "decision": f"{c['base'].get('decision')} → "
                                         f"{c['head'].get('decision')}"}
               for c in part.get("changed") or []]
    for rows, label in ((added, "added"), (changed, "changed"), (removed, "removed")):
        if rows:
            head, body = table(cols, [{**r, "id": Code(r.get("id") or "")} for r in rows])
            out += ["", f"### Review decisions: {len(rows):,} {label}", "",
                    *fold(head, body, JSON)]
    return out or ["", "### Review decisions: no change"]


def _generic_cols(rows: list[dict]) -> list[tuple[str, str]]:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return [(k, md(k)) for k in keys]


def _int(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return md(plain(value))


def _signed(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:+,}"
    return md(plain(value))
