"""The data-change section of the diff comment: what a change did to the images (see
:mod:`datacheck.history.versions`), as plain text and as Markdown tables that fit a comment."""

from __future__ import annotations

from typing import Any

from ..history.versions import KINDS
from .mdtable import table

#: Columns of each section's table: (key, header).
_COLUMNS = {
    "added": (("split", "split"), ("label", "class"), ("path", "file")),
    "removed": (("split", "split"), ("label", "class"), ("path", "file")),
    "modified": (("split", "split"), ("label", "class"), ("path", "file")),
    "renamed": (("split", "split"), ("base_path", "was"), ("path", "now")),
    "relabelled": (("split", "split"), ("path", "file"), ("base_label", "was"),
                   ("label", "now")),
    "split_moved": (("label", "class"), ("path", "file"), ("base_split", "was"),
                    ("split", "now"), ("risk", "leak risk")),
    "regrouped": (("split", "split"), ("path", "file"), ("base_group", "was"),
                  ("group", "now")),
}
#: Rows shown per table before the fold, and the row caps tried until the comment fits.
SHOWN = 10
ROW_CAPS = (100, 40, 15, 5, 0)
#: GitHub's comment limit is 65,536 characters; the rest of the comment needs room too.
BUDGET = 60_000


def summary_text(data: dict[str, Any]) -> str:
    """``20 images added · 3 modified · ...`` (plain text), or why the data was not compared."""
    if not data or not data.get("compared"):
        return "not compared" + (f" ({data['reason']})" if data and data.get("reason")
                                 else "")
    s = data.get("summary") or {}
    parts = [f"{s[k]:,} {KINDS[k][s[k] != 1].split(' ', 1)[1]}" for k in KINDS if s.get(k)]
    if s.get("leak_risk"):
        parts.append(f"{s['leak_risk']:,} into a later split (leak risk)")
    return ", ".join(parts) if parts else "no change"


def render_data_markdown(data: dict[str, Any], budget: int = BUDGET) -> list[str]:
    """The data-change section of the diff comment (lines), its tables folded and cut so that
    the section stays within ``budget`` characters."""
    if not data or not data.get("compared"):
        reason = (data or {}).get("reason")
        # the reasons are datacheck's own words (no file names): no escaping needed
        return ["", f"### Data: not compared ({reason})"] if reason else []
    lines: list[str] = []
    for cap in ROW_CAPS:
        lines = ["", f"### Data: {summary_text(data)}"]  # numbers and fixed words only
        for kind in KINDS:
            rows = data.get(kind) or []
            if not rows:
                continue
            shown = [dict(r, risk="⚠️ yes" if r.get("leak_risk") else "") for r in rows]
            head, body = table(list(_COLUMNS[kind]), shown)
            noun = KINDS[kind][len(rows) != 1]
            lines += ["", f"#### {len(rows):,} {noun}", "", *_fold(head, body, cap)]
        if sum(len(x) + 1 for x in lines) <= budget:
            break
    return lines


def _fold(head: list[str], body: list[str], cap: int) -> list[str]:
    """The first SHOWN rows (at most ``cap``), the rest up to ``cap`` folded, then a pointer
    to the JSON for anything beyond."""
    out = head + body[:min(SHOWN, cap)] if cap else []
    rest = body[SHOWN:cap]
    if rest:
        out += ["", f"<details><summary>{len(rest):,} more</summary>", "", *head, *rest, "",
                "</details>"]
    if len(body) > cap:
        out += ["", f"…{'and ' if cap else ''}{len(body) - cap:,} "
                    f"{'more ' if cap else ''}in the JSON diff (`--format json`)."]
    return out
