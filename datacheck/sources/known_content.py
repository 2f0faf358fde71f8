"""Content datacheck need not read: checksums git or DVC already computed, mapped to digests.

Every file at a revision comes with a checksum that git or DVC already
computed: DVC's md5 (``md5:<hex>``) or git's blob id (``git:<sha>``). ``versions.sqlite`` in the
feature-cache folder maps such checksums to datacheck's content digest (BLAKE2b) and size. It
is filled after every scan: at a revision from the listing, and for a working tree inside a DVC
project from DVC's own state database (the md5s DVC recorded for the files it added or checked
out, looked up by inode, mtime and size, never by reading) and from git's index (``git ls-files
-s`` for files git reports unmodified); a file neither knows is asked about again only
after git's index changes. Before a revision is scanned, every file whose checksum
is known is written into the feature cache's ``files`` table under its URL (with the checksum
as its version), so the scan takes its digest and features from the cache: an unchanged file
is neither read nor decoded, and auditing the base of a pull request costs the files it changed.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from ..errors import BadInputError
from .revision import Snapshot, git, snapshot_of
from .storage import first_line

log = logging.getLogger(__name__)

#: The checksum -> digest table, next to the feature cache's cache.sqlite.
KNOWN = "versions.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS known (checksum TEXT PRIMARY KEY, digest TEXT, size INTEGER);
CREATE TABLE IF NOT EXISTS asked (digest TEXT PRIMARY KEY, mark TEXT);
"""


def known_db(folder: Path | str, *, create: bool = True) -> sqlite3.Connection | None:
    path = Path(folder) / KNOWN
    if not create and not path.exists():
        return None
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=60, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        return db
    except sqlite3.DatabaseError:
        try:  # a damaged table is only a lost shortcut: start again
            path.unlink()
            db = sqlite3.connect(path, timeout=60, isolation_level=None)
            db.executescript(_SCHEMA)
            return db
        except (OSError, sqlite3.DatabaseError):
            return None
    except OSError:
        return None


def _remember(folder: Path | str, rows: list[tuple[str, str, int]],
              asked: list[tuple[str, str]] = ()) -> None:
    """Keep checksum -> digest ``rows``, and the (digest, mark) of the ``asked`` digests no
    one knew a checksum for."""
    if not rows and not asked:
        return
    db = known_db(folder)
    if db is None:
        return
    try:
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR REPLACE INTO known VALUES (?,?,?)", rows)
            db.executemany("INSERT OR REPLACE INTO asked VALUES (?,?)", asked)
    except sqlite3.Error as exc:  # a shortcut lost, not an audit failed
        log.warning("cannot record checksums in %s (%s)", Path(folder) / KNOWN, exc)
    finally:
        db.close()


def _rev_rows(dataset) -> list[tuple[int, str, dict]] | None:
    """(row number, repository-relative path, snapshot entry) of a revision dataset's rows."""
    found = snapshot_of(str(dataset.root))
    if found is None:
        return None
    snap, base = found
    out = []
    for i, rel in enumerate(dataset.table["path"].tolist()):
        repo_rel = f"{base}/{rel}" if base else rel
        entry = snap.files.get(repo_rel)
        if entry is None and snap.kind(repo_rel) == "file":
            entry = snap.files[repo_rel]
        out.append((i, repo_rel, entry or {}))
    return out


def prime(dataset, store, config: str) -> int:
    """Before the scan of a revision: tell the feature cache the digest of every file whose
    checksum is known (so it is not read), and fetch from the DVC remote the objects that must
    be read but are not in the local cache. Returns how many files are known. A no-op for
    other datasets."""
    rows = _rev_rows(dataset)
    if rows is None:
        return 0
    snap = snapshot_of(str(dataset.root))[0]
    db = known_db(store.folder, create=False)
    known: dict[str, tuple[str, int]] = {}
    if db is not None:
        try:
            wanted = {e.get("checksum") for _, _, e in rows if e.get("checksum")}
            for c, d, s in db.execute("SELECT checksum, digest, size FROM known"):
                if c in wanted:
                    known[c] = (d, s)
        finally:
            db.close()
    stats = dataset.listing or {}
    paths = dataset.table["path"].tolist()
    files, unread = [], []
    for i, repo_rel, entry in rows:
        hit = known.get(entry.get("checksum"))
        if hit:
            size, version = stats.get(paths[i], (0, None))
            if version is not None:
                files.append((dataset.source.location(paths[i]), size, version, hit[0]))
                continue
        unread.append((repo_rel, entry))
    if files:
        store.store(config, files, [])
    # features of a known digest may be missing (another --hash): those files are read too
    need = [(r, e) for r, e in unread if "object" in e and not os.path.exists(e["object"])]
    if files:
        missing_objects = [(paths[i], e) for i, _, e in rows
                           if "object" in e and e.get("checksum") in known
                           and not os.path.exists(e["object"])]
        if missing_objects:
            have = store.cached([known[e["checksum"]][0] for _, e in missing_objects], config)
            base = snapshot_of(str(dataset.root))[1]
            need += [((f"{base}/{p}" if base else p), e) for p, e in missing_objects
                     if known[e["checksum"]][0] not in have]
    _fetch(snap, need)
    return len(files)


