"""Checks: one module each, registered as a :class:`Check` spec.

A check reads the scanned table (and what the audit context computes once and shares: verified
copy pairs, thumbnails, model outputs), never decodes images itself and never prints. Its spec
says everything the rest of datacheck needs to know about it: name, title, report order, the
option groups it reads, how to run it, its finding kinds and how a finding renders (Markdown
columns, one line of text). ``audit()``, the CLI, report renderers and ``datacheck init`` all
read the registry, so adding a check is one new module plus :func:`register`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from ..context import AuditContext

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


#: The forms findings take, which decide how the HTML report draws them and how
#: ``datacheck diff`` matches them across two reports: ``pairs`` (two images ``a``, ``b`` with
#: ``digest_a``, ``digest_b``; a ``group`` finding by its group and splits), ``clusters``
#: (``paths``, ``digests``, ``split``), ``images`` (one image ``path``, ``digest``, ``given``
#: and ``suggested`` labels), ``sheets`` (one image per finding, a contact sheet per
#: ``kind``), ``files`` (files that cannot be used), ``counts`` (class counts in
#: ``details``), ``table`` (any findings, as a table).
SHAPES = ("pairs", "clusters", "images", "sheets", "files", "counts", "table")
#: The shapes ``datacheck diff`` can match finding by finding.
DIFFABLE = ("pairs", "clusters", "images")


class Skip(Exception):  # noqa: N818 - it is an outcome, not an error
    """Raised by a check's ``run`` when it cannot run on this dataset; the message says why."""


@dataclass(frozen=True)
class Check:
    """A registered check."""

    name: str
    title: str
    #: Position in reports (and run order: a check may read the results of earlier ones).
    order: int
    run: Callable[[AuditContext], CheckResult]
    #: What it finds, in one sentence (CLI help).
    doc: str = ""
    #: Option groups (names in :data:`datacheck.options.GROUPS`) the check reads.
    options: tuple[str, ...] = ()
    #: Markdown table columns: (finding key, header).
    columns: tuple[tuple[str, str], ...] = ()
    #: One line of terminal text per finding.
    line: Callable[[dict[str, Any]], str] | None = None
    #: Run when no check is named (label_noise trains within its time budget).
    default: bool = True
    #: The status one finding alone gives, when the check's status is the worst of its
    #: findings': lets a review take findings decided "ok" out of the status.
    severity: Callable[[dict[str, Any]], str] | None = None
    #: The form of its findings (one of :data:`SHAPES`).
    shape: str = "table"
    #: What one and many findings are called (``("leak", "leaks")``); with a shape in
    #: :data:`DIFFABLE`, ``datacheck diff`` compares its findings, else only its status.
    nouns: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}, not {self.shape!r}")


#: Registered checks by name.
REGISTRY: dict[str, Check] = {}
BUILTIN = ("integrity", "duplicates", "leakage", "balance", "label_noise", "shift",
           "quality", "splits", "shortcuts", "order")


def register(check: Check) -> Check:
    """Add (or replace) a check in the registry."""
    REGISTRY[check.name] = check
    return check


def registry() -> dict[str, Check]:
    """Every registered check, in report order (the built-in ones imported on first use)."""
    for name in BUILTIN:
        if name not in REGISTRY:
            importlib.import_module(f"{__name__}.{name}")
    return dict(sorted(REGISTRY.items(), key=lambda kv: (kv[1].order, kv[0])))


def names() -> tuple[str, ...]:
    return tuple(registry())


def compared() -> dict[str, Check]:
    """The checks whose findings ``datacheck diff`` compares, in report order."""
    return {n: c for n, c in registry().items() if c.nouns and c.shape in DIFFABLE}


def get(name: str) -> Check | None:
    return registry().get(name)


#: Keys every finding gets after the checks (its id, its review mark): not the check's own.
REVIEW_KEYS = ("id", "review")


def line(name: str, row: dict[str, Any]) -> str:
    """One line of text for a finding of check ``name`` (a generic one for unknown checks)."""
    check = get(name)
    if check is not None and check.line is not None:
        return check.line(row)
    return ", ".join(f"{k}={v}" for k, v in row.items() if k not in REVIEW_KEYS)


def columns(name: str, row: dict[str, Any]) -> list[tuple[str, str]]:
    """Markdown columns of check ``name`` (every key of ``row`` but the review keys for
    unknown checks)."""
    check = get(name)
    return list(check.columns) if check is not None and check.columns else \
        [(k, k) for k in row if k not in REVIEW_KEYS]


def worst(*statuses: str) -> str:
    """The most severe of the statuses (fail > warn > pass)."""
    return max(statuses, key=STATUSES.index, default="pass")


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
