"""The ``datacheck`` command line: thin Click wrappers over the Python API."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click
from rich.console import Console

from . import __version__
from .audit import CHECKS, MAX_RESIDUAL_SMALL, MIN_SIMILARITY, MIN_SIMILARITY_SMALL, audit
from .checks.balance import MAX_IMBALANCE, MIN_PER_CLASS
from .errors import BadInputError, DatacheckError
from .images import HASHES
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
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise click.BadParameter(f"unknown check {unknown[0]!r}; choose from {', '.join(CHECKS)}")
    return names


def audit_options(func):
    """Options shared by every command that audits a dataset."""
    options = [
        click.argument("path", type=click.Path(path_type=str)),
        click.option("--split", "split_map", multiple=True, callback=_split_map,
                     metavar="NAME=SPLIT",
                     help="Treat folder or manifest split NAME as SPLIT (train, train-val, val, "
                          "test-val, test). Repeatable."),
        click.option("--root", type=click.Path(file_okay=False), default=None,
                     help="Folder a manifest's paths are relative to [default: its folder]."),
        click.option("--hash", "hash_name", type=click.Choice(list(HASHES)), default="phash",
                     show_default=True, help="Perceptual hash."),
        click.option("--threshold", type=int, default=None,
                     help="Hamming radius in bits for near duplicates [default: 10 for phash]."),
        click.option("--min-similarity", type=float, default=MIN_SIMILARITY, show_default=True,
                     help="Thumbnail correlation a near-duplicate candidate must reach."),
        click.option("--min-similarity-small", type=float, default=MIN_SIMILARITY_SMALL,
                     show_default=True,
                     help="The same, when both images have a side <= 64 px."),
        click.option("--max-residual-small", type=float, default=MAX_RESIDUAL_SMALL,
                     show_default=True,
                     help="Small pairs only: after fitting one image's grey levels to the "
                          "other's, at most 0.5% of pixels may differ by more than this "
                          "(share of the range)."),
        click.option("--min-per-class", type=int, default=MIN_PER_CLASS, show_default=True,
                     help="Classes with fewer images in a split are reported."),
        click.option("--max-imbalance", type=float, default=MAX_IMBALANCE, show_default=True,
                     help="Largest/smallest class ratio above which balance fails."),
        click.option("--between", nargs=2, default=None, metavar="A B",
                     help="Splits the shift check compares [default: train-val test-val, "
                          "else val test]."),
        click.option("--alpha", type=float, default=0.05, show_default=True,
                     help="Shift tests' false-positive rate (after Holm correction)."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed for every random choice."),
        click.option("--model", type=click.Choice(["cnn", "mlp", "linear"]), default="cnn",
                     show_default=True, help="label_noise: model cross-validated per fold."),
        click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True,
                     help="label_noise: cross-validation folds."),
        click.option("--epochs", type=click.IntRange(min=1), default=None,
                     help="label_noise: training epochs [default: 12 for cnn]."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
                     show_default=True, help="label_noise: where models train."),
        click.option("--features", type=click.Path(dir_okay=False), default=None,
                     help="label_noise: .npy/.parquet features, one row per image in index "
                          "order (sorted by split, then path); use with --model mlp|linear."),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Decoding processes [default: all cores]."),
        click.option("--scheduler", default=None, envvar="DATACHECK_SCHEDULER",
                     metavar="ADDRESS",
                     help="Dask scheduler (tcp://host:port) to decode on [default: local "
                          "processes]; env DATACHECK_SCHEDULER."),
        click.option("--cache", "cache_dir", type=click.Path(file_okay=False), default=None,
                     help="Feature cache folder [default: PATH/.datacheck]."),
        click.option("--out", type=click.Path(file_okay=False), default=None,
                     help="Write report.json, report.md, report.html and metrics.json here."),
        click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "html"]),
                     default="text", show_default=True, help="What to print on stdout."),
        click.option("--fail-on", callback=_names, default="", metavar="CHECKS",
                     help="Exit 1 when one of these checks fails (comma list, or 'any')."),
        click.option("--progress/--no-progress", default=True, show_default=True,
                     help="Progress bars on stderr (shown only on a terminal)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _run(checks: list[str] | None, **kw) -> None:
    fail_on = kw.pop("fail_on")
    out, fmt = kw.pop("out"), kw.pop("fmt")
    if fail_on == ["any"]:
        fail_on = list(checks or CHECKS)
    missing = [c for c in fail_on if c not in (checks or CHECKS)]
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

    PATH is a folder (SPLIT/CLASS/FILE or CLASS/FILE) or a CSV/Parquet manifest with columns
    path,label[,split][,group]. Exit codes: 0 clean or warnings only, 1 a check named in
    --fail-on failed, 2 bad input.
    """


@cli.command("audit")
@audit_options
@click.option("--checks", callback=_names, default=None,
              help=f"Checks to run (comma list of {', '.join(CHECKS)}) [default: all; "
                   "label_noise only up to 5,000 images without a GPU].")
@_handle_errors
def audit_cmd(checks, **kw) -> None:
    """Run every check: integrity, duplicates, leakage, balance, shift, label_noise."""
    _run(checks, **kw)


def _single(name: str, doc: str):
    @audit_options
    @_handle_errors
    def command(**kw) -> None:
        _run([name], **kw)

    command.__doc__ = doc
    cli.command(name.replace("_", "-"))(command)


_single("duplicates", "Exact and near-duplicate clusters within each split.")
_single("leakage", "Images (exact or near copies) and groups shared between splits.")
_single("balance", "Class counts per split, imbalance and label-distribution differences.")
_single("shift", "Distribution shift between two splits (default train-val vs test-val).")
_single("label_noise", "Suspected label errors: cross-validated models + confident learning.")


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
    from .evaluate import decompose, load_errors, render_decomposition

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


@cli.command("diff")
@click.argument("base", type=click.Path(dir_okay=False))
@click.argument("head", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown",
              show_default=True)
@click.option("--fail-on", "fail_on", multiple=True,
              type=click.Choice(["new-leakage", "new-duplicates", "new-label-noise"]),
              help="Exit 1 when the head adds findings of this kind. Repeatable.")
@_handle_errors
def diff_cmd(base, head, fmt, fail_on) -> None:
    """What changed between two report.json files (e.g. base branch vs pull request)."""
    from .report.diff import diff_reports, has_new, render_diff_markdown

    result = diff_reports(_load_report(base), _load_report(head))
    if fmt == "json":
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        click.echo(render_diff_markdown(result), nl=False)
    added = [k for k in fail_on if has_new(result, k)]
    if added:
        click.echo(f"failing: {', '.join(added)}", err=True)
        sys.exit(1)


def _load_report(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise BadInputError(f"{path}: not a JSON report ({exc})") from None


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
    cli(prog_name="datacheck")
