"""Checks: pure functions over the scanned table that return a :class:`CheckResult`.

A check reads columns, never decodes images and never prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

STATUSES = ("pass", "warn", "fail")


@dataclass
class CheckResult:
    """One check's verdict: status, a one-line summary, scalar metrics and a findings table."""

    name: str
    status: str
    summary: str
    metrics: dict[str, float] = field(default_factory=dict)
    findings: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Structured extras that are neither scalar metrics nor findings (e.g. class counts).
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")


def worst(*statuses: str) -> str:
    """The most severe of the statuses (fail > warn > pass)."""
    return max(statuses, key=STATUSES.index, default="pass")


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
