"""A dataset as it was at a git revision, DVC-tracked data included, without a work tree.

``datacheck audit PATH --rev REV`` lists PATH at REV through DVC's own fsspec filesystem
(:class:`dvc.api.DVCFileSystem`): files in git and outputs of ``dvc add`` or pipeline stages
alike. The listing is kept in a :class:`Snapshot` and served to the rest of datacheck as an
fsspec filesystem of its own (protocol ``datacheck-rev``), so the index, the manifest reader,
the scan and the HTML thumbnails read it like any URL dataset (:mod:`datacheck.sources.storage`).
Bytes come from the local DVC cache (the object file, read directly), from git (``git
cat-file``), or, for an object the local cache lacks, through DVCFileSystem from the
configured remote, fetched before decoding starts; one that no remote has is a one-line
:class:`BadInputError` (exit 2).

Which files at a revision need no reading at all: :mod:`datacheck.sources.known_content`.

Worker processes are forked and see the open snapshots; a Dask cluster (spawned workers) cannot
read a revision.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
from fsspec.spec import AbstractFileSystem

from ..errors import BadInputError
from . import storage

log = logging.getLogger(__name__)

PROTOCOL = "datacheck-rev"

#: Open snapshots by token (one per repository): inherited by forked workers.
_ACTIVE: dict[str, Snapshot] = {}


# -- where the dataset is -----------------------------------------------------------------------

@dataclass
class At:
    """A dataset path resolved at a revision: the URLs to index, and how to show it."""

    path: str
    root: str | None
    cache_dir: str
    shown_root: str
    describe: dict[str, Any]


def at_revision(path: str | os.PathLike, rev: str, *, root: str | os.PathLike | None = None,
                cache_dir: str | os.PathLike | None = None) -> At:
    """Open ``path`` (a folder or manifest of the working tree's repository, which need not
    exist in the working tree) as it was at git revision ``rev``."""
    path = os.fspath(path)
    if storage.is_url(path):
        raise BadInputError(f"--rev needs a path inside a git repository, not a URL ({path})")
    local = Path(path).absolute()
    top = _toplevel(local)
    commit = _resolve(top, rev)
    rel = _inside(top, local, path)
    rel_root = None if root is None else _inside(top, Path(os.fspath(root)).absolute(), root)
    if cache_dir is None:  # the working tree's cache, so both sides share decoded images
        folder = local if local.is_dir() else local.parent
        if not folder.is_dir():
            folder = top
        cache_dir = (storage.cache_dir_for(folder) if folder != top
                     else top / storage.CACHE_FOLDER)
    snap = Snapshot(top, rev, commit, Path(cache_dir))
    snap.activate()
    if snap.kind(rel) is None:
        raise BadInputError(f"{path}: not in revision {rev} ({commit[:12]}) of {top}")
    url = snap.url(rel)
    shown = Path(path).as_posix()
    return At(path=url, root=None if rel_root is None else snap.url(rel_root),
              cache_dir=str(cache_dir), shown_root=shown,
              describe={"rev": rev, "commit": commit})


def git(top: Path, *args: str, text: bool = True) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(top), *args], capture_output=True, text=text,
                              check=False)
    except OSError as exc:
        raise BadInputError(f"--rev needs git: {exc.strerror or exc}") from None


def _toplevel(local: Path) -> Path:
    probe = local
    while not probe.is_dir():
        probe = probe.parent
    out = git(probe, "rev-parse", "--show-toplevel")
    if out.returncode != 0:
        raise BadInputError(f"{local}: not inside a git repository (--rev reads git history)")
    return Path(out.stdout.strip()).resolve()


def _resolve(top: Path, rev: str) -> str:
    if not rev or rev.startswith("-"):
        raise BadInputError(f"--rev {rev!r}: not a git revision")
    out = git(top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    if out.returncode != 0:
        raise BadInputError(f"--rev {rev}: no such revision in {top}")
    return out.stdout.strip()


def _inside(top: Path, local: Path, given) -> str:
    parent = local.parent.resolve() if not local.exists() else local.resolve()
    full = parent / local.name if not local.exists() else parent
    try:
        rel = full.relative_to(top).as_posix()
    except ValueError:
        raise BadInputError(f"{given}: outside the git repository {top}") from None
    return "" if rel == "." else rel


# -- the snapshot and its filesystem ------------------------------------------------------------

@dataclass
class Snapshot:
    """What a revision holds under the paths listed so far: repository-relative path -> info
    (``size``, ``checksum``, and where the bytes are)."""

    top: Path
    rev: str
    commit: str
    cache_dir: Path
    files: dict[str, dict] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)
    #: Bytes fetched from a DVC remote for objects the local cache lacks.
    fetched: dict[str, bytes] = field(default_factory=dict, repr=False)
    _fs: Any = field(default=None, repr=False)

    @property
    def token(self) -> str:
        # one token per repository, not per revision: cache rows keyed by URL are replaced,
        # not multiplied, when another revision is audited (the checksum is the version)
        return hashlib.blake2b(str(self.top).encode(), digest_size=6).hexdigest()

    def url(self, rel: str) -> str:
        return f"{PROTOCOL}://{self.token}" + (f"/{rel}" if rel else "")

    def activate(self) -> None:
        _ACTIVE[self.token] = self

    @property
    def dvcfs(self):
        if self._fs is None:
            os.environ.setdefault("DVC_NO_ANALYTICS", "1")
            try:
                from dvc.api import DVCFileSystem
            except ImportError:  # pragma: no cover - dvc is a dependency
                raise BadInputError("--rev needs DVC: pip install dvc") from None
            try:
                self._fs = DVCFileSystem(str(self.top), rev=self.commit)
            except Exception as exc:
                raise BadInputError(f"--rev {self.rev}: cannot open the repository at "
                                    f"{self.top} ({storage.first_line(exc)})") from None
        return self._fs

    def kind(self, rel: str) -> str | None:
        if rel == "" or rel in self.dirs:
            return "directory"
        if rel in self.files:
            return "file"
        try:
            info = self._call("info", "/" + rel)
        except FileNotFoundError:
            return None
        self._add("/" + rel, info)
        return "directory" if info.get("type") == "directory" else "file"

    def list(self, rel: str) -> None:
        """List everything under ``rel`` once (one recursive DVCFileSystem find)."""
        if rel in self.listed or any(rel.startswith(x + "/") for x in self.listed if x):
            return
        found = self._call("find", "/" + rel if rel else "/", detail=True, withdirs=True)
        sizes = self.known_sizes()
        for name, info in found.items():
            self._add(name, info, sizes)
        self.listed.add(rel)

    def _add(self, name: str, info: dict, sizes: dict | None = None) -> None:
        rel = name.strip("/")
        if info.get("type") == "directory":
            self.dirs.add(rel)
            return
        entry = {"name": rel, "type": "file", "size": info.get("size")}
        dvc = info.get("dvc_info") or {}
        md5 = dvc.get("md5") or info.get("md5")
        if dvc and md5:
            entry["checksum"] = f"md5:{md5}"
            entry["object"] = self._object_path(md5)
            if entry["size"] is None:
                known = (sizes or {}).get(entry["checksum"])
                if known is not None:
                    entry["size"] = known
                else:
                    try:
                        entry["size"] = os.stat(entry["object"]).st_size
                    except OSError:
                        entry["size"] = 0  # not in the local cache: fetched if it is needed
        else:
            sha = None
            try:
                sha = (info.get("fs_info") or {}).get("sha")
            except Exception:  # a lazily computed field that fails: read the bytes instead
                sha = None
            if sha:
                entry["checksum"] = f"git:{sha}"
                entry["sha"] = sha
        self.files[rel] = entry

    def _object_path(self, md5: str) -> str:
        if not hasattr(self, "_odb"):
            self._odb = self.dvcfs.repo.cache.local
        return self._odb.oid_to_path(md5)

    def known_sizes(self) -> dict[str, int]:
        from .known_content import known_db  # it reads snapshots: imported when needed

        db = known_db(self.cache_dir, create=False)
        if db is None:
            return {}
        try:
            return {c: s for c, s in db.execute("SELECT checksum, size FROM known")}
        finally:
            db.close()

    def _call(self, method: str, *args, **kw):
        try:
            return getattr(self.dvcfs, method)(*args, **kw)
        except FileNotFoundError:
            raise
        except BadInputError:
            raise
        except Exception as exc:
            raise BadInputError(f"--rev {self.rev}: cannot read {args[0] if args else ''} "
                                f"({storage.first_line(exc)})") from None

    def read(self, rel: str) -> bytes:
        entry = self.files.get(rel)
        if entry is None:
            if self.kind(rel) != "file":
                raise FileNotFoundError(rel)
            entry = self.files[rel]
        if rel in self.fetched:
            return self.fetched[rel]
        if "object" in entry:
            try:
                with open(entry["object"], "rb") as fh:
                    return fh.read()
            except FileNotFoundError:
                pass
        elif "sha" in entry:
            out = git(self.top, "cat-file", "blob", entry["sha"], text=False)
            if out.returncode == 0:
                return out.stdout
        return self.dvcfs.cat_file("/" + rel)


def snapshot_of(url: str) -> tuple[Snapshot, str] | None:
    """(The open snapshot, repository-relative path) of a ``datacheck-rev://`` URL."""
    if not isinstance(url, str) or not url.startswith(PROTOCOL + "://"):
        return None
    token, _, rel = url[len(PROTOCOL) + 3:].strip("/").partition("/")
    snap = _ACTIVE.get(token)
    return None if snap is None else (snap, rel)


