"""Terminal summary: one table of checks, then a few findings of each check that did not pass."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

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
        for row in check["findings"][:SHOWN]:
            console.print(Text("  " + _line(name, row)))
        if len(check["findings"]) > SHOWN:
            console.print(Text(f"  … {len(check['findings']) - SHOWN:,} more in the report"))


def _line(name: str, row: dict[str, Any]) -> str:
    if name == "leakage":
        if row["kind"] == "group":
            return f"group {row['group']}: {row['split_a']} and {row['split_b']}"
        return f"{row['kind']} ({row['distance']} bits): {row['a']} == {row['b']}"
    if name == "duplicates":
        return f"{row['kind']} in {row['split']}: " + ", ".join(row["paths"][:4])
    if name == "integrity":
        return f"{row['path']}: {row['problem']}"
    if name == "balance":
        return f"{row['split']}: {row['detail']}"
    return ", ".join(f"{k}={v}" for k, v in row.items())