def _fetch(snap: Snapshot, need: list[tuple[str, dict]]) -> None:
    """Bytes of DVC objects missing from the local cache, from the configured remote; the
    first that no remote has is a BadInputError naming it and how many are missing."""
    failed = []
    for repo_rel, entry in need:
        try:
            snap.fetched[repo_rel] = snap.dvcfs.cat_file("/" + repo_rel)
        except Exception as exc:  # no remote, not on the remote, network
            failed.append((repo_rel, entry, exc))
    if failed:
        rel, entry, exc = failed[0]
        more = f" ({len(failed):,} files missing)" if len(failed) > 1 else ""
        raise BadInputError(
            f"{rel} at {snap.rev}: not in the DVC cache and not fetched from a remote "
            f"({entry['checksum']}; {first_line(exc)}){more}: run `dvc fetch` or `dvc pull` "
            f"for that revision")


def learn(dataset, table, store) -> int:
    """After a scan: remember checksum -> digest for every image whose checksum git or DVC
    knows without reading it (see the module docstring). Returns how many were new."""
    rows = _rev_rows(dataset)
    digests = table["digest"].tolist()
    sizes = table["bytes"].tolist() if "bytes" in table else [0] * len(table)
    if rows is not None:
        new = [(e["checksum"], digests[i], int(sizes[i])) for i, _, e in rows
               if e.get("checksum") and isinstance(digests[i], str) and digests[i]]
        _remember(store.folder, new)
        return len(new)
    folder = dataset.source.local_folder
    if folder is None or dataset.listing is None:
        return 0
    top = _dvc_or_git_top(folder)
    if top is None:
        return 0
    try:
        return _learn_workspace(folder, top, dataset.table["path"].tolist(),
                                digests, sizes, store.folder)
    except Exception as exc:  # never fail an audit over a shortcut for a later one
        log.warning("cannot learn git/DVC checksums under %s (%s)", top, exc)
        return 0


def _dvc_or_git_top(root: Path) -> Path | None:
    """The nearest folder at or above ``root`` with a ``.git``; a folder this user may not
    look into ends the search (the checksums are a shortcut, never a reason to fail)."""
    for probe in (root, *root.parents):
        try:
            if (probe / ".git").exists():
                return probe
        except OSError:
            return None
    return None


def _learn_workspace(root: Path, top: Path, paths, digests, sizes, folder) -> int:
    """Checksums of working-tree files from DVC's state database and git's index, for the
    digests not yet remembered. A digest neither knew is not asked about again while git's
    index is unchanged (:func:`_index_mark`): untracked data inside a DVC project would
    otherwise load DVC on every audit."""
    mark = _index_mark(top)
    db = known_db(folder, create=False)
    have: set[str] = set()
    if db is not None:
        try:
            have = {d for (d,) in db.execute("SELECT digest FROM known")}
            if mark is not None:
                have |= {d for (d,) in db.execute("SELECT digest FROM asked WHERE mark = ?",
                                                  (mark,))}
        finally:
            db.close()
    todo = [(p, d, s) for p, d, s in zip(paths, digests, sizes, strict=False)
            if isinstance(d, str) and d and d not in have]
    if not todo:
        return 0
    prefix = os.path.join(os.fspath(root), "")
    rows: list[tuple[str, str, int]] = []
    if (top / ".dvc").is_dir():
        rows += _dvc_state(top, [(prefix + p, d, s) for p, d, s in todo])
    rows += _git_index(root, top, todo)
    learned = {d for _, d, _ in rows}
    asked = [] if mark is None else [(d, mark) for _, d, _ in todo if d not in learned]
    _remember(folder, rows, asked)
    return len(rows)


def _index_mark(top: Path) -> str | None:
    """Size and mtime of git's index: a file DVC or git starts to track reaches a revision
    only through ``git add``, which rewrites the index. None where the index is elsewhere
    (a linked worktree) or unreadable: then every unknown digest is asked about."""
    try:
        st = (top / ".git" / "index").stat()
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


def _dvc_state(top: Path, items: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """md5s DVC's state database holds for these files (inode, mtime and size unchanged)."""
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    try:
        from dvc.repo import Repo

        repo = Repo(str(top), uninitialized=False)
    except Exception:  # no DVC, a broken project: the base is read instead
        return []
    try:
        by_path = {p: (d, s) for p, d, s in items}
        out = []
        for path, _meta, hash_info in repo.state.get_many(list(by_path), repo.fs, {}):
            if hash_info is not None and hash_info.value and \
                    not hash_info.value.endswith(".dir"):
                d, s = by_path[path]
                out.append((f"md5:{hash_info.value}", d, int(s)))
        return out
    except Exception:
        return []
    finally:
        repo.close()


def _git_index(root: Path, top: Path, todo) -> list[tuple[str, str, int]]:
    """Blob ids of files git tracks under ``root`` that git reports unmodified."""
    rel_root = os.path.relpath(root, top).replace(os.sep, "/")
    rel_root = "" if rel_root == "." else rel_root + "/"
    staged = git(top, "ls-files", "-s", "-z", "--", rel_root or ".")
    if staged.returncode != 0 or not staged.stdout:
        return []
    changed = git(top, "diff-files", "--name-only", "-z", "--", rel_root or ".")
    dirty = set(changed.stdout.split("\0")) if changed.returncode == 0 else None
    if dirty is None:
        return []
    sha_of = {}
    for item in staged.stdout.split("\0"):
        meta, _, name = item.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and name.startswith(rel_root) and name not in dirty:
            sha_of[name[len(rel_root):]] = parts[1]
    return [(f"git:{sha_of[p]}", d, int(s)) for p, d, s in todo if p in sha_of]


