"""Commands beside the audit: ``augmentations``, ``decompose``, ``demo`` and ``init``."""

from __future__ import annotations

import json
import sys

import click

from .params import handle_errors


@click.command("augmentations")
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
@handle_errors
def augmentations_cmd(path, transform, sample, model, epochs, device, seed, cache_dir, out,
                      embed, fmt, progress) -> None:
    """Is an augmentation too strong? Exit 1 when the share of augmented images that no
    longer show their label exceeds the model's error rate."""
    from ..augment import run_augmentations

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


@click.command("decompose")
@click.argument("predictions", type=click.Path(dir_okay=False, path_type=str))
@click.option("--goal", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Goal (irreducible / human-level) error.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown",
              show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@handle_errors
def decompose_cmd(predictions, goal, fmt, seed) -> None:
    """Error decomposition from a CSV/Parquet of split,error or split,label,prediction.

    avoidable bias = train - goal; variance = train-val - train;
    distribution shift = test-val - train-val; val overfitting = test - test-val.
    """
    from ..learning.decomposition import decompose, load_errors
    from ..report.decomposition import render_decomposition

    result = decompose(load_errors(predictions), goal=goal, seed=seed)
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(render_decomposition(result), nl=False)


@click.command("demo")
@click.argument("folder", type=click.Path(file_okay=False), default="demo-data")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--progress/--no-progress", default=True)
@handle_errors
def demo_cmd(folder, seed, progress) -> None:
    """Build a small dataset from images bundled with scikit-learn and audit it."""
    from ..demo import run_demo

    run_demo(folder, seed=seed, progress=progress)


@click.command("init")
@click.argument("data", default="data")
@click.option("--force", is_flag=True, help="Replace an existing dvc.yaml / params.yaml.")
@handle_errors
def init_cmd(data, force) -> None:
    """Add a datacheck audit stage (dvc.yaml, params.yaml) for DATA to this DVC project."""
    from ..scaffold import init_project

    for path in init_project(".", data, force=force):
        click.echo(f"wrote {path}")
    click.echo("next: `dvc repro` audits the data; `dvc metrics show` prints the figures")
