"""The data diff as one self-contained HTML page with thumbnails, rendered from a
``datacheck.diff/1`` dict (:mod:`.diff`).

What the change did to the images (added, removed, modified, renamed, relabelled, moved
between splits, regrouped) is shown picture by picture: a modified image as its old and new
version side by side, a relabelled one with its old label struck through beside the new one, a
move into a later split marked as a leak risk; then the leaks, duplicate clusters and label
issues the change added or removed. Images of the head are read under ``head_root``, images
only the base has (removed, the old side of a modified file, removed findings) under
``base_root``: a local folder, a URL, or a revision (``datacheck-rev://``, as ``diff --rev``
audits it). Same safety as the audit page (:mod:`.html`): no script, a CSP that allows nothing
from the network, every name escaped, only files inside the roots read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import checks as registry
from ..sources.source import Source, open_source
from ..sources.storage import CACHE_FOLDER
from .diff import has_new
from .escape import html_text as e
from .escape import plain
from .html_style import badge, breakable, document, num
from .thumbs import Thumbnails

#: Sections of the data change: key -> (heading, which side's image is shown).
DATA_SECTIONS = {
    "added": ("Added", "head"), "removed": ("Removed", "base"),
    "modified": ("Modified: old and new content", "both"),
    "renamed": ("Renamed", "head"), "relabelled": ("Relabelled", "head"),
    "split_moved": ("Moved between splits", "head"), "regrouped": ("Regrouped", "head"),
}
#: What changed for a matched image: (key of the old value, key of the new value).
CHANGE_KEYS = {"renamed": ("base_path", "path"), "relabelled": ("base_label", "label"),
               "split_moved": ("base_split", "split"), "regrouped": ("base_group", "group")}
MEMBERS_SHOWN = 8


def render_diff_html(diff: dict[str, Any], *, base_root: str | os.PathLike,
                     head_root: str | os.PathLike, thumb_px: int = 96, max_items: int = 200,
                     cache_dir: str | os.PathLike | None = None,
                     workers: int | None = None) -> str:
    """One HTML page for a ``datacheck.diff/1`` dict; each section shows at most
    ``max_items`` rows and says how many it left out. ``cache_dir`` (a feature cache) keeps
    the thumbnails by content digest."""
    page = _DiffPage(diff, base_root, head_root, max(16, int(thumb_px)),
                     max(1, int(max_items)), Thumbnails(max(16, int(thumb_px)),
                                                        cache_dir=cache_dir, workers=workers))
    return page.thumbs.render(page.render)


def report_folders(reports: list[dict[str, Any]], cache_dir: str | os.PathLike | None = None
                   ) -> tuple[list[Source], Path | str | None]:
    """The folders the image paths of two ``datacheck.audit/1`` reports (base, head) are
    relative to (:func:`dataset_source`), and the feature cache whose thumbnails the page may
    reuse: ``cache_dir``, else the head folder's ``.datacheck`` when there is one."""
    folders = [dataset_source(r) for r in reports]
    head = folders[1].local_folder
    if cache_dir is None and head is not None and (head / CACHE_FOLDER).is_dir():
        cache_dir = head / CACHE_FOLDER
    return folders, cache_dir


def dataset_source(report: dict[str, Any]) -> Source:
    """Where the image paths of a ``datacheck.audit/1`` report are: its dataset root as the
    audit named it, re-opened at its commit for a report of ``audit --rev`` (a manifest's
    folder for a manifest). A root that cannot be opened gives placeholders, not an error."""
    from ..errors import DatacheckError
    from ..sources.revision import at_revision, snapshot_of

    ds = report.get("dataset") or {}
    root = str(ds.get("root") or ".")
    if not ds.get("commit"):
        return open_source(root)
    try:
        url = at_revision(root, str(ds["commit"])).path
    except DatacheckError:
        return open_source(root)
    snap, rel = snapshot_of(url)
    return open_source(url.rsplit("/", 1)[0] if snap.kind(rel) == "file" else url)


