"""The ``datacheck`` command line: thin Click wrappers over the Python API."""

from __future__ import annotations

import os

import click

from .. import __version__
from .audit import audit_cmd, check_commands
from .diff import diff_cmd
from .review import apply_cmd, decide_cmd, review_cmd
from .tools import augmentations_cmd, decompose_cmd, demo_cmd, init_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datacheck")
def cli() -> None:
    """Audit an image-classification dataset before training.

    PATH is a folder (SPLIT/CLASS/FILE or CLASS/FILE), a zip of one, a CSV/Parquet manifest
    with columns path,label[,split][,group], Parquet/Arrow shards with an image column
    (Hugging Face layout) or WebDataset .tar shards; a local path or an fsspec URL. Exit
    codes: 0 clean or warnings only, 1 a check named in --fail-on failed, 2 bad input.
    """


for _command in (audit_cmd, *check_commands(), augmentations_cmd, decompose_cmd, demo_cmd,
                 diff_cmd, decide_cmd, review_cmd, apply_cmd, init_cmd):
    cli.add_command(_command)


def main() -> None:
    # OpenMP threads that wait at a barrier sleep instead of spinning: beside another job on
    # one of 2 cores, spinning made a 2-thread CV epoch 1.6-6x slower; idle, no difference
    # (benchmarks/ARCHIVE.md, "CPU threads"). Set before torch loads; the user's setting wins.
    # Only the command line sets it: importing datacheck leaves the host process alone.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    cli(prog_name="datacheck")
