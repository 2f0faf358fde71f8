"""The feature cache: decoded results keyed by content digest, in one SQLite file.

Two tables: ``files`` maps (absolute path, size, mtime) to a digest so an unchanged file is not
even read again; ``features`` maps (digest, config) to what :mod:`features.images` computed.
Every batch is committed, so a killed run loses at most the batch in flight; WAL mode lets
concurrent audits share one cache. A file SQLite cannot read is set aside and rebuilt. Beside
it, ``features-<config>.parquet`` holds the scalar rows of the last audit (see
:meth:`FeatureCache.features`).
"""

from __future__ import annotations

import hashlib
import logging
import operator
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd

from .images import THUMB, Decoded
from .variants import VARIANT_NAMES

log = logging.getLogger(__name__)

FILENAME = "cache.sqlite"
FEATURE_COLUMNS = [f.name for f in fields(Decoded)]
#: Per-image arrays kept as blobs; everything else is a scalar column of the scanned table.
BLOB_COLUMNS = ("thumb", "variants")
SCALAR_COLUMNS = [c for c in FEATURE_COLUMNS if c not in BLOB_COLUMNS]
#: A Decoded as a row (``dataclasses.astuple`` deep-copies every field: 10x slower).
_row = operator.attrgetter(*FEATURE_COLUMNS)
#: Identifies the table layout; a cache with another layout is emptied on open.
_LAYOUT = int(hashlib.blake2b(",".join(FEATURE_COLUMNS).encode(), digest_size=3).hexdigest(), 16)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, digest TEXT);
CREATE TABLE IF NOT EXISTS features (
    config TEXT, {", ".join(FEATURE_COLUMNS)}, PRIMARY KEY (digest, config));
CREATE TABLE IF NOT EXISTS previews (
    digest TEXT, px INTEGER, uri TEXT, width INTEGER, height INTEGER, PRIMARY KEY (digest, px));
"""


#: Column types of :meth:`FeatureCache.features` (also when it returns no row).
_DTYPES = {f.name: {"float": "float64", "int": "int64"}.get(str(f.type), "object")
           for f in fields(Decoded) if f.name in SCALAR_COLUMNS}


def scalar_frame(rows: Iterable[Sequence]) -> pd.DataFrame:
    """Scalar feature rows (values in ``SCALAR_COLUMNS`` order) as a DataFrame with the
    cache's column types, also when there is no row."""
    return pd.DataFrame.from_records(list(rows), columns=SCALAR_COLUMNS).astype(_DTYPES)


