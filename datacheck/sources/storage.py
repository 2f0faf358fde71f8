"""Where the images are: local paths (read with os functions, the fast path) or fsspec URLs.

A URL (``s3://bucket/prefix``, ``gs://...``, ``memory://...``, or any protocol fsspec knows,
chained ones included) is listed, stat-ed and read through ``fsspec.core.url_to_fs``;
everything else is a local path and never touches fsspec. A plain ``file://`` URL is turned
into the local path it names (:func:`localize`), so it gets the local path's speed and its
handling of symlinks, undecodable names and read-only folders. Datasets pass plain strings
around (a root URL, ``join(root, rel)`` per file), so worker processes and Dask workers get
picklable values and open the filesystem themselves (fsspec caches instances per process and
makes fresh ones after a fork).

Remote backends are optional: ``pip install 'datacheck[s3]'`` (s3fs) or ``'datacheck[gcs]'``
(gcsfs). A protocol fsspec does not know, or whose package is missing, is a
:class:`BadInputError` with one line that says what to install.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from ..errors import BadInputError

log = logging.getLogger(__name__)

#: ``proto://`` or chained ``proto::proto://`` at the start of a string.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*(::[A-Za-z][A-Za-z0-9+.\-]*)*://")
#: Backends datacheck names as extras: protocol -> (package, extra).
_EXTRAS = {"s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"), "gs": ("gcsfs", "gcs"),
           "gcs": ("gcsfs", "gcs")}
#: Above this many files, one recursive listing of the root beats one stat call per file.
LIST_ABOVE = 64
#: Info keys that identify a remote object's content or version, best first.
_CHECKSUM_KEYS = ("ETag", "etag", "md5Hash", "content_md5", "crc32c", "checksum", "generation",
                  "VersionId", "version_id")
#: Info keys holding a modification (or creation) time, best first.
_TIME_KEYS = ("mtime", "LastModified", "last_modified", "updated", "modified", "created")

Location = str | Path


def is_url(path: object) -> bool:
    """True for ``proto://...`` strings; local paths (str or Path) are False."""
    return isinstance(path, str) and "://" in path and _URL.match(path) is not None


def localize(path: str) -> str:
    """The local path a plain ``file://`` (or ``local://``) URL names; anything else as is."""
    if not is_url(path):
        return path
    parsed = urlparse(path)
    if parsed.scheme.lower() in ("file", "local") and "::" not in path and \
            parsed.netloc in ("", "localhost"):
        return url2pathname(parsed.path) or "/"
    return path


def protocol(url: str) -> str:
    """The last (innermost) protocol of a URL: ``s3`` for ``simplecache::s3://b/k``."""
    return url.split("://", 1)[0].rsplit("::", 1)[-1].lower()


def url_to_fs(url: str):
    """``(filesystem, path without protocol)`` for a URL, or a one-line :class:`BadInputError`
    when fsspec lacks the protocol or its backend package."""
    try:
        import fsspec.core
    except ImportError:  # pragma: no cover - fsspec is a dependency
        raise BadInputError(f"{url}: reading URLs needs fsspec: pip install fsspec") from None
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as exc:
        raise BadInputError(f"{url}: {_install_hint(url, exc)}") from None
    except ValueError as exc:
        if "protocol not known" in str(exc).lower():
            raise BadInputError(f"{url}: unknown protocol {protocol(url)!r} (fsspec has no "
                                f"backend for it)") from None
        raise BadInputError(f"{url}: {first_line(exc)}") from None
    except Exception as exc:  # a backend that fails to start (missing JVM, bad options, ...)
        raise BadInputError(f"{url}: cannot open {protocol(url)}:// ({first_line(exc)})") \
            from None


def _install_hint(url: str, exc: Exception) -> str:
    proto = protocol(url)
    if proto in _EXTRAS:
        package, extra = _EXTRAS[proto]
        return f"no backend for {proto}:// — install {package}: pip install 'datacheck[{extra}]'"
    return f"no backend for {proto}:// — {first_line(exc)}"


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (at most 200 characters), for one-line errors."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text[:200]


def trim(url: str) -> str:
    """A root URL without trailing slashes (``memory://`` keeps its ``://``)."""
    head, sep, tail = url.rpartition("://")
    return head + sep + tail.rstrip("/")


def shown(location: Location) -> str:
    """A location as reports show it: a URL without trailing slashes, a POSIX path."""
    return trim(location) if is_url(location) else Path(location).as_posix()


def join(root: Location, rel: str) -> str:
    """The file ``rel`` (relative, POSIX) under ``root``, as a string the reader accepts."""
    if isinstance(root, str) and is_url(root):
        return root + rel if root.endswith("/") else f"{root}/{rel}"
    return str(Path(root) / rel)


def parent(url: str) -> str:
    """The folder URL a file URL is in."""
    head, sep, tail = trim(url).rpartition("://")
    return head + sep + (tail.rsplit("/", 1)[0] if "/" in tail else "")


