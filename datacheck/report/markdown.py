"""Markdown for a pull-request comment: a summary table, then the top findings per check."""

from __future__ import annotations

from typing import Any

from .escape import md

ICON = {"pass": "✅ pass", "warn": "⚠️ warn", "fail": "❌ fail"}
#: Findings shown before the fold, and at most in total per check (GitHub comments cap at 64 KB).
SHOWN = 10
MAX_ROWS = 200

#: Columns shown per check: (finding key, header).
COLUMNS = {
    "integrity": [("path", "file"), ("problem", "problem")],
    "duplicates": [("kind", "kind"), ("split", "split"), ("paths", "files"),
                   ("labels", "labels")],
    "leakage": [("kind", "kind"), ("split_a", "split"), ("a", "file"), ("split_b", "split"),
                ("b", "copy"), ("distance", "bits")],
    "balance": [("kind", "kind"), ("split", "split"), ("label", "class"), ("count", "images"),
                ("detail", "detail")],
    "label_noise": [("path", "file"), ("split", "split"), ("given", "given"),
                    ("suggested", "suggested"), ("score", "score")],
}


def render_markdown(report: dict[str, Any]) -> str:
    ds = report["dataset"]
    splits = ", ".join(f"{md(s)} {n:,}" for s, n in ds["splits"].items())
    lines = [
        f"## datacheck: {ICON[report['status']]}",
        "",
        f"**{ds['images']:,} images** in {md(ds['root'])} ({splits}).",
        "",
        "| check | status | summary |",
        "|---|---|---|",
    ]
    for name, check in report["checks"].items():
        lines.append(f"| {name} | {ICON[check['status']]} | {md(check['summary'])} |")
    for name, reason in report.get("skipped", {}).items():
        lines.append(f"| {name} | ⏭️ skipped | {md(reason)} |")
    for name, check in report["checks"].items():
        if check["findings"]:
            lines += ["", *_findings(name, check)]
    if "balance" in report["checks"] and "details" in report["checks"]["balance"]:
        lines += ["", *_counts(report["checks"]["balance"]["details"]["counts"])]
    return "\n".join(lines) + "\n"


def _findings(name: str, check: dict[str, Any]) -> list[str]:
    rows = check["findings"]
    cols = COLUMNS.get(name) or [(k, k) for k in rows[0]]
    head = [f"| {' | '.join(h for _, h in cols)} |", "|" + "---|" * len(cols)]
    body = [f"| {' | '.join(_cell(r.get(k)) for k, _ in cols)} |" for r in rows[:MAX_ROWS]]
    out = [f"### {name}: {len(rows):,} finding{'s' if len(rows) != 1 else ''}", ""]
    out += head + body[:SHOWN]
    if len(body) > SHOWN:
        out += ["", f"<details><summary>{len(body) - SHOWN:,} more</summary>", "", *head,
                *body[SHOWN:], "", "</details>"]
    if len(rows) > MAX_ROWS:
        out += ["", f"…and {len(rows) - MAX_ROWS:,} more in report.json."]
    return out


def _counts(counts: dict[str, dict[str, int]]) -> list[str]:
    splits = list(counts)
    labels = sorted({lab for c in counts.values() for lab in c})
    out = ["<details><summary>class counts per split</summary>", "",
           f"| class | {' | '.join(md(s) for s in splits)} |", "|---|" + "---:|" * len(splits)]
    for lab in labels:
        out.append(f"| {md(lab)} | {' | '.join(str(counts[s].get(lab, 0)) for s in splits)} |")
    return out + ["", "</details>"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        shown = "<br>".join(md(v) for v in value[:5])
        return shown + (f"<br>…+{len(value) - 5}" if len(value) > 5 else "")
    if isinstance(value, float):
        return f"{value:.3g}"
    return md(value)
