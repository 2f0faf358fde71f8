"""The ``datacheck`` command line: thin Click wrappers over the Python API."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console

from . import __version__
from . import checks as registry
from . import options as grouped
from .audit import audit
from .errors import DatacheckError
from .report.markdown import render_markdown
from .report.text import print_summary


def _split_map(ctx, param, values) -> dict[str, str]:
    mapping = {}
    for value in values:
        name, sep, target = value.partition("=")
        if not sep or not name or not target:
            raise click.BadParameter(f"{value!r} is not NAME=SPLIT (e.g. validation=val)")
        mapping[name] = target
    return mapping


def _names(ctx, param, value) -> list[str] | None:
    if value is None:
        return None
    names = [v.strip().replace("-", "_") for v in value.split(",") if v.strip()]
    if param.name == "fail_on" and names == ["any"]:
        return names  # every check the command runs
    known = registry.names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise click.BadParameter(f"unknown check {unknown[0]!r}; choose from {', '.join(known)}")
    return names


_TYPES = {"int": int, "float": float, "str": str}


def _click_option(field):
    """A Click option for one field of an options dataclass (see datacheck.options)."""
    meta = field.metadata
    flag = meta.get("flag") or "--" + field.name.replace("_", "-")
    kw = {"default": field.default, "help": meta["help"], "envvar": meta.get("envvar"),
          "show_default": field.default not in (None, "")}
    if isinstance(field.default, bool):
        return click.option(f"{flag}/--no-{flag[2:]}", field.name, default=field.default,
                            show_default=True, help=meta["help"])
    if meta.get("choices"):
        kw["type"] = click.Choice(list(meta["choices"]))
    elif meta.get("kind") == "path":
        kw["type"] = click.Path(dir_okay=False)
    elif meta.get("kind") == "folder":
        kw["type"] = click.Path(file_okay=False)
    elif meta.get("kind") == "pair":
        kw.update(nargs=2, metavar="A B", type=str)
    else:
        kw["type"] = _TYPES[str(field.type).split(" ")[0]]
    return click.option(flag, field.name, **kw)


def audit_options(func):
    """Options shared by every command that audits a dataset: the dataset, every option group's
    fields, and what to write."""
    options = [
        click.argument("path", type=click.Path(path_type=str)),
        click.option("--split", "split_map", multiple=True, callback=_split_map,
                     metavar="NAME=SPLIT",
                     help="Treat folder or manifest split NAME as SPLIT (train, train-val, val, "
                          "test-val, test); for shards, SPLIT=GLOB puts the shards the glob "
                          "matches in SPLIT (train='train-*.tar'). Repeatable."),
        click.option("--root", type=click.Path(file_okay=False), default=None,
                     help="Folder a manifest's paths are relative to [default: its folder]."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed for every random choice."),
        click.option("--rev", default=None, metavar="REV",
                     help="Audit PATH as it was at this git revision (branch, tag, commit), "
                          "DVC-tracked data included: read from git and the DVC cache or "
                          "remote, no work tree needed."),
        *[_click_option(f) for cls in grouped.GROUPS.values() for f in grouped.fields(cls)],
        click.option("--out", type=click.Path(file_okay=False), default=None,
                     help="Write report.json, report.md, report.html and metrics.json here."),
        click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "html"]),
                     default="text", show_default=True, help="What to print on stdout."),
        click.option("--fail-on", callback=_names, default="", metavar="CHECKS",
                     help="Exit 1 when one of these checks fails (comma list, or 'any')."),
        click.option("--decisions", type=click.Path(dir_okay=False), default=None,
                     help="Review decisions file [default: datacheck.decisions.yaml at the top "
                          "of the dataset's git repository, when it exists]."),
        click.option("--progress/--no-progress", default=True, show_default=True,
                     help="Progress bars on stderr (shown only on a terminal)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _run(checks: list[str] | None, **kw) -> None:
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
    err.print(f"{stats['decoded']:,} images decoded, the rest from the cache; "
              f"{stats['seconds']:.1f} s", markup=False)
    failed = report.failed(fail_on)
    if failed:
        err.print(f"failing: {', '.join(failed)}", markup=False)
        sys.exit(1)


def _handle_errors(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DatacheckError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datacheck")
def cli() -> None:
    """Audit an image-classification dataset before training.

    PATH is a folder (SPLIT/CLASS/FILE or CLASS/FILE), a zip of one, a CSV/Parquet manifest
    with columns path,label[,split][,group], Parquet/Arrow shards with an image column
    (Hugging Face layout) or WebDataset .tar shards; a local path or an fsspec URL. Exit
    codes: 0 clean or warnings only, 1 a check named in --fail-on failed, 2 bad input.
    """


@cli.command("audit", help="Run every check: " + ", ".join(registry.names()) + ".")
@audit_options
@click.option("--checks", callback=_names, default=None,
              help="Checks to run (comma list of " + ", ".join(registry.names()) + ") [default: "
                   "all; label_noise trains within --train-minutes].")
@_handle_errors
def audit_cmd(checks, **kw) -> None:
    _run(checks, **kw)


def _single(check) -> None:
    @audit_options
    @_handle_errors
    def command(**kw) -> None:
        _run([check.name], **kw)

    command.__doc__ = check.doc
    cli.command(check.name.replace("_", "-"))(command)


for _check in registry.registry().values():
    if _check.name != "integrity":
        _single(_check)


@cli.command("augmentations")
@click.argument("path", type=click.Path(path_type=str))
@click.option("--transform", required=True, metavar="MODULE:CALLABLE",
              help="Augmentation: a callable taking a PIL image (module path or file.py).")
@click.option("--sample", type=click.IntRange(10), default=500, show_default=True,
              help="Images augmented (seeded, stratified).")
@click.option("--model", type=click.Choice(["cnn", "mlp", "linear"]), default="cnn",
              show_default=True, help="Cross-validated model that judges the images.")
@click.option("--epochs", type=int, default=None, help="Training epochs [default: by size].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False), default=None,
              help="Feature cache folder [default: PATH/.datacheck].")
@click.option("--out", type=click.Path(dir_okay=False), default="augmentations.html",
              show_default=True, help="Contact sheet (original next to augmented).")
@click.option("--embed", metavar="MODEL", default=None,
              help="Judge with a linear probe on embeddings of a model you have (TorchScript "
                   "file, torchvision:NAME, timm:NAME, open_clip:NAME; local weights only).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--progress/--no-progress", default=True)
@_handle_errors
def augmentations_cmd(path, transform, sample, model, epochs, device, seed, cache_dir, out,
                      embed, fmt, progress) -> None:
    """Is an augmentation too strong? Exit 1 when the share of augmented images that no
    longer show their label exceeds the model's error rate."""
    from .augment import run_augmentations

    result = run_augmentations(path, transform, sample=sample, model=model, epochs=epochs,
                               device=device, seed=seed, cache_dir=cache_dir, out=out,
                               embed=embed, progress=progress)
    if fmt == "json":
        click.echo(json.dumps({"status": result.status, "summary": result.summary,
                               "metrics": result.metrics, "classes": result.classes}, indent=2))
    else:
        click.echo(f"{result.status}: {result.summary}")
    click.echo(f"contact sheet: {out}", err=True)
    if result.status == "fail":
        sys.exit(1)


