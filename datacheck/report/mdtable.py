"""The Markdown toolkit every PR-comment renderer shares: status icons, escaped cells, tables
that fold after a few rows and stop at a size a GitHub comment can hold (64 KB)."""

from __future__ import annotations

from typing import Any

from .escape import md, plain

ICON = {"pass": "✅ pass", "warn": "⚠️ warn", "fail": "❌ fail"}
#: Rows shown before the fold, and at most per table.
SHOWN = 10
MAX_ROWS = 200


def status(value: Any) -> str:
    """The icon and word of a check status (— when there is none)."""
    return "—" if value is None else ICON.get(value) or md(value)


class Code(str):
    """A cell shown as code, unescaped: only for text of letters, digits, ``_`` and ``-``
    (finding ids)."""


def cell(value: Any) -> str:
    """One escaped table cell: lists show 5 items, floats 3 significant digits."""
    if value is None:
        return ""
    if isinstance(value, Code) and value.replace("-", "").replace("_", "").isalnum():
        return f"`{value}`"
    if isinstance(value, list):
        shown = "<br>".join(md(plain(v)) for v in value[:5])
        return shown + (f"<br>…+{len(value) - 5}" if len(value) > 5 else "")
    if isinstance(value, float):
        return f"{value:.3g}"
    return md(value)


def table(columns: list[tuple[str, str]], rows: list[dict]) -> tuple[list[str], list[str]]:
    """(header lines, one body line per row) for ``columns`` = [(key, header), ...]."""
    head = [f"| {' | '.join(h for _, h in columns)} |", "|" + "---|" * len(columns)]
    body = [f"| {' | '.join(cell(r.get(k)) for k, _ in columns)} |" for r in rows]
    return head, body


def fold(head: list[str], body: list[str], rest_in: str, total: int | None = None) -> list[str]:
    """The first SHOWN rows, the next ones up to MAX_ROWS folded, then where the rest are
    (``total``: how many rows there are, where ``body`` holds only the first MAX_ROWS)."""
    out = head + body[:SHOWN]
    rest = body[SHOWN:MAX_ROWS]
    if rest:
        out += ["", f"<details><summary>{len(rest):,} more</summary>", "", *head, *rest, "",
                "</details>"]
    return out + _beyond(len(body) if total is None else total, rest_in)


def details(summary: str, head: list[str], body: list[str], rest_in: str) -> list[str]:
    """The whole table (up to MAX_ROWS) folded under ``summary``."""
    out = [f"<details><summary>{summary}</summary>", "", *head, *body[:MAX_ROWS], "",
           "</details>"]
    return out + _beyond(len(body), rest_in)


def _beyond(total: int, rest_in: str) -> list[str]:
    return ["", f"…and {total - MAX_ROWS:,} more in {rest_in}."] if total > MAX_ROWS else []
