"""The review commands: ``decide``, ``review`` (a local page) and ``apply``."""

from __future__ import annotations

import click

from .params import check_names, handle_errors, review_options


@click.command("decide")
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
@review_options
@handle_errors
def decide_cmd(path, ids, ok, drop, keep_one, relabel, move, note, decisions, root, cache_dir,
               progress) -> None:
    """Record a review decision for findings IDS (from `datacheck audit`) of the dataset at
    PATH: --ok, or a fix (--drop, --keep-one, --relabel LABEL, --move SPLIT)."""
    from ..decide import decide

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


@click.command("review")
@click.argument("path", type=click.Path(path_type=str))
@click.option("--checks", callback=check_names, default=None,
              help="Checks whose findings to review (comma list) [default: all].")
@review_options
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: a free one).")
@click.option("--browser/--no-browser", default=True, show_default=True,
              help="Open the page in the default browser.")
@handle_errors
def review_cmd(path, checks, decisions, root, cache_dir, port, browser, progress) -> None:
    """Go through the findings of the dataset at PATH on a local page (127.0.0.1, with a
    per-session token) and record decisions as you go; Ctrl-C stops it."""
    import webbrowser

    from ..decide import review_server

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


@click.command("apply")
@click.argument("path", type=click.Path(path_type=str))
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="The cleaned manifest to write (CSV: path,label,split,group).")
@review_options
@handle_errors
def apply_cmd(path, out, decisions, root, cache_dir, progress) -> None:
    """Write a manifest of the dataset at PATH with every decided fix applied (drop, relabel,
    move, keep one); the image files are not touched."""
    from ..decide import apply

    manifest, changes = apply(path, out, decisions=decisions, root=root, cache_dir=cache_dir,
                              progress=progress)
    counts = changes["action"].value_counts()
    done = ", ".join(f"{n:,} {a}" for a, n in counts.items()) or "no changes"
    click.echo(f"wrote {out}: {len(manifest):,} images ({done})")
