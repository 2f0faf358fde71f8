"""One interface to where a dataset's images are: list, stat, read, locate, contain.

A :class:`Source` is a small picklable value (strings only), so worker processes and Dask
workers read through it themselves. Images are named by a *reference* relative to the source's
root, the ``path`` column of the index table:

- ``train/cat/1.jpg``: a file under a local folder or an fsspec URL (:class:`FolderSource`);
- ``data/train-00000.parquet#row=12``, ``shards/train-000.tar#000012.jpg``: a row of a Parquet
  or Arrow shard, a member of a WebDataset tar shard, under such a folder
  (:mod:`datacheck.sources.shards`);
- ``train/cat/1.jpg`` inside a zip archive (:class:`ZipSource`; shown as ``data.zip!train/...``).

Nothing outside ``storage`` and this module asks whether a location is a URL or an archive.
"""

from __future__ import annotations

import functools
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import shards, storage
from .storage import Location

#: Images read and decoded together by one worker (a shard's rows are read in one go).
CHUNK = 32


@dataclass(frozen=True)
class Source:
    """Base: a root (local path, URL or archive) and how its images are read."""

    root: str
    #: Parquet/Arrow column holding the encoded images ("" = detect).
    image_column: str = ""

    @property
    def is_local(self) -> bool:
        return not storage.is_url(self.root)

    @property
    def local_folder(self) -> Path | None:
        """The local folder whose files the references name; None for a URL or an archive."""
        return None

    def location(self, ref: str) -> str:
        """A string naming the image that a user can open, and the cache's key for it."""
        raise NotImplementedError

    def locations(self, refs: Sequence[str]) -> list[str]:
        return [self.location(r) for r in refs]

    def stat(self, refs: Sequence[str]) -> dict[str, tuple[int, int | None]]:
        """``{ref: (size, version)}`` of the files ``refs`` that exist (for manifests)."""
        return storage.stat_urls(self.root, refs)

    def read(self, ref: str) -> bytes:
        """The encoded bytes of one image. Raises OSError (or a backend's error)."""
        return self.read_many([ref])[0]

    def read_many(self, refs: Sequence[str]) -> list[bytes]:
        raise NotImplementedError

    def contains(self, ref: object) -> bool:
        """True when ``ref`` is a relative POSIX reference that stays inside the root."""
        if not isinstance(ref, str) or not ref or "\x00" in ref or "\\" in ref:
            return False
        pure = PurePosixPath(shards.container_of(ref)[0])
        return not pure.is_absolute() and ".." not in pure.parts

    def chunks(self, refs: Sequence[str]) -> list[list[int]]:
        """Index groups of ``refs`` a worker reads together: a shard's rows stay together."""
        return [list(range(i, min(i + CHUNK, len(refs)))) for i in range(0, len(refs), CHUNK)]

    def cache_dir(self) -> Path:
        """Default feature-cache folder."""
        raise NotImplementedError

    def shown(self) -> str:
        """The root as reports show it."""
        return self.root


@dataclass(frozen=True)
class FolderSource(Source):
    """A local folder or an fsspec URL: files, and rows/members of shards inside it."""

    @property
    def local_folder(self) -> Path | None:
        return Path(self.root) if self.is_local else None

    def location(self, ref: str) -> str:
        return self.locations([ref])[0]

    def locations(self, refs: Sequence[str]) -> list[str]:
        if not self.is_local:
            return [storage.join(self.root, r) for r in refs]
        prefix = os.path.join(self.root, "")  # concatenation: pathlib costs ~5 us a file
        return [prefix + (r if os.sep == "/" else r.replace("/", os.sep)) for r in refs]

    def read_many(self, refs: Sequence[str]) -> list[bytes]:
        out: list[bytes | None] = [None] * len(refs)
        by_shard: dict[str, list[int]] = {}
        for i, ref in enumerate(refs):
            shard, member = shards.container_of(ref)
            if member is None:
                out[i] = storage.read_relative(self.root, ref)
            else:
                by_shard.setdefault(shard, []).append(i)
        for shard, rows in by_shard.items():
            members = [shards.container_of(refs[i])[1] for i in rows]
            data = shards.read_members(storage.join(self.root, shard), members,
                                       self.image_column)
            for i, blob in zip(rows, data, strict=True):
                out[i] = blob
        return out  # type: ignore[return-value]

    def chunks(self, refs: Sequence[str]) -> list[list[int]]:
        if not any("#" in r for r in refs):
            return super().chunks(refs)
        groups: dict[str, list[int]] = {}
        for i, ref in enumerate(refs):
            groups.setdefault(shards.container_of(ref)[0], []).append(i)
        out = []
        for shard, rows in groups.items():
            members = [shards.container_of(refs[i])[1] for i in rows]
            units = (shards.read_units(storage.join(self.root, shard), members)
                     if members[0] is not None else [[0]])  # a plain file
            out += [[rows[k] for k in unit] for unit in units]
        return out

    def cache_dir(self) -> Path:
        return storage.cache_dir_for(self.root)


@dataclass(frozen=True)
class ZipSource(Source):
    """A zip archive of a folder tree, read member by member without unpacking."""

    def location(self, ref: str) -> str:
        return f"{self.root}!{ref}"

    def read_many(self, refs: Sequence[str]) -> list[bytes]:
        archive = _open_zip(self.root, os.getpid())
        return [archive.read(ref) for ref in refs]

    def cache_dir(self) -> Path:
        return storage.cache_dir_for(Path(self.root).parent)

    def shown(self) -> str:
        return Path(self.root).as_posix()


@functools.lru_cache(maxsize=4)
def _open_zip(path: str, pid: int) -> zipfile.ZipFile:
    """One open archive per process (``pid`` in the key: a forked worker must not share the
    parent's file offset)."""
    return zipfile.ZipFile(path)


def open_source(root: Location | Source, image_column: str = "") -> Source:
    """The source for a dataset root: a zip archive, else a folder or URL."""
    if isinstance(root, Source):
        return root
    text = os.fspath(root)
    if not storage.is_url(text) and text.lower().endswith(".zip") and Path(text).is_file():
        return ZipSource(str(Path(text).resolve()), image_column)
    return FolderSource(text, image_column)
