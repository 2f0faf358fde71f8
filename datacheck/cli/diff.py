"""``datacheck diff``: what changed between two audits."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..compare import DIFF_CHECKS, diff, fail_kinds
from .params import (
    check_names,
    choices,
    group_fields,
    group_option,
    handle_errors,
    split_map,
    with_options,
)


def _every_group_option(func):
    """Every option group's fields (--hash, --threshold, --cache, ...), for ``diff --rev``."""
    return with_options(func, [group_option(f) for f in group_fields()])


@click.command("diff")
@click.argument("paths", nargs=-1, required=True, metavar="BASE HEAD | --rev REV PATH")
@click.option("--rev", default=None, metavar="REV",
              help="Audit PATH at git revision REV (the base) and in the working tree (the "
                   "head), DVC-tracked data included, and compare: no second work tree.")
@click.option("--checks", "diff_checks", callback=check_names, default=",".join(DIFF_CHECKS),
              show_default=True, help="With --rev: the checks both audits run.")
@click.option("--split", "split_map", multiple=True, callback=split_map, metavar="NAME=SPLIT",
              help="With --rev: treat split NAME as SPLIT. Repeatable.")
@click.option("--root", type=click.Path(file_okay=False), default=None,
              help="With --rev: folder a manifest's paths are relative to.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="With --rev: write base/ and head/ reports (report.json, report.md, "
                   "report.html, images.parquet, ...) and diff.json, diff.md, diff.html here.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown",
              show_default=True)
@click.option("--html", "html_file", type=click.Path(dir_okay=False), default=None,
              help="Also write the diff as one HTML page with thumbnails (old and new content, "
                   "old and new label side by side) to this file; --rev --out writes diff.html.")
@click.option("--fail-on", "fail_on", multiple=True, callback=choices(fail_kinds()),
              metavar="KINDS",
              help="Exit 1 when the change has one of these (comma list, repeatable): new-CHECK, "
                   "the head adds findings of CHECK; relabel, split-move, leak-risk (a move "
                   "into a later split), modified, removed: the data change has such images. "
                   "One of: " + ", ".join(fail_kinds()) + ".")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="With --rev: progress bars on stderr.")
@_every_group_option
@handle_errors
def diff_cmd(paths, rev, diff_checks, split_map, root, out, fmt, html_file, fail_on, progress,
             **options) -> None:
    """What changed between two audits: the findings a change added or removed, and what it
    did to the data (images added, removed, modified, renamed, relabelled, moved between
    splits). BASE and HEAD are report.json files (their images.parquet beside them), or with
    --rev REV, one dataset PATH audited at REV and in the working tree."""
    for field in group_fields():
        if field.name in options and options[field.name] == field.default:
            del options[field.name]  # only what was given goes on to the audits
    if rev is None and len(paths) != 2:
        raise click.UsageError("give BASE and HEAD report.json files, or --rev REV PATH")
    if rev is not None and len(paths) != 1:
        raise click.UsageError("with --rev give one dataset PATH")
    result = diff(*paths, rev=rev, checks=diff_checks, split_map=split_map, root=root,
                  progress=progress, **options)
    if rev is not None:
        head, base = result.head.stats, result.base.stats
        click.echo(f"decoded: head {head['decoded']:,} images ({head['seconds']:.1f} s), base "
                   f"at {rev} {base['decoded']:,} ({base['seconds']:.1f} s); the rest from "
                   f"the cache", err=True)
    if html_file:
        Path(html_file).parent.mkdir(parents=True, exist_ok=True)
        Path(html_file).write_text(result.page, encoding="utf-8")
    if rev is not None and out:
        result.write(out)
        click.echo(f"reports: {out}/base, {out}/head, {out}/diff.json, {out}/diff.md, "
                   f"{out}/diff.html", err=True)
    click.echo(result.to_json() if fmt == "json" else result.markdown(), nl=fmt == "json")
    failing = result.failing(fail_on)
    if failing:
        click.echo(f"failing: {', '.join(failing)}", err=True)
        sys.exit(1)
