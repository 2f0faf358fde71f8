"""Reading images out of shards: Parquet/Arrow rows and WebDataset tar members.

A reference ``SHARD#MEMBER`` names one image: ``train-00000.parquet#row=12`` (Parquet or Arrow:
the 13th row's image column), ``train-000.tar#000012.jpg`` (the tar member of that name; a user
opens it with ``tar -xf train-000.tar 000012.jpg``). Open shards are cached per process (the
pid is in the cache key: a forked worker must not share its parent's file offsets).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tarfile
import threading
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import BadInputError
from . import storage

#: File suffixes that hold many images.
TABLE_SUFFIXES = (".parquet", ".arrow")
TAR_SUFFIXES = (".tar",)
SHARD_SUFFIXES = TABLE_SUFFIXES + TAR_SUFFIXES
#: Most rows of one shard a worker reads and decodes together (a Parquet row group is one
#: unit when it is smaller).
UNIT_ROWS = 128
#: Serialises Parquet reads of the threads of one process (the copy verifier reads on threads).
_READING = threading.Lock()
#: Image column names tried, in order, when none is given.
IMAGE_COLUMNS = ("image", "img", "jpg", "png", "pixel_values")


def container_of(ref: str) -> tuple[str, str | None]:
    """``(shard, member)`` for ``SHARD#MEMBER``; ``(ref, None)`` for a plain file."""
    shard, sep, member = ref.rpartition("#")
    if sep and shard.lower().endswith(SHARD_SUFFIXES):
        return shard, member
    return ref, None


def row_ref(shard: str, row: int) -> str:
    return f"{shard}#row={row}"


def _row(member: str) -> int:
    return int(member[4:]) if member.startswith("row=") else -1


def read_units(url: str, members: Sequence[str]) -> list[list[int]]:
    """Positions of ``members`` (of the shard at ``url``) grouped into what one worker reads
    at once: a Parquet row group, else up to ``UNIT_ROWS`` members in file order."""
    if url.lower().endswith(".parquet"):
        starts = _row_group_starts(_parquet(url, os.getpid()))
        groups: dict[int, list[int]] = {}
        for k, name in enumerate(members):
            group = int(np.searchsorted(starts, _row(name), side="right")) - 1
            groups.setdefault(group, []).append(k)
        units = [sorted(g, key=lambda k: _row(members[k])) for _, g in sorted(groups.items())]
    else:
        units = [sorted(range(len(members)), key=lambda k: (_row(members[k]), members[k]))]
    return [u[i:i + UNIT_ROWS] for u in units for i in range(0, len(u), UNIT_ROWS)]


def read_members(url: str, members: Sequence[str], image_column: str) -> list[bytes]:
    """The encoded images of ``members`` of the shard at ``url`` (a local path or a URL)."""
    if url.lower().endswith(TAR_SUFFIXES):
        index = _tar_index(url)
        with storage.open_binary(url) as fh:
            out = []
            for name in members:
                if name not in index:
                    raise FileNotFoundError(f"{name} is not in {url}")
                offset, size = index[name]
                fh.seek(offset)
                out.append(fh.read(size))
            return out
    rows = [_row(name) for name in members]
    if url.lower().endswith(".arrow"):
        column = image_bytes(_arrow(url, os.getpid()), image_column, url)
        return [_pick(column, row, url) for row in rows]
    shard = _parquet(url, os.getpid())
    starts = _row_group_starts(shard)
    out = []
    for row in rows:
        group = int(np.searchsorted(starts, row, side="right")) - 1
        if not 0 <= row < shard.metadata.num_rows:
            raise FileNotFoundError(f"no row {row} in {url}")
        with _READING:  # one ParquetFile is not read from two threads at once
            column = _row_group(url, os.getpid(), group, image_column)
        out.append(_pick(column, row - int(starts[group]), url))
    return out


def _pick(column: pa.ChunkedArray, row: int, url: str) -> bytes:
    if not 0 <= row < len(column):
        raise FileNotFoundError(f"no row {row} in {url}")
    value = column[row].as_py()
    if value is None:
        raise OSError(f"a row of {url} has no image")
    return value


