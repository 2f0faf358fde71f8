"""Parameters the commands share: the option groups' flags, dataset arguments, ``--checks``
and ``--fail-on`` lists, and the one-line error handling."""

from __future__ import annotations

import functools
import sys

import click

from .. import checks as registry
from .. import options as grouped
from ..errors import DatacheckError


def split_map(ctx, param, values) -> dict[str, str]:
    mapping = {}
    for value in values:
        name, sep, target = value.partition("=")
        if not sep or not name or not target:
            raise click.BadParameter(f"{value!r} is not NAME=SPLIT (e.g. validation=val)")
        mapping[name] = target
    return mapping


def _listed(values) -> list[str]:
    """Comma lists, given once or repeated, as one list."""
    if isinstance(values, str):
        values = [values]
    return [v.strip() for value in values or () for v in value.split(",") if v.strip()]


def check_names(ctx, param, value) -> list[str] | None:
    """``--checks a,b`` (and ``--fail-on``, given once or repeated): registered check names;
    ``--fail-on any`` stands for every check the command runs."""
    if value is None:
        return None
    names = [v.replace("-", "_") for v in _listed(value)]
    if param.name == "fail_on" and names == ["any"]:
        return names
    known = registry.names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise click.BadParameter(f"unknown check {unknown[0]!r}; choose from {', '.join(known)}")
    return names


def choices(allowed):
    """A callback for a comma-list option (given once or repeated) of ``allowed`` values."""
    def callback(ctx, param, value) -> list[str]:
        names = _listed(value)
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise click.BadParameter(f"unknown {unknown[0]!r}; choose from {', '.join(allowed)}")
        return names
    return callback


_TYPES = {"int": int, "float": float, "str": str}


def group_option(field):
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


def group_fields(groups=None) -> list:
    """The fields of option groups ``groups`` (names; None: every group), in group order."""
    return [f for name, cls in grouped.GROUPS.items() if groups is None or name in groups
            for f in grouped.fields(cls)]


def with_options(func, options):
    for option in reversed(options):
        func = option(func)
    return func


def audit_options(groups=None):
    """Options of a command that audits a dataset: the dataset, the fields of option groups
    ``groups`` (None: all), and what to write."""
    options = [
        click.argument("path", type=click.Path(path_type=str)),
        click.option("--split", "split_map", multiple=True, callback=split_map,
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
        *[group_option(f) for f in group_fields(groups)],
        click.option("--out", type=click.Path(file_okay=False), default=None,
                     help="Write report.json, report.md, report.html and metrics.json here."),
        click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "html"]),
                     default="text", show_default=True, help="What to print on stdout."),
        click.option("--fail-on", multiple=True, callback=check_names, metavar="CHECKS",
                     help="Exit 1 when one of these checks fails (comma list, repeatable, or "
                          "'any')."),
        click.option("--decisions", type=click.Path(dir_okay=False), default=None,
                     help="Review decisions file [default: datacheck.decisions.yaml at the top "
                          "of the dataset's git repository, when it exists]."),
        click.option("--progress/--no-progress", default=True, show_default=True,
                     help="Progress bars on stderr (shown only on a terminal)."),
    ]
    return lambda func: with_options(func, options)


def review_options(func):
    """Options shared by the review commands (decide, review, apply): where the decisions,
    the manifest's root and the feature cache are, and progress bars."""
    return with_options(func, [
        click.option("--decisions", type=click.Path(dir_okay=False), default=None,
                     help="Decisions file [default: datacheck.decisions.yaml at the top of "
                          "the dataset's git repository, else beside the dataset]."),
        click.option("--root", type=click.Path(file_okay=False), default=None,
                     help="Folder a manifest's paths are relative to [default: its folder]."),
        click.option("--cache", "cache_dir", type=click.Path(file_okay=False), default=None,
                     help="Feature cache folder (as for audit)."),
        click.option("--progress/--no-progress", default=True, show_default=True,
                     help="Progress bars on stderr (shown only on a terminal)."),
    ])


def handle_errors(func):
    """Bad input (a DatacheckError) exits 2 with one line on stderr, never a traceback."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DatacheckError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
    return wrapper