def kind(url: str) -> str | None:
    """``"file"``, ``"directory"`` or None when nothing is at ``url``."""
    fs, path = url_to_fs(url)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        return None
    except Exception as exc:  # permissions, network
        raise BadInputError(f"{url}: cannot read ({first_line(exc)})") from None
    return "directory" if info.get("type") == "directory" else "file"


def listing(root: str) -> tuple[dict[str, dict], set[str]]:
    """Every file under the root URL (``{relative POSIX path: fsspec info}``) and every folder
    (relative paths), from one recursive listing."""
    fs, base = url_to_fs(root)
    prefix = base.rstrip("/") + "/"
    try:
        found = fs.find(base, withdirs=True, detail=True)
    except Exception as exc:
        raise BadInputError(f"{root}: cannot list ({first_line(exc)})") from None
    files, dirs = {}, set()
    for name, info in found.items():
        name = name.rstrip("/")
        if not name.startswith(prefix):
            continue
        rel = name[len(prefix):]
        if info.get("type") == "directory":
            dirs.add(rel)
        elif info.get("type", "file") == "file":  # not links or other special entries
            files[rel] = info
    return files, dirs


def version(info: dict) -> int | None:
    """An int that changes when the object changes: its checksum / ETag when the backend gives
    one, else its modification time in ns; None when the backend gives neither."""
    for key in _CHECKSUM_KEYS:
        value = info.get(key)
        if value not in (None, ""):
            return _int64(f"{key}={value}")
    for key in _TIME_KEYS:
        value = info.get(key)
        if isinstance(value, dt.datetime):
            value = value.timestamp()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            # seconds (to the microsecond: listings and stat calls round differently) or ns
            return round(value * 1e6) * 1000 if value < 1e12 else int(value)
        if isinstance(value, str) and value:
            return _int64(f"{key}={value}")
    return None


def _int64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big",
                          signed=True)


def stat_local(paths: Sequence[str | None]) -> tuple[list[int], list[int]]:
    """Sizes and mtimes (ns) of local files; -1 for a missing file or a None path."""
    sizes, mtimes = [], []
    for p in paths:
        try:
            if p is None:
                raise OSError("not to be opened")
            st = os.stat(p)
            sizes.append(st.st_size)
            mtimes.append(st.st_mtime_ns)
        except OSError:
            sizes.append(-1)
            mtimes.append(-1)
    return sizes, mtimes


def stat_urls(root: str, rels: Sequence[str]) -> dict[str, tuple[int, int | None]]:
    """``{rel: (size, version)}`` for the files ``rels`` under the root URL that exist: one
    recursive listing when there are many, else one stat call each."""
    if len(rels) > LIST_ABOVE:
        files, _ = listing(root)
        wanted = set(rels)
        return {r: (int(i.get("size") or 0), version(i)) for r, i in files.items()
                if r in wanted}
    out = {}
    for rel in rels:
        fs, path = url_to_fs(join(root, rel))
        try:
            info = fs.info(path)
        except Exception:  # missing or unreadable: the integrity check reports it
            continue
        if info.get("type") != "directory":
            out[rel] = (int(info.get("size") or 0), version(info))
    return out


def read_bytes(path: str) -> bytes:
    """All bytes of a local file or a URL. Raises OSError (or the backend's error)."""
    if is_url(path):
        import fsspec.core

        fs, inner = fsspec.core.url_to_fs(path)
        return fs.cat_file(inner)
    with open(path, "rb") as fh:
        return fh.read()


def open_binary(path: Location):
    """A binary file object for a local path or a URL (for manifests)."""
    if isinstance(path, str) and is_url(path):
        fs, inner = url_to_fs(path)
        return fs.open(inner, "rb")
    return open(path, "rb")


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/datacheck`` (default ``~/.cache/datacheck``)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "datacheck"


#: The feature cache's folder inside a writable local dataset folder.
CACHE_FOLDER = ".datacheck"


def cache_dir_for(root: Location) -> Path:
    """The one rule for where a dataset's feature cache lives by default: ``ROOT/.datacheck``
    for a writable local folder; otherwise a per-root folder in the user's cache
    (``url-<hash>`` for a URL), never the remote or read-only root."""
    key = hashlib.blake2b(str(root).encode(), digest_size=8).hexdigest()
    if isinstance(root, str) and is_url(root):
        return user_cache_dir() / f"url-{key}"
    local = Path(root) / CACHE_FOLDER
    if os.access(root, os.W_OK) or (local.is_dir() and os.access(local, os.W_OK)):
        return local
    log.warning("%s is read-only; caching under %s", root, user_cache_dir() / key)
    return user_cache_dir() / key


def read_relative(root: Location, rel: str) -> bytes:
    """The bytes of file ``rel`` (a dataset-relative POSIX path) under ``root``."""
    if is_url(root):
        return read_bytes(join(root, rel))
    with open(os.path.join(os.fspath(root), *rel.split("/")), "rb") as fh:
        return fh.read()