@cli.command("decompose")
@click.argument("predictions", type=click.Path(dir_okay=False, path_type=str))
@click.option("--goal", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Goal (irreducible / human-level) error.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown",
              show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@_handle_errors
def decompose_cmd(predictions, goal, fmt, seed) -> None:
    """Error decomposition from a CSV/Parquet of split,error or split,label,prediction.

    avoidable bias = train - goal; variance = train-val - train;
    distribution shift = test-val - train-val; val overfitting = test - test-val.
    """
    from .learning.decomposition import decompose, load_errors, render_decomposition

    result = decompose(load_errors(predictions), goal=goal, seed=seed)
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(render_decomposition(result), nl=False)


@cli.command("demo")
@click.argument("folder", type=click.Path(file_okay=False), default="demo-data")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--progress/--no-progress", default=True)
@_handle_errors
def demo_cmd(folder, seed, progress) -> None:
    """Build a small dataset from images bundled with scikit-learn and audit it."""
    from .demo import run_demo

    run_demo(folder, seed=seed, progress=progress)


def _group_options(func):
    """Every option group's fields (--hash, --threshold, --cache, ...), for ``diff --rev``."""
    for field in reversed([f for cls in grouped.GROUPS.values() for f in grouped.fields(cls)]):
        func = _click_option(field)(func)
    return func


#: ``datacheck diff --fail-on`` kinds: new findings of a check, or a kind of data change.
DIFF_FAIL_ON = ["new-leakage", "new-duplicates", "new-label-noise", "relabel", "split-move",
                "leak-risk", "modified", "removed"]
#: Checks ``datacheck diff --rev`` runs on both sides unless --checks says otherwise.
DIFF_CHECKS = "integrity,duplicates,leakage,balance"


@cli.command("diff")
@click.argument("paths", nargs=-1, required=True, metavar="BASE HEAD | --rev REV PATH")
@click.option("--rev", default=None, metavar="REV",
              help="Audit PATH at git revision REV (the base) and in the working tree (the "
                   "head), DVC-tracked data included, and compare: no second work tree.")
@click.option("--checks", "diff_checks", callback=_names, default=DIFF_CHECKS,
              show_default=True, help="With --rev: the checks both audits run.")
@click.option("--split", "split_map", multiple=True, callback=_split_map, metavar="NAME=SPLIT",
              help="With --rev: treat split NAME as SPLIT. Repeatable.")
@click.option("--root", type=click.Path(file_okay=False), default=None,
              help="With --rev: folder a manifest's paths are relative to.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="With --rev: write base/ and head/ reports (report.json, report.md, "
                   "report.html, images.parquet, ...) and diff.json, diff.md here.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown",
              show_default=True)
@click.option("--html", "html_file", type=click.Path(dir_okay=False), default=None,
              help="Also write the diff as one HTML page with thumbnails (old and new content, "
                   "old and new label side by side) to this file; --rev --out writes diff.html.")
@click.option("--fail-on", "fail_on", multiple=True, type=click.Choice(DIFF_FAIL_ON),
              help="Exit 1 when the head adds findings of this kind (new-*), or the data "
                   "change has relabelled images, split moves, moves into a later split "
                   "(leak-risk), modified or removed images. Repeatable.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="With --rev: progress bars on stderr.")
@_group_options
@_handle_errors
def diff_cmd(paths, rev, diff_checks, split_map, root, out, fmt, html_file, fail_on, progress,
             **options) -> None:
    """What changed between two audits: the findings a change added or removed, and what it
    did to the data (images added, removed, modified, renamed, relabelled, moved between
    splits). BASE and HEAD are report.json files (their images.parquet beside them), or with
    --rev REV, one dataset PATH audited at REV and in the working tree."""
    from .history.versions import has_change, images_beside
    from .report import load_report
    from .report.diff import diff_reports, has_new
    from .report.diff_html import render_diff_html, report_folders
    from .report.diff_markdown import render_diff_markdown

    for field in (f for cls in grouped.GROUPS.values() for f in grouped.fields(cls)):
        if field.name in options and options[field.name] == field.default:
            del options[field.name]  # only what was given goes on to the audits
    if rev is None:
        if len(paths) != 2:
            raise click.UsageError("give BASE and HEAD report.json files, or --rev REV PATH")
        reports = [load_report(p) for p in paths]
        images = tuple(images_beside(p) for p in paths)
    else:
        if len(paths) != 1:
            raise click.UsageError("with --rev give one dataset PATH")
        sides = {}  # the head first: what it learns (DVC's md5s) spares reading the base
        for side, at in (("head", None), ("base", rev)):
            report = audit(paths[0], checks=diff_checks, split_map=split_map, root=root,
                           rev=at, progress=progress, **options)
            sides[side] = report
        click.echo(f"decoded: head {sides['head'].stats['decoded']:,} images "
                   f"({sides['head'].stats['seconds']:.1f} s), base at {rev} "
                   f"{sides['base'].stats['decoded']:,} ({sides['base'].stats['seconds']:.1f} s);"
                   f" the rest from the cache", err=True)
        reports = [sides["base"].to_dict(), sides["head"].to_dict()]
        images = (sides["base"].images, sides["head"].images)
    result = diff_reports(*reports, images=images)
    text = render_diff_markdown(result) if fmt == "markdown" else None
    as_json = json.dumps(result, indent=2, ensure_ascii=False, default=str)
    pages = [Path(p) for p in (html_file, rev and out and Path(out) / "diff.html") if p]
    if pages:
        if rev is None:
            folders, cache = report_folders(reports, options.get("cache_dir"))
        else:
            folders = [sides["base"].source, sides["head"].source]
            cache = sides["head"].stats["cache"]
        page = render_diff_html(result, base_root=folders[0], head_root=folders[1],
                                cache_dir=cache)
        for path in pages:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(page, encoding="utf-8")
    if rev is not None and out:
        for side, data in zip(("base", "head"), reports, strict=True):
            sides[side].write(Path(out) / side, data)
        (Path(out) / "diff.json").write_text(as_json + "\n", encoding="utf-8")
        (Path(out) / "diff.md").write_text(text or render_diff_markdown(result),
                                           encoding="utf-8")
        click.echo(f"reports: {out}/base, {out}/head, {out}/diff.json, {out}/diff.md, "
                   f"{out}/diff.html", err=True)
    click.echo(as_json if fmt == "json" else text, nl=fmt == "json")
    failing = [k for k in fail_on
               if (has_new(result, k) if k.startswith("new-") else
                   has_change(result.get("data"), k))]
    if failing:
        click.echo(f"failing: {', '.join(failing)}", err=True)
        sys.exit(1)


def _review_options(func):
    """Options shared by the review commands (decide, review, apply): where the decisions,
    the manifest's root and the feature cache are, and progress bars."""
    options = [
        click.option("--decisions", type=click.Path(dir_okay=False), default=None,
                     help="Decisions file [default: datacheck.decisions.yaml at the top of "
                          "the dataset's git repository, else beside the dataset]."),
        click.option("--root", type=click.Path(file_okay=False), default=None,
                     help="Folder a manifest's paths are relative to [default: its folder]."),
        click.option("--cache", "cache_dir", type=click.Path(file_okay=False), default=None,
                     help="Feature cache folder (as for audit)."),
        click.option("--progress/--no-progress", default=True, show_default=True,
                     help="Progress bars on stderr (shown only on a terminal)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cli.command("decide")
@click.argument("path", type=click.Path(path_type=str))
@click.argument("ids", nargs=-1, required=True)
@click.option("--ok", is_flag=True, help="Accepted, or not a problem.")
@click.option("--drop", is_flag=True, help="Drop the image(s) (a leak: the copy in the later "
              "split).")
@click.option("--keep-one", is_flag=True,
              help="Keep the first image of a duplicate cluster, drop the rest.")
@click.option("--relabel", metavar="LABEL", help="Give the image(s) this label.")
@click.option("--move", metavar="SPLIT", help="Move the image(s) to this split.")
@click.option("--note", default="", help="Why (kept with the decision).")
@_review_options
@_handle_errors
def decide_cmd(path, ids, ok, drop, keep_one, relabel, move, note, decisions, root, cache_dir,
               progress) -> None:
    """Record a review decision for findings IDS (from `datacheck audit`) of the dataset at
    PATH: --ok, or a fix (--drop, --keep-one, --relabel LABEL, --move SPLIT)."""
    from .decide import decide

    chosen = [name for name, given in (("ok", ok), ("drop", drop), ("keep-one", keep_one),
                                       ("relabel", relabel), ("move", move)) if given]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --ok, --drop, --keep-one, --relabel, --move")
    file, written = decide(path, list(ids), chosen[0], value=relabel or move, note=note,
                           decisions=decisions, root=root, cache_dir=cache_dir,
                           progress=progress)
    for d in written:
        click.echo(f"{d.id}: {d.decision}{' ' + d.value if d.value else ''} "
                   f"({', '.join(d.paths) or 'no image'})")
    click.echo(f"wrote {file}")


@cli.command("review")
@click.argument("path", type=click.Path(path_type=str))
@click.option("--checks", callback=_names, default=None,
              help="Checks whose findings to review (comma list) [default: all].")
@_review_options
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: a free one).")
@click.option("--browser/--no-browser", default=True, show_default=True,
              help="Open the page in the default browser.")
@_handle_errors
def review_cmd(path, checks, decisions, root, cache_dir, port, browser, progress) -> None:
    """Go through the findings of the dataset at PATH on a local page (127.0.0.1, with a
    per-session token) and record decisions as you go; Ctrl-C stops it."""
    import webbrowser

    from .decide import review_server

    server, url = review_server(path, port=port, decisions=decisions, checks=checks,
                                root=root, cache_dir=cache_dir, progress=progress)
    click.echo(f"review page: {url}  (Ctrl-C stops)")
    if browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@cli.command("apply")
@click.argument("path", type=click.Path(path_type=str))
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="The cleaned manifest to write (CSV: path,label,split,group).")
@_review_options
@_handle_errors
def apply_cmd(path, out, decisions, root, cache_dir, progress) -> None:
    """Write a manifest of the dataset at PATH with every decided fix applied (drop, relabel,
    move, keep one); the image files are not touched."""
    from .decide import apply

    manifest, changes = apply(path, out, decisions=decisions, root=root, cache_dir=cache_dir,
                              progress=progress)
    counts = changes["action"].value_counts()
    done = ", ".join(f"{n:,} {a}" for a, n in counts.items()) or "no changes"
    click.echo(f"wrote {out}: {len(manifest):,} images ({done})")


@cli.command("init")
@click.argument("data", default="data")
@click.option("--force", is_flag=True, help="Replace an existing dvc.yaml / params.yaml.")
@_handle_errors
def init_cmd(data, force) -> None:
    """Add a datacheck audit stage (dvc.yaml, params.yaml) for DATA to this DVC project."""
    from .scaffold import init_project

    for path in init_project(".", data, force=force):
        click.echo(f"wrote {path}")
    click.echo("next: `dvc repro` audits the data; `dvc metrics show` prints the figures")


def main() -> None:
    # OpenMP threads that wait at a barrier sleep instead of spinning: beside another job on
    # one of 2 cores, spinning made a 2-thread CV epoch 1.6-6x slower; idle, no difference
    # (benchmarks/README.md, "CPU threads"). Set before torch loads; the user's setting wins.
    # Only the command line sets it: importing datacheck leaves the host process alone.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    cli(prog_name="datacheck")