def image_column_of(schema: pa.Schema, image_column: str, where: str) -> str:
    """The name of the encoded-image column: a binary column, or a Hugging Face ``Image``
    struct (``{bytes, path}``). Raises BadInputError naming the columns there are."""
    name = image_column or next((c for c in IMAGE_COLUMNS if c in schema.names), "")
    if not name or name not in schema.names:
        raise BadInputError(f"{where}: no image column {image_column or 'image'!r} (columns: "
                            f"{', '.join(schema.names)}); name it with --image-column")
    kind = schema.field(name).type
    if pa.types.is_struct(kind):
        if kind.get_field_index("bytes") < 0:
            raise BadInputError(f"{where}: image column {name!r} has no 'bytes' field")
        kind = kind.field("bytes").type
    if not (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)):
        raise BadInputError(f"{where}: column {name!r} holds {kind}, not encoded images")
    return name


def image_bytes(table: pa.Table, image_column: str, where: str) -> pa.ChunkedArray:
    """The encoded images of a table, one ``bytes`` value (or null) per row."""
    column = table.column(image_column_of(table.schema, image_column, where))
    if pa.types.is_struct(column.type):
        column = pa.chunked_array([c.field("bytes") for c in column.chunks],
                                  type=column.type.field("bytes").type)
    return column


@functools.lru_cache(maxsize=8)
def _parquet(url: str, pid: int) -> pq.ParquetFile:
    return pq.ParquetFile(storage.open_binary(url) if storage.is_url(url) else url)


def _row_group_starts(shard: pq.ParquetFile) -> np.ndarray:
    sizes = [shard.metadata.row_group(g).num_rows for g in range(shard.num_row_groups)]
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


@functools.lru_cache(maxsize=2)
def _row_group(url: str, pid: int, group: int, image_column: str) -> pa.ChunkedArray:
    """The image column of one row group (the last two a process read are kept)."""
    shard = _parquet(url, pid)
    name = image_column_of(shard.schema_arrow, image_column, url)
    leaf = f"{name}.bytes" if pa.types.is_struct(shard.schema_arrow.field(name).type) else name
    return image_bytes(shard.read_row_group(group, columns=[leaf]), name, url)


@functools.lru_cache(maxsize=2)
def _arrow(url: str, pid: int) -> pa.Table:
    return read_arrow(url)


def read_arrow(url: str) -> pa.Table:
    """An Arrow IPC file (stream format, as ``datasets.save_to_disk`` writes, or file format)."""
    source = pa.memory_map(url) if not storage.is_url(url) else \
        pa.BufferReader(storage.read_bytes(url))
    try:
        return pa.ipc.open_stream(source).read_all()
    except pa.ArrowInvalid:
        source.seek(0)
        return pa.ipc.open_file(source).read_all()


def tar_members(url: str) -> tuple[tuple[str, int, int], ...]:
    """(name, data offset, size) of every regular file in a tar, in archive order, from one
    pass over its headers (kept per shard version: forked workers reuse the listing's)."""
    return _tar_members(url, _version(url))


def _tar_index(url: str) -> dict[str, tuple[int, int]]:
    """``{member name: (data offset, size)}`` of a tar."""
    return _tar_index_at(url, _version(url))


def _version(url: str) -> tuple[int, int] | None:
    if storage.is_url(url):
        return None
    st = os.stat(url)
    return st.st_mtime_ns, st.st_size


@functools.lru_cache(maxsize=256)
def _tar_members(url: str, version) -> tuple[tuple[str, int, int], ...]:
    def scan() -> list:
        with storage.open_binary(url) as fh, tarfile.open(fileobj=fh, mode="r:") as tar:
            return [(m.name, m.offset_data, m.size) for m in tar if m.isfile()]
    return tuple(tuple(m) for m in stored(url, "members", scan))


def stored(url: str, what: str, compute):
    """``compute()`` for a local shard, kept as JSON in the user cache by the shard's path,
    mtime and size: a re-audit lists an unchanged tar without reading its headers again
    (100k members: ~3 s). URLs are computed every time."""
    version = _version(url)
    if version is None:
        return compute()
    key = hashlib.blake2b(f"{os.path.abspath(url)}|{version}|{what}".encode(),
                          digest_size=12).hexdigest()
    path = storage.user_cache_dir() / "shard-index" / f"{key}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{key}.{os.getpid()}.partial")
        partial.write_text(json.dumps(value))
        partial.replace(path)
    except OSError:  # a read-only cache folder: no shortcut next time
        pass
    return value


@functools.lru_cache(maxsize=8)
def _tar_index_at(url: str, version) -> dict[str, tuple[int, int]]:
    return {name: (offset, size) for name, offset, size in _tar_members(url, version)}
