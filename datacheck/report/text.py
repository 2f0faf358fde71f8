"""Terminal summary: one table of checks, then a few findings of each check that did not pass."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import checks as registry

STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}
SHOWN = 5


def print_summary(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    ds = report["dataset"]
    splits = ", ".join(f"{s} {n:,}" for s, n in ds["splits"].items())
    console.print(Text(f"{ds['images']:,} images in {ds['root']} ({splits})"))
    table = Table(show_header=True, header_style="bold")
    table.add_column("check")
    table.add_column("status")
    table.add_column("summary", overflow="fold")
    for name, check in report["checks"].items():
        table.add_row(name, Text(check["status"], style=STYLE[check["status"]]),
                      Text(check["summary"]))
    for name, reason in report.get("skipped", {}).items():
        table.add_row(name, Text("skipped", style="dim"), Text(reason))
    console.print(table)
    for name, check in report["checks"].items():
        if check["status"] == "pass" or not check["findings"]:
            continue
        console.print(Text(f"{name}:", style="bold"))
        # findings decided ok last: what still needs a look comes first
        rows = sorted(check["findings"], key=lambda r: r.get("review") == "ok")
        for row in rows[:SHOWN]:
            console.print(Text("  " + finding_line(name, row)))
        if len(check["findings"]) > SHOWN:
            console.print(Text(f"  … {len(check['findings']) - SHOWN:,} more in the report"))


def finding_line(name: str, row: dict[str, Any]) -> str:
    """A finding's terminal line: its id, the check's line for it, and its review mark."""
    review = f" [{row['review']}]" if row.get("review") else ""
    head = f"{row['id']} " if row.get("id") else ""
    return head + registry.line(name, row) + review