class _DiffPage:
    def __init__(self, diff: dict, base_root, head_root, px: int, max_items: int,
                 thumbs: Thumbnails) -> None:
        self.diff = diff
        self.roots = {"base": open_source(base_root), "head": open_source(head_root)}
        self.px = px
        self.max_items = max_items
        self.thumbs = thumbs

    def pic(self, side: str, path: object, digest: object, caption: str = "") -> str:
        return self.thumbs.figure(self.roots[side], path, caption,
                                  digest if isinstance(digest, str) else None)

    def cap(self, rows: list, what: str) -> tuple[list, str]:
        if len(rows) <= self.max_items:
            return rows, ""
        return rows[:self.max_items], (
            f'<p class="note">Showing the first {self.max_items:,} of {len(rows):,} {what}; '
            "the rest are in diff.json.</p>")

    # -- page ---------------------------------------------------------------------------------
    def render(self) -> str:
        d = self.diff
        data = d.get("data") or {}
        sections = [("summary", "Summary", self.summary())]
        if data.get("compared"):
            for kind, (title, side) in DATA_SECTIONS.items():
                rows = data.get(kind) or []
                if rows:
                    sections.append((f"data-{kind}", f"{title.split(':')[0]} ({len(rows):,})",
                                     f"<h2>{e(title)}<span class=\"meta\">{len(rows):,} "
                                     f"image{'' if len(rows) == 1 else 's'}</span></h2>"
                                     + self.data_rows(kind, side, rows)))
            if data.get("counts"):
                sections.append(("counts", "Per class", self.counts(data["counts"])))
        for key, check in registry.compared().items():
            body = self.findings(key, check.shape)
            if body:
                sections.append((key, check.title, f"<h2>{e(check.title)}</h2>{body}"))
        new = any(has_new(d, k) for k in registry.compared()) or bool((data.get("summary") or {})
                                                        .get("leak_risk"))
        base, head = d.get("base") or {}, d.get("head") or {}
        top = (f"<h1>datacheck diff</h1>{badge('fail' if new else 'pass')}"
               f'<span class="meta">base <span class="path">{e(base.get("root", ""))}</span> '
               f'{badge(base.get("status"))} {num(base.get("images"))} images → head '
               f'<span class="path">{e(head.get("root", ""))}</span> '
               f'{badge(head.get("status"))} {num(head.get("images"))} images</span>')
        return document(title=f"datacheck diff: {e(head.get('root', ''))}", top=top,
                        sections=sections, px=self.px, footer=e(d.get("schema", "")))

    def summary(self) -> str:
        from .data_diff import summary_text
        from .diff_markdown import summary_line

        d = self.diff
        rows = "".join(
            f"<tr><td>{e(name)}</td><td>{badge(st.get('base_status'))}</td>"
            f"<td>{badge(st.get('head_status'))}</td></tr>"
            for name, st in (d.get("checks") or {}).items())
        out = (f'<h2>Summary</h2><p>{e(summary_line(d))}</p>'
               + (f"<p>Data: {e(summary_text(d['data']))}</p>" if "data" in d else "")
               + "<table><thead><tr><th>check</th><th>base</th><th>head</th></tr></thead>"
               f"<tbody>{rows}</tbody></table>")
        if d.get("settings"):
            changed = "".join(f"<tr><td>{e(k)}</td><td>{e(plain(v.get('base')))}</td>"
                              f"<td>{e(plain(v.get('head')))}</td></tr>"
                              for k, v in d["settings"].items())
            out += ('<p class="note">The two audits ran with different settings: some changes '
                    "may come from them, not the data.</p><table><thead><tr><th>setting</th>"
                    f"<th>base</th><th>head</th></tr></thead><tbody>{changed}</tbody></table>")
        return out

    def data_rows(self, kind: str, side: str, rows: list[dict]) -> str:
        rows, note = self.cap(rows, "images")
        if side == "both":
            cards = [self.modified(r) for r in rows]
        elif kind in CHANGE_KEYS:
            cards = [self.changed(kind, r) for r in rows]
        else:
            return ('<div class="row">' + "".join(
                self.pic(side, r.get("path"), r.get("digest"), _where(r)) for r in rows)
                + f"</div>{note}")
        return f'<div class="grid">{"".join(cards)}</div>{note}'

    def modified(self, r: dict) -> str:
        sizes = (f"{num(r.get('base_bytes'))} → {num(r.get('bytes'))} bytes"
                 if r.get("bytes") is not None else "")
        return ('<div class="card"><div class="pair">'
                + self.pic("base", r.get("base_path"), r.get("base_digest"), "before")
                + f'<div class="mid"><b>modified</b>{sizes}<div class="arrow">→</div></div>'
                + self.pic("head", r.get("path"), r.get("digest"), "after")
                + f'</div><div class="meta">{_where(r)}</div></div>')

    def changed(self, kind: str, r: dict) -> str:
        old, new = (r.get(k) for k in CHANGE_KEYS[kind])
        change = (f'<span class="given">{e(plain(old))}</span> → '
                  f'<span class="sugg">{e(plain(new))}</span>')
        if kind == "renamed":
            change = (f'<div class="path given">{breakable(old)}</div>'
                      f'<div class="path sugg">{breakable(new)}</div>')
        risk = ' <span class="badge fail">leak risk</span>' if r.get("leak_risk") else ""
        return (f'<div class="card side">{self.pic("head", r.get("path"), r.get("digest"))}'
                f'<div>{change}{risk}<div class="meta">{e(_facts(r))}</div>'
                + (f'<div class="path">{breakable(r.get("path"))}</div>'
                   if kind != "renamed" else "") + "</div></div>")

    def counts(self, rows: list[dict]) -> str:
        body = "".join(
            f"<tr><td>{e(r.get('split'))}</td><td>{e(plain(r.get('label')))}</td>"
            f'<td class="num">{num(r.get("base"))}</td><td class="num">{num(r.get("head"))}'
            f'</td><td class="num">{_signed(r.get("change"))}</td></tr>'
            for r in rows)
        return ("<h2>Images per split and class</h2><table><thead><tr><th>split</th>"
                '<th>class</th><th class="num">base</th><th class="num">head</th>'
                f'<th class="num">change</th></tr></thead><tbody>{body}</tbody></table>')

    # -- findings the change added or removed -------------------------------------------------
    def findings(self, key: str, shape: str) -> str:
        part = self.diff.get(key) or {}
        if not part.get("compared"):
            return ""
        out = ""
        for which, side in (("added", "head"), ("removed", "base")):
            rows, note = self.cap(list(part.get(which) or []), "findings")
            card = {"pairs": self.pair_card, "clusters": self.cluster_card,
                    "images": self.image_card}[shape]
            if rows:
                cards = "".join(card(r, side) for r in rows)
                out += (f"<h3>{len(part[which]):,} {'new' if side == 'head' else 'removed'}"
                        f'</h3><div class="grid">{cards}</div>{note}')
        return out

    def pair_card(self, r: dict, side: str) -> str:
        if r.get("kind") == "group":
            return (f'<div class="card"><b>group</b> {e(r.get("group"))}<div class="who">'
                    f'{_ends(r)}</div></div>')
        return ('<div class="card"><div class="pair">'
                + self.pic(side, r.get("a"), r.get("digest_a"))
                + f'<div class="mid"><b>{e(r.get("kind"))}</b>{e(plain(r.get("distance")))} '
                  'bits<div class="arrow">⇄</div></div>'
                + self.pic(side, r.get("b"), r.get("digest_b"))
                + f'</div><div class="who">{_ends(r)}</div></div>')

    def cluster_card(self, r: dict, side: str) -> str:
        paths, digests = list(r.get("paths") or []), list(r.get("digests") or [])
        figs = "".join(self.pic(side, p, digests[i] if i < len(digests) else None,
                                f'<div class="path">{breakable(p)}</div>')
                       for i, p in enumerate(paths[:MEMBERS_SHOWN]))
        more = (f'<span class="meta">+{len(paths) - MEMBERS_SHOWN:,} more</span>'
                if len(paths) > MEMBERS_SHOWN else "")
        return (f'<div class="card"><span class="meta">{e(r.get("split"))} · '
                f'{len(paths):,} images</span><div class="row">{figs}{more}</div></div>')

    def image_card(self, r: dict, side: str) -> str:
        if "path" not in r:
            return self.cluster_card(r, side)
        return (f'<div class="card side">{self.pic(side, r.get("path"), r.get("digest"))}<div>'
                f'<span class="given">{e(plain(r.get("given")))}</span> → '
                f'<span class="sugg">{e(plain(r.get("suggested")))}</span>'
                f'<div class="meta">{e(r.get("split"))}</div>'
                f'<div class="path">{breakable(r.get("path"))}</div></div></div>')


def _signed(value: object) -> str:
    return f"{value:+,}" if isinstance(value, int) and not isinstance(value, bool) else num(value)


def _facts(r: dict) -> str:
    return " · ".join(plain(r.get(k)) for k in ("split", "label") if r.get(k) is not None)


def _where(r: dict) -> str:
    return f'{e(_facts(r))}<div class="path">{breakable(r.get("path"))}</div>'


def _ends(r: dict) -> str:
    return "".join(f'<span class="meta">{e(r.get("split_" + s))}</span>'
                   f'<span class="path">{e(r.get(s))}</span>' for s in ("a", "b"))