class RevisionFileSystem(AbstractFileSystem):
    """fsspec view of the open snapshots: ``datacheck-rev://<token>/<repo path>``."""

    protocol = PROTOCOL
    root_marker = ""

    def _split(self, path: str) -> tuple[Snapshot, str]:
        token, _, rel = self._strip_protocol(path).strip("/").partition("/")
        snap = _ACTIVE.get(token)
        if snap is None:
            raise FileNotFoundError(f"{path}: no revision open in this process")
        return snap, rel.strip("/")

    def info(self, path, **kwargs):
        snap, rel = self._split(path)
        kind = snap.kind(rel)
        if kind is None:
            raise FileNotFoundError(path)
        name = f"{snap.token}/{rel}".rstrip("/")
        if kind == "directory":
            return {"name": name, "type": "directory", "size": 0}
        entry = snap.files[rel]
        return {"name": name, "type": "file", "size": entry.get("size") or 0,
                **({"checksum": entry["checksum"]} if entry.get("checksum") else {})}

    def find(self, path, maxdepth=None, withdirs=False, detail=False, **kwargs):
        snap, rel = self._split(path)
        snap.list(rel)
        prefix = rel + "/" if rel else ""
        out = {}
        for d in snap.dirs:
            if withdirs and d.startswith(prefix) and d != rel:
                out[f"{snap.token}/{d}"] = {"name": f"{snap.token}/{d}", "type": "directory",
                                            "size": 0}
        for f, entry in snap.files.items():
            if f.startswith(prefix):
                name = f"{snap.token}/{f}"
                out[name] = {"name": name, "type": "file", "size": entry.get("size") or 0,
                             **({"checksum": entry["checksum"]} if entry.get("checksum")
                                else {})}
        out = dict(sorted(out.items()))
        return out if detail else list(out)

    def ls(self, path, detail=True, **kwargs):
        snap, rel = self._split(path)
        found = self.find(path, withdirs=True, detail=True)
        depth = len(f"{snap.token}/{rel}".strip("/").split("/")) + 1
        kids = [v for k, v in found.items() if len(k.split("/")) == depth]
        return kids if detail else [k["name"] for k in kids]

    def cat_file(self, path, start=None, end=None, **kwargs):
        snap, rel = self._split(path)
        data = snap.read(rel)
        return data[start:end] if start is not None or end is not None else data

    def _open(self, path, mode="rb", **kwargs):
        if "r" not in mode:
            raise PermissionError(f"{path}: a revision is read-only")
        return io.BytesIO(self.cat_file(path))


fsspec.register_implementation(PROTOCOL, RevisionFileSystem, clobber=True)


# -- known checksums ----------------------------------------------------------------------------