class FeatureCache:
    """Open (creating if needed) the cache in ``folder``."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / FILENAME
        #: The digests of each config's Parquet snapshot as :meth:`features` read it.
        self._kept: dict[str, set[str]] = {}
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_suffix(".corrupt")
            log.warning("feature cache %s is unreadable (%s); rebuilding it", self.path, exc)
            self.path.replace(aside)
            self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        if db.execute("PRAGMA user_version").fetchone()[0] != _LAYOUT:
            # written by a datacheck whose features had other columns: start again
            db.execute("BEGIN IMMEDIATE")
            db.execute("DROP TABLE IF EXISTS features")
            db.execute("DROP TABLE IF EXISTS files")
            db.execute(f"PRAGMA user_version = {_LAYOUT}")
            db.execute("COMMIT")
        db.executescript(_SCHEMA)
        db.execute("SELECT count(*) FROM features").fetchone()
        return db

    def close(self) -> None:
        self._db.close()

    def known_digests(self, paths: Sequence[str], sizes, mtimes) -> list[str | None]:
        """Digest of each file whose size and mtime are unchanged since it was cached, else None."""
        index = {p: (s, m, d) for p, s, m, d in
                 self._db.execute("SELECT path, size, mtime_ns, digest FROM files")}
        if not index:
            return [None] * len(paths)
        out: list[str | None] = []
        for p, s, m in zip(paths, sizes, mtimes, strict=False):
            hit = index.get(p)
            out.append(hit[2] if hit and hit[0] == s and hit[1] == m else None)
        return out

    def cached(self, digests: Iterable[str], config: str) -> set[str]:
        """The digests among ``digests`` whose features are cached under ``config``."""
        return {d for (d,) in self._db.execute(
            "SELECT digest FROM features WHERE config = ?", (config,))} & set(digests)

    def features(self, digests: Iterable[str], config: str) -> pd.DataFrame:
        """Scalar features (no thumbnails) of the cached digests among ``digests``.

        The rows that :meth:`keep_features` kept in ``features-<config>.parquet`` are read
        from there: a row never changes for its (digest, config), and Parquet reads ~10x
        faster than SQLite rows become a DataFrame. Only rows whose digest the database
        holds are taken from it (the blobs are read from the database later); the others
        come from the database."""
        wanted = set(digests)
        snapshot = self._snapshot(config)
        self._kept[config] = set() if snapshot is None else set(snapshot["digest"].tolist())
        if snapshot is not None:
            stored = self.cached(wanted, config)
            kept = snapshot[np.fromiter((d in stored for d in snapshot["digest"].tolist()),
                                        bool, len(snapshot))]
            rest = sorted(stored - set(kept["digest"].tolist()))
        if snapshot is None or len(rest) > len(stored) // 2:
            rows = self._db.execute(
                f"SELECT {', '.join(SCALAR_COLUMNS)} FROM features WHERE config = ?", (config,))
            at = SCALAR_COLUMNS.index("digest")
            # plain rows into one DataFrame: ~3x faster than pandas.read_sql_query on 100k rows
            return scalar_frame(r for r in rows if r[at] in wanted)
        frame = kept.reset_index(drop=True)
        if rest:
            query = f"SELECT {', '.join(SCALAR_COLUMNS)} FROM features " \
                    f"WHERE config = ? AND digest IN ({{}})"
            fetched = scalar_frame(self._by_digest(query, config, rest))
            frame = pd.concat([frame, fetched], ignore_index=True)
        return frame

    def keep_features(self, config: str, frame: pd.DataFrame) -> None:
        """Keep the scalar rows of an audit's images (cached and new) for the next
        :meth:`features` call; nothing is written when the kept file has these digests."""
        if set(frame["digest"].tolist()) == self._kept.get(config):
            return
        path = self.folder / f"features-{config}.parquet"
        part = path.with_name(f"{path.name}.{os.getpid()}")
        try:
            frame[SCALAR_COLUMNS].astype(_DTYPES).to_parquet(part, index=False)
            os.replace(part, path)
        except Exception as exc:  # a read-only cache, an odd column: read from the database
            log.debug("cannot keep %s (%s)", path, exc)

    def _snapshot(self, config: str) -> pd.DataFrame | None:
        try:
            frame = pd.read_parquet(self.folder / f"features-{config}.parquet")
        except Exception:  # none yet, or damaged: the database has every row
            return None
        return frame.astype(_DTYPES) if list(frame.columns) == SCALAR_COLUMNS else None

    def thumbs(self, digests: Sequence[str], config: str) -> np.ndarray:
        """RGB thumbnails (N x THUMB x THUMB x 3 uint8) in the order of ``digests``."""
        return self._blobs("thumb", digests, config, np.uint8, (THUMB, THUMB, 3))

    def variants(self, digests: Sequence[str], config: str) -> np.ndarray:
        """Variant hashes (N x len(VARIANT_NAMES) uint64) in the order of ``digests``."""
        return self._blobs("variants", digests, config, np.uint64, (len(VARIANT_NAMES),))

    def _blobs(self, column: str, digests: Sequence[str], config: str, dtype,
               shape: tuple[int, ...]) -> np.ndarray:
        """One blob column as an array (zeros where a digest has none), in digest order."""
        out = np.zeros((len(digests), *shape), dtype=dtype)
        pos: dict[str, list[int]] = {}
        for i, d in enumerate(digests):
            pos.setdefault(d, []).append(i)
        query = f"SELECT digest, {column} FROM features WHERE config = ? AND digest IN ({{}})"
        for digest, blob in self._by_digest(query, config, list(pos)):
            if blob:
                out[pos[digest]] = np.frombuffer(blob, dtype=dtype).reshape(shape)
        return out

    def _by_digest(self, query: str, first, digests: Sequence[str]):
        """Rows of ``query`` (one ``?`` for ``first``, then ``IN ({})`` for the digests), in
        chunks below SQLite's bound-parameter limit."""
        for start in range(0, len(digests), 900):
            chunk = digests[start:start + 900]
            yield from self._db.execute(query.format(",".join("?" * len(chunk))),
                                        [first, *chunk])

    def store(self, config: str, files: Sequence[tuple[str, int, int, str]],
              decoded: Sequence[Decoded]) -> None:
        """Record one batch atomically: file stats -> digest, and the decoded features."""
        marks = ",".join("?" * (len(FEATURE_COLUMNS) + 1))
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?)", files)
            self._db.executemany(
                f"INSERT OR REPLACE INTO features (config, {', '.join(FEATURE_COLUMNS)}) "
                f"VALUES ({marks})",
                [(config, *_row(d)) for d in decoded if d.digest],
            )

    def previews(self, digests: Sequence[str], px: int) -> dict[str, tuple[str, int, int]]:
        """HTML thumbnails (data URI, width, height) at ``px`` already made for ``digests``."""
        query = "SELECT digest, uri, width, height FROM previews WHERE px = ? AND digest IN ({})"
        return {digest: (uri, width, height) for digest, uri, width, height in
                self._by_digest(query, px, list(dict.fromkeys(digests)))}

    def store_previews(self, px: int, rows: Iterable[tuple[str, str, int, int]]) -> None:
        """Keep HTML thumbnails ``(digest, uri, width, height)`` made at ``px``."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO previews VALUES (?,?,?,?,?)",
                                 [(d, px, u, w, h) for d, u, w, h in rows])
