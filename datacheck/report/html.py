"""A single self-contained HTML report with thumbnails, rendered from ``AuditReport.to_dict()``.

Everything the page needs is inside the file: the CSS is inline, there is no JavaScript, and
each thumbnail is a ``data:`` URI (a small JPEG or PNG made with PIL from the image under
``root``). A Content-Security-Policy meta tag forbids any fetch other than ``data:`` images, so
the page works offline, can be attached to a CI run, and cannot call anywhere.

File names and labels are untrusted: every one is escaped with :func:`escape.html_text`, in
element content and in attributes alike. Report paths are read only when they are relative and
stay inside ``root`` (no absolute paths, no ``..``); anything else, and every file that is
missing or cannot be decoded, shows a placeholder instead of a thumbnail. Images are read
through the dataset's :class:`~datacheck.sources.source.Source`, like the scan reads them (a
URL, a zip archive, a shard's rows).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .. import checks as registry
from ..sources.source import Source, open_source
from .escape import html_text as e
from .escape import plain
from .html_style import badge, breakable, document, num
from .thumbs import Thumbnails

#: Members of one duplicate cluster shown before "+N more".
CLUSTER_SHOWN = 8

def render_html(report: dict[str, Any], root: str | os.PathLike | Source, *, thumb_px: int = 96,
                max_items: int = 200,
                samples: Mapping[str, Sequence[str] | Mapping[str, Sequence[str]]] | None = None,
                digests: Mapping[str, str] | None = None,
                cache_dir: str | os.PathLike | None = None, workers: int | None = None) -> str:
    """One self-contained HTML page for an audit report (schema ``datacheck.audit/1``).

    ``root`` is the folder the report's paths are relative to (the audited folder, or the
    manifest's folder / ``--root``). Each section shows at most ``max_items`` findings and says
    how many it left out. ``samples`` (optional) maps a class to the relative paths of a few of
    its images, or to ``{split: [paths]}``; :func:`pick_samples` builds it from the dataset
    index. Without it the per-class grid is left out. With ``digests`` (relative path ->
    content digest) and the feature cache's ``cache_dir``, thumbnails are kept in the cache by
    digest, so an unchanged image is decoded for the page once.
    """
    return _Page(open_source(root), thumb_px=max(16, int(thumb_px)),
                 max_items=max(1, int(max_items)), digests=digests, cache_dir=cache_dir,
                 workers=workers).render(report, samples)


class _Page:
    def __init__(self, source: Source, *, thumb_px: int, max_items: int,
                 digests: Mapping[str, str] | None = None,
                 cache_dir: str | os.PathLike | None = None, workers: int | None = None) -> None:
        self.source = source
        self.px = thumb_px
        self.max_items = max_items
        #: Relative path -> content digest, to keep thumbnails in the cache by digest.
        self.digests = dict(digests or {})
        self.thumbs = Thumbnails(thumb_px, cache_dir=cache_dir if self.digests else None,
                                 workers=workers)

    # -- pieces -------------------------------------------------------------------------------
    def thumb(self, rel: object, caption: str = "") -> str:
        """A figure: the thumbnail (or a placeholder) and an escaped caption (already HTML)."""
        digest = self.digests.get(rel) if isinstance(rel, str) else None
        return self.thumbs.figure(self.source, rel, caption, digest)

    def cap(self, rows: list, what: str) -> tuple[list, str]:
        if len(rows) <= self.max_items:
            return rows, ""
        note = (f'<p class="note">Showing the first {self.max_items:,} of {len(rows):,} {what}; '
                f"the rest are in report.json.</p>")
        return rows[:self.max_items], note

    # -- page ---------------------------------------------------------------------------------
    def render(self, report: dict[str, Any], samples) -> str:
        """The page, its thumbnails made between two rendering passes (:mod:`.thumbs`)."""
        return self.thumbs.render(lambda: self._render(report, samples))

    def _render(self, report: dict[str, Any], samples) -> str:
        checks: dict[str, dict] = report.get("checks") or {}
        ds = report.get("dataset") or {}
        sections: list[tuple[str, str, str]] = []  # (anchor, nav label, html)
        sections.append(("summary", "Summary", self.summary(report)))
        for k, name in enumerate(checks):
            check = checks[name]
            spec = registry.get(name)
            body = getattr(self, spec.shape if spec else "table")(check)
            anchor = name if spec else f"check-{k}"
            title = spec.title if spec else name
            n = len(check.get("findings") or [])
            head = (f'<h2>{e(title)} {badge(check.get("status"))}'
                    f'<span class="meta">{n:,} finding{"" if n == 1 else "s"}</span></h2>'
                    f'<p class="meta">{e(check.get("summary", ""))}</p>')
            sections.append((anchor, title, head + body))
        if samples:
            sections.append(("samples", "Samples", self.sample_grid(samples)))
        splits = ", ".join(f"{e(s)} {num(n)}" for s, n in (ds.get("splits") or {}).items())
        return document(
            title=f"datacheck: {e(report.get('status', ''))} — {e(ds.get('root', ''))}",
            top=(f'<h1>datacheck report</h1>{badge(report.get("status"))}'
                 f'<span class="meta"><span class="path">{e(ds.get("root", ""))}</span> · '
                 f'{num(ds.get("images", 0))} images ({splits}) · '
                 f'{num(ds.get("classes", 0))} classes</span>'),
            sections=sections, px=self.px, footer=e(report.get("schema", "")))

    def summary(self, report: dict[str, Any]) -> str:
        rows = []
        for name, check in (report.get("checks") or {}).items():
            anchor = name if registry.get(name) else None
            label = (f'<a href="#{anchor}">{e(name)}</a>' if anchor else e(name))
            rows.append(f"<tr><td>{label}</td><td>{badge(check.get('status'))}</td>"
                        f"<td>{e(check.get('summary', ''))}</td></tr>")
        for name, reason in (report.get("skipped") or {}).items():
            rows.append(f'<tr><td>{e(name)}</td><td><span class="badge skip">skipped</span>'
                        f"</td><td>{e(reason)}</td></tr>")
        settings = report.get("settings") or {}
        shown = "".join(f"<tr><td>{e(k)}</td><td>{e(plain(v))}</td></tr>"
                        for k, v in settings.items())
        more = (f"<details><summary>settings</summary><table>{shown}</table></details>"
                if shown else "")
        return ("<h2>Summary</h2><table><thead><tr><th>check</th><th>status</th>"
                f"<th>summary</th></tr></thead><tbody>{''.join(rows)}</tbody></table>{more}")

    def pairs(self, check: dict) -> str:
        rows, note = self.cap(list(check.get("findings") or []), "pairs")
        if not rows:
            return ""
        cards = []
        for r in rows:
            kind = r.get("kind")
            if kind == "group":
                mid = f"<b>group</b>{e(r.get('group'))}"
            else:
                sim, how = r.get("similarity"), r.get("transform")
                mid = (f"<b>{e(kind)}</b>"
                       + (f"{e(how)}<br>" if how not in (None, "none") else "")
                       + f"{e(plain(r.get('distance')))} bits"
                       + (f"<br>similarity {e(plain(sim))}" if sim is not None else ""))
            who = "".join(
                f'<span class="meta">{e(r.get("split_" + side))}'
                + (f' · <span class="lab">{e(r.get("label_" + side))}</span>'
                   if r.get("label_" + side) is not None else "")
                + f'</span><span class="path">{e(r.get(side))}</span>'
                for side in ("a", "b"))
            cards.append(
                '<div class="card"><div class="pair">'
                + self.thumb(r.get("a"))
                + f'<div class="mid">{mid}<div class="arrow">⇄</div></div>'
                + self.thumb(r.get("b"))
                + f'</div><div class="who">{who}</div>{_finding_id(r)}</div>')
        return f'<div class="grid">{"".join(cards)}</div>{note}'

    def clusters(self, check: dict) -> str:
        rows, note = self.cap(list(check.get("findings") or []), "clusters")
        if not rows:
            return ""
        cards = []
        for r in rows:
            paths = list(r.get("paths") or [])
            labels = list(r.get("labels") or [])
            figs = [self.thumb(p, _caption(None, labels[i] if i < len(labels) else None, p))
                    for i, p in enumerate(paths[:CLUSTER_SHOWN])]
            if len(paths) > CLUSTER_SHOWN:
                figs.append(f'<figure><div class="thumb ph">+{len(paths) - CLUSTER_SHOWN:,} '
                            "more</div></figure>")
            conflict = ('<span class="badge fail">labels disagree</span>'
                        if r.get("label_conflict") else "")
            facts = [f"{len(paths):,} images"]
            if r.get("distance") is not None:
                facts.append(f"up to {plain(r.get('distance'))} bits apart")
            shown = [t for t in r.get("transforms") or [] if t != "none"]
            if shown:
                facts.append(", ".join(shown))
            head = (f'<span class="badge info">{e(r.get("kind"))}</span>' if r.get("kind")
                    else "")
            if r.get("split") is not None:
                head += f"<span>{e(r.get('split'))}</span>"
            cards.append(
                f'<div class="card"><div class="head">{head}<span class="meta">'
                f'{e(" · ".join(facts))}</span>{conflict}</div>'
                f'<div class="row">{"".join(figs)}</div>{_finding_id(r)}</div>')
        return "".join(cards) + note

    def images(self, check: dict) -> str:
        rows, note = self.cap(list(check.get("findings") or []), "label issues")
        if not rows:
            return ""
        cards, others = [], []
        for r in rows:
            if isinstance(r.get("path"), str):
                given, sugg = r.get("given"), r.get("suggested")
                score = r.get("score")
                facts = [x for x in (r.get("split"), r.get("kind")) if x is not None]
                if score is not None:
                    facts.append(f"score {plain(score)}")
                text = (f'<span class="given">{e(plain(given))}</span> → '
                        f'<span class="sugg">{e(plain(sugg))}</span>'
                        f'<div class="meta">{e(" · ".join(map(str, facts)))}</div>'
                        f'<div class="path">{e(r["path"])}</div>{_finding_id(r)}')
                cards.append(f'<div class="card side">{self.thumb(r["path"])}<div>{text}</div>'
                             "</div>")
            else:
                others.append(r)
        out = f'<div class="grid">{"".join(cards)}</div>' if cards else ""
        clusters = [r for r in others if isinstance(r.get("paths"), list)]
        if clusters:
            out += "<h3>Same image, different labels</h3>" + self.clusters(
                {"findings": clusters})
        rest = [r for r in others if not isinstance(r.get("paths"), list)]
        if rest:
            out += self.table({"findings": rest})
        return out + note

    def sheets(self, check: dict) -> str:
        """A contact sheet per kind (dark, blurry, upscaled, ...): each image with what was
        measured."""
        rows, note = self.cap(list(check.get("findings") or []), "images")
        kinds: dict[str, list] = {}
        for r in rows:
            kinds.setdefault(str(r.get("kind")), []).append(r)
        out = []
        for kind, group in kinds.items():
            figs = "".join(
                self.thumb(r.get("path"), _caption(r.get("split"), r.get("label"), r.get("path"))
                           + f'<div class="detail">{e(r.get("detail"))}</div>{_finding_id(r)}')
                for r in group)
            out.append(f'<h3 class="sheet">{e(kind.replace("_", " "))} '
                       f'<span class="meta">{len(group):,}</span></h3>'
                       f'<div class="row">{figs}</div>')
        return "".join(out) + note

    def files(self, check: dict) -> str:
        rows, note = self.cap(list(check.get("findings") or []), "files")
        if not rows:
            return ""
        body = "".join(
            f"<tr><td class=\"pic\">{self.thumb(r.get('path'))}</td>"
            f"<td class=\"path\">{e(r.get('path'))}</td>"
            f"<td>{e(r.get('problem'))}{_finding_id(r)}</td></tr>" for r in rows)
        return ('<table><thead><tr><th class="pic"></th><th>file</th><th>problem</th></tr></thead>'
                f"<tbody>{body}</tbody></table>{note}")

    def counts(self, check: dict) -> str:
        out = ""
        counts = (check.get("details") or {}).get("counts") or {}
        if counts:
            splits = list(counts)
            labels = sorted({str(lab) for c in counts.values() for lab in c})
            top = max([n for c in counts.values() for n in c.values()] + [1])
            head = "".join(f'<th class="num">{e(s)}</th>' for s in splits)
            body = []
            for lab in labels:
                cells = []
                for s in splits:
                    n = counts[s].get(lab, 0)
                    width = round(100 * n / top, 1)
                    cells.append(f'<td class="num"><span class="track"><div class="bar" '
                                 f'style="width:{width}%"></div></span>{num(n)}</td>')
                body.append(f"<tr><td>{e(lab)}</td>{''.join(cells)}</tr>")
            out += (f"<h3>Images per class and split</h3><table><thead><tr><th>class</th>{head}"
                    f"</tr></thead><tbody>{''.join(body)}</tbody></table>")
        rows, note = self.cap(list(check.get("findings") or []), "findings")
        if rows:
            body = "".join(f"<tr><td>{e(r.get('kind'))}</td><td>{e(r.get('split'))}</td>"
                           f"<td>{e(r.get('label'))}</td>"
                           f"<td class=\"num\">{e(plain(r.get('count')))}</td>"
                           f"<td>{e(r.get('detail'))}</td></tr>" for r in rows)
            out += ("<h3>Findings</h3><table><thead><tr><th>kind</th><th>split</th><th>class</th>"
                    '<th class="num">images</th><th>detail</th></tr></thead>'
                    f"<tbody>{body}</tbody></table>{note}")
        return out

    def table(self, check: dict) -> str:
        """Any other check (shift, future ones): a table of its findings' keys, with a thumbnail
        where a finding names one image (``path``)."""
        rows, note = self.cap(list(check.get("findings") or []), "findings")
        if not rows:
            return ""
        keys = list(dict.fromkeys(k for r in rows for k in r))
        pics = any(isinstance(r.get("path"), str) for r in rows)
        head = ('<th class="pic"></th>' if pics else "") + "".join(f"<th>{e(k)}</th>" for k in keys)
        body = []
        for r in rows:
            pic = ""
            if pics:
                pic = (f'<td class="pic">{self.thumb(r["path"])}</td>'
                       if isinstance(r.get("path"), str) else '<td class="pic"></td>')
            cells = "".join(f"<td>{e(plain(r.get(k)))}</td>" for k in keys)
            body.append(f"<tr>{pic}{cells}</tr>")
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
                f"{note}")

    def sample_grid(self, samples) -> str:
        rows = []
        items = list(samples.items())
        shown, note = self.cap(items, "classes")
        for label, value in shown:
            if isinstance(value, Mapping):
                groups = "".join(
                    f'<div class="split-group"><span>{e(split)}</span><div class="row" '
                    f'style="margin:0">{"".join(self.thumb(p) for p in _paths(paths))}</div></div>'
                    for split, paths in value.items())
                cell = f'<div class="row" style="margin:0">{groups}</div>'
            else:
                cell = (f'<div class="row" style="margin:0">'
                        f'{"".join(self.thumb(p) for p in _paths(value))}</div>')
            rows.append(f"<tr><th>{e(label)}</th><td>{cell}</td></tr>")
        return (f"<h2>Samples per class</h2><table class=\"samples\"><tbody>{''.join(rows)}"
                f"</tbody></table>{note}")


def _paths(value: object) -> Iterable:
    if isinstance(value, str):
        return [value]
    try:
        return list(value)[:50]
    except TypeError:
        return []


def _finding_id(row: dict) -> str:
    """The finding's id and review mark, small, for copying into `datacheck decide`."""
    if not row.get("id"):
        return ""
    review = f' · <b>{e(row["review"])}</b>' if row.get("review") else ""
    return f'<div class="fid">{e(row["id"])}{review}</div>'


def _caption(split: object, label: object, path: object) -> str:
    parts = []
    if split is not None:
        parts.append(e(split))
    if label is not None:
        parts.append(f'<span class="lab">{e(label)}</span>')
    head = " · ".join(parts)
    tail = f'<div class="path">{breakable(path)}</div>' if path is not None else ""
    return head + tail
