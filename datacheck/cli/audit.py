"""``datacheck audit`` and one command per check (``datacheck leakage``, ...)."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from .. import checks as registry
from ..audit import audit
from ..report.markdown import render_markdown
from ..report.text import print_summary
from .params import audit_options, check_names, handle_errors

#: Option groups every audit reads: where the images are and how they are scanned.
BASE_GROUPS = ("source", "scan")


def run_audit(checks: list[str] | None, **kw) -> None:
    """Audit, print in the format asked for, write the reports, exit 1 on a --fail-on."""
    fail_on = kw.pop("fail_on")
    out, fmt = kw.pop("out"), kw.pop("fmt")
    ran = checks or [n for n, c in registry.registry().items() if c.default]
    if fail_on == ["any"]:
        fail_on = list(ran)
    missing = [c for c in fail_on if c not in ran]
    if missing:
        raise click.UsageError(f"--fail-on {missing[0]} names a check this command does not run")
    report = audit(kw.pop("path"), checks=checks, **kw)
    data = report.to_dict()
    if fmt == "json":
        click.echo(report.to_json(data), nl=False)
    elif fmt == "markdown":
        click.echo(render_markdown(data), nl=False)
    elif fmt == "html":
        click.echo(report.to_html(data), nl=False)
    else:
        print_summary(data, Console(highlight=False))
    err = Console(stderr=True, highlight=False, soft_wrap=True)  # paths unbroken
    if out:
        paths = report.write(out, data)
        err.print(f"reports: {', '.join(str(p) for p in paths.values())}", markup=False)
    stats = report.stats
    decode = stats["stages"]["decode"]
    on = (f" on {decode['where']} ({decode['workers']} workers)"
          if decode["where"] not in ("local", "cache") else "")
    err.print(f"{stats['decoded']:,} images decoded{on}, the rest from the cache; "
              f"{stats['seconds']:.1f} s", markup=False)
    failed = report.failed(fail_on)
    if failed:
        err.print(f"failing: {', '.join(failed)}", markup=False)
        sys.exit(1)


@click.command("audit", help="Run every check: " + ", ".join(registry.names()) + ".")
@audit_options()
@click.option("--checks", callback=check_names, default=None,
              help="Checks to run (comma list of " + ", ".join(registry.names()) + ") [default: "
                   "all; label_noise trains within --train-minutes].")
@handle_errors
def audit_cmd(checks, **kw) -> None:
    run_audit(checks, **kw)


def check_command(check: registry.Check) -> click.Command:
    """``datacheck NAME``: one check, with only the option groups it reads."""
    @audit_options(BASE_GROUPS + tuple(check.options))
    @handle_errors
    def command(**kw) -> None:
        run_audit([check.name], **kw)

    command.__doc__ = check.doc
    return click.command(check.name.replace("_", "-"))(command)


def check_commands() -> list[click.Command]:
    return [check_command(c) for c in registry.registry().values() if c.name != "integrity"]
