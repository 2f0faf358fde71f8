"""The thumbnails an HTML page shows: listed by a first rendering pass, decoded on threads
(Pillow releases the GIL), kept in the feature cache by content digest, then placed by the
second pass. Used by the audit page (:mod:`.html`) and the data-diff page (:mod:`.diff_html`).

An image is named by where it lives (a :class:`~datacheck.sources.source.Source`, or a local
path or URL, e.g. a revision's ``datacheck-rev://``) and its reference there; only references
that stay inside are read (:meth:`Source.contains`). A figure whose content digest is known
comes from the cache when an earlier page made it, even when the file is gone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..features.images import SMALL_SIDE
from ..features.parallel import available_cores
from ..features.samples import make_thumbnail
from ..sources.source import Source, open_source
from .escape import html_text as e

Made = tuple[str | None, str, tuple[int, int]]  # (data URI or None, why not, (width, height))


class Thumbnails:
    """Figures of ``px`` pixels a side; ``cache_dir`` is the feature cache that keeps them."""

    def __init__(self, px: int, *, cache_dir: str | os.PathLike | None = None,
                 workers: int | None = None) -> None:
        self.px = px
        self.cache_dir = cache_dir
        self.workers = max(1, min(8, workers or available_cores()))
        self._made: dict[tuple, Made] = {}
        #: While the first pass runs: key -> (folder, relative path, digest or None).
        self._wanted: dict[tuple, tuple] | None = None

    def render(self, page: Callable[[], str]) -> str:
        """``page()`` twice: the first call only lists the figures it shows, which are then
        made (from the cache or the files), the second call returns the page with them."""
        self._wanted = {}
        page()
        wanted, self._wanted = self._wanted, None
        self._fill(wanted)
        return page()

    def figure(self, where: Source | Path | str, rel: object, caption: str = "",
               digest: str | None = None) -> str:
        """A figure: the thumbnail of image ``rel`` of ``where`` (or a placeholder saying why
        there is none) and ``caption`` (already HTML)."""
        source = open_source(where)
        key = (source.root, rel if isinstance(rel, str) else f"\x00{rel!r}")  # no path has NUL
        if self._wanted is not None:
            self._wanted[key] = (source, rel, digest)
            return ""
        if key not in self._made:
            self._made[key] = make_thumbnail(source, rel, self.px)
        uri, why, (w, h) = self._made[key]
        title = e(rel if rel is not None else "")
        if uri is None:
            pic = f'<div class="thumb ph" title="{title}">{e(why)}</div>'
        else:
            px = " px" if max(w, h) <= SMALL_SIDE else ""
            pic = (f'<img class="thumb{px}" src="{uri}" width="{w}" height="{h}" '
                   f'alt="{title}" title="{title}">')
        cap = f"<figcaption>{caption}</figcaption>" if caption else ""
        return f"<figure>{pic}{cap}</figure>"

    def _fill(self, wanted: dict[tuple, tuple]) -> None:
        cache = self._open_cache() if any(d for _, _, d in wanted.values()) else None
        try:
            known = {} if cache is None else cache.previews(
                [d for _, _, d in wanted.values() if d], self.px)
            todo: dict[str, tuple] = {}  # one decode per content (or per file without one)
            for key, (source, rel, digest) in wanted.items():
                hit = known.get(digest or "")
                if hit is not None:
                    self._made[key] = (hit[0], "", (hit[1], hit[2]))
                else:
                    todo.setdefault(digest or repr(key), (source, rel))
            with ThreadPoolExecutor(self.workers) as pool:
                made = dict(zip(todo, pool.map(lambda job: make_thumbnail(*job, self.px),
                                               todo.values()), strict=True))
            for key, (_, _, digest) in wanted.items():
                if key not in self._made:
                    self._made[key] = made[digest or repr(key)]
            if cache is not None:
                digests = {d for _, _, d in wanted.values() if d}
                cache.store_previews(self.px, [(d, uri, w, h) for d, (uri, _, (w, h))
                                               in made.items() if uri and d in digests])
        finally:
            if cache is not None:
                cache.close()

    def _open_cache(self):
        if self.cache_dir is None:
            return None
        from ..features.cache import FeatureCache

        try:
            return FeatureCache(self.cache_dir)
        except Exception:  # a page without cached thumbnails is still a page
            return None
