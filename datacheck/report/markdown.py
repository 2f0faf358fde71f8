"""Markdown for a pull-request comment: a summary table, then the top findings per check."""

from __future__ import annotations

from typing import Any

from .. import checks as registry
from .escape import md
from .mdtable import ICON, MAX_ROWS, Code, fold, table


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
    for name, check in report["checks"].items():  # the class counts (balance's details)
        spec = registry.get(name)
        if spec and spec.shape == "counts" and "counts" in (check.get("details") or {}):
            lines += ["", *_counts(check["details"]["counts"])]
    return "\n".join(lines) + "\n"


def _findings(name: str, check: dict[str, Any]) -> list[str]:
    every = check["findings"]
    rows = every[:MAX_ROWS]  # the comment shows no more
    columns = registry.columns(name, rows[0])
    if "id" in rows[0]:
        columns = [("id", "id"), *columns]
        rows = [{**r, "id": Code(r["id"])} if r.get("id") else r for r in rows]
    if any(r.get("review") for r in every):
        columns.append(("review", "review"))
    head, body = table(columns, rows)
    return [f"### {name}: {len(every):,} finding{'s' if len(every) != 1 else ''}", "",
            *fold(head, body, "report.json", total=len(every))]


def _counts(counts: dict[str, dict[str, int]]) -> list[str]:
    splits = list(counts)
    labels = sorted({lab for c in counts.values() for lab in c})
    out = ["<details><summary>class counts per split</summary>", "",
           f"| class | {' | '.join(md(s) for s in splits)} |", "|---|" + "---:|" * len(splits)]
    for lab in labels:
        out.append(f"| {md(lab)} | {' | '.join(str(counts[s].get(lab, 0)) for s in splits)} |")
    return out + ["", "</details>"]
