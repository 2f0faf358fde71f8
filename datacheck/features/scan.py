"""Index table -> feature table: decode every image once, in parallel, through the cache."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import jit
from ..errors import BadInputError
from ..options import group, option
from ..sources import storage
from ..sources.dataset import BAD_NAME, Dataset
from ..sources.source import Source
from . import parallel
from .cache import SCALAR_COLUMNS, FeatureCache, scalar_frame
from .images import HASHES, Decoded, decode_read

#: Bump when what images.py computes changes, so stale cache rows are not reused.
FEATURES_VERSION = 5
#: Images per cache transaction: a killed run loses at most this many decodes.
BATCH = int(os.environ.get("DATACHECK_BATCH", "512"))


def feature_config(hash_name: str) -> str:
    return f"v{FEATURES_VERSION}-{hash_name}"


def _decode_chunk(hash_name: str, source: Source, refs: list[str]) -> list[Decoded]:
    """Read ``refs`` together (a shard's rows in one go) and decode each; a read error is
    that image's problem (the chunk is read again one image at a time to say whose)."""
    try:
        blobs = source.read_many(refs)
    except Exception:
        return [decode_read(functools.partial(source.read, r), hash_name=hash_name)
                for r in refs]
    return [decode_read(functools.partial(bytes, b), hash_name=hash_name) for b in blobs]


@group("scan", order=10)
@dataclass(frozen=True)
class ScanOptions:
    """How images are read and decoded."""

    hash: str = option("phash", "Perceptual hash.", choices=tuple(HASHES))
    workers: int | None = option(None, "Processes (decoding) and threads (copy search, models) "
                                 "[default: all cores].", minimum=1, param=False)
    scheduler: str | None = option(None, "Dask scheduler (tcp://host:port) to decode on "
                                   "[default: local processes]; env DATACHECK_SCHEDULER.",
                                   envvar="DATACHECK_SCHEDULER", param=False)
    cache_dir: str | None = option(None, "Feature cache folder [default: PATH/.datacheck].",
                                   flag="--cache", kind="folder", param=False)


def scan(dataset: Dataset, *, hash_name: str = "phash", workers: int | None = None,
         cache_dir: str | os.PathLike | None = None, progress: bool = True,
         scheduler: str | None = None) -> pd.DataFrame:
    """The index table plus ``digest``, ``problem`` and the image features, one row per image
    (opening and closing the feature cache; ``frame.attrs["decoded"]`` says how many files
    this call decoded). An audit uses :func:`scan_table` with its own open store."""
    options = ScanOptions(hash_name, workers, scheduler,
                          None if cache_dir is None else str(cache_dir))
    store = open_cache(dataset, options.cache_dir)
    try:
        table, decoded = scan_table(dataset, store, options, progress=progress)
    finally:
        store.close()
    table.attrs["decoded"] = decoded
    return table


def readable_thumbs(dataset: Dataset, options: ScanOptions, *, progress: bool = False
                    ) -> tuple[pd.DataFrame, np.ndarray]:
    """(The scanned table of the readable images, their RGB thumbnails N x 32 x 32 x 3): what a
    model trains on, decoded through the same cache as the audit."""
    store = open_cache(dataset, options.cache_dir)
    try:
        table, _ = scan_table(dataset, store, options, progress=progress)
        table = table[table["problem"].isna()].reset_index(drop=True)
        return table, store.thumbs(table["digest"].tolist(), feature_config(options.hash))
    finally:
        store.close()


def scan_table(dataset: Dataset, cache: FeatureCache, options: ScanOptions, *,
               progress: bool = True, ran: dict | None = None) -> tuple[pd.DataFrame, int]:
    """(The scanned table, how many files were decoded): only images whose content is not in
    ``cache`` are decoded. ``ran``, if given, is filled with where they were decoded
    (:func:`datacheck.features.parallel.imap`)."""
    hash_name, workers, scheduler = options.hash, options.workers, options.scheduler
    if hash_name not in HASHES:
        raise BadInputError(f"unknown hash {hash_name!r}; choose one of {', '.join(HASHES)}")
    config = feature_config(hash_name)
    table = dataset.table.copy()
    source = dataset.source
    refs = table["path"].tolist()
    full = source.locations(refs)
    bad_name = (table["bytes"] == BAD_NAME).to_numpy()
    if not source.is_local or dataset.listing is not None:
        sizes, mtimes, unversioned = _listed_stats(dataset)
    else:  # a local manifest
        sizes, mtimes = storage.stat_local([None if bad else p
                                            for p, bad in zip(full, bad_name)])
        unversioned = []
    digests = cache.known_digests(full, sizes, mtimes)
    for i in unversioned:  # no checksum or mtime to trust: read the file again
        digests[i] = None
    cached = cache.features([d for d in digests if d], config)
    have = set(cached["digest"])
    todo = [i for i, d in enumerate(digests)
            if sizes[i] >= 0 and (d is None or d not in have)]
    new = _decode(cache, config, hash_name, source, [refs[i] for i in todo],
                  [full[i] for i in todo], [sizes[i] for i in todo], [mtimes[i] for i in todo],
                  workers, progress, scheduler, ran)
    for i, dec in zip(todo, new, strict=False):
        digests[i] = dec.digest or None
    frame = pd.concat([cached, _frame(new)], ignore_index=True).drop_duplicates("digest")
    cache.keep_features(config, frame)
    table["digest"] = digests
    out = table.merge(frame, on="digest", how="left", validate="many_to_one")
    unsized = (out["bytes"] == 0) & out["nbytes"].notna()  # shard rows: sized when decoded
    out.loc[unsized, "bytes"] = out.loc[unsized, "nbytes"].astype("int64")
    out = out.drop(columns="nbytes")
    missing = np.asarray(sizes) < 0
    out.loc[missing, "problem"] = "missing file"
    out.loc[bad_name, "problem"] = "file name is not valid UTF-8: rename the file"
    unread = out["digest"].isna() & ~missing
    # a file that could not be read has no digest: keep its reason from the decoder
    reasons = {table["path"].iat[i]: d.problem for i, d in zip(todo, new, strict=False)
               if not d.digest}
    out.loc[unread, "problem"] = [reasons.get(p, "cannot read file")
                                  for p in out.loc[unread, "path"]]
    return out, len(todo)


def cache_folder(dataset: Dataset, cache_dir: str | os.PathLike | None) -> Path:
    """Where ``dataset``'s feature cache lives: ``cache_dir``, else its source's default."""
    return Path(cache_dir) if cache_dir else dataset.source.cache_dir()


def open_cache(dataset: Dataset, cache_dir: str | os.PathLike | None) -> FeatureCache:
    """The feature cache of ``dataset`` (in :func:`cache_folder`)."""
    folder = cache_folder(dataset, cache_dir)
    try:
        return FeatureCache(folder)
    except OSError as exc:
        raise BadInputError(f"cannot use cache folder {folder}: {exc.strerror or exc}") from None


def _listed_stats(dataset: Dataset) -> tuple[list[int], list[int], list[int]]:
    """Sizes and versions (mtime_ns of a local file; checksum/ETag or mtime of a URL's, as ints)
    from the folder walk or URL listing, else stat-ed per URL; -1 for a missing file. Also the
    rows whose backend gave no version: the cache's unchanged-file shortcut must not be trusted
    for them."""
    paths = dataset.table["path"].tolist()
    stats = dataset.listing
    if stats is None:
        stats = dataset.source.stat(paths)
    sizes, versions, unversioned = [], [], []
    for i, p in enumerate(paths):
        size, ver = stats.get(p, (-1, -1))
        if ver is None:
            unversioned.append(i)
            ver = -1
        sizes.append(size)
        versions.append(ver)
    return sizes, versions, unversioned


def _decode(cache, config, hash_name, source: Source, refs, locations, sizes, mtimes, workers,
            progress, scheduler, ran) -> list[Decoded]:
    """Decode ``refs`` in chunks the source reads together, storing each batch in the cache;
    the results in ``refs`` order."""
    if not refs:  # nothing to decode: no pool, no cluster, nothing said to have run
        return []
    jit.load()  # once here, not once in each forked worker
    chunks = source.chunks(refs)
    work = functools.partial(_decode_chunk, hash_name, source)
    results: list[Decoded | None] = [None] * len(refs)
    batch_files: list[tuple[str, int, int, str]] = []
    batch: list[Decoded] = []
    done = parallel.imap(work, [[refs[i] for i in c] for c in chunks], workers=workers,
                         desc="decoding", progress=progress, chunksize=1, scheduler=scheduler,
                         sizes=[len(c) for c in chunks], ran=ran)
    for chunk, decoded in zip(chunks, done, strict=True):
        for i, dec in zip(chunk, decoded, strict=True):
            results[i] = dec
            if dec.digest:
                batch_files.append((locations[i], sizes[i], mtimes[i], dec.digest))
                batch.append(dec)
        if len(batch) >= BATCH:
            cache.store(config, batch_files, batch)
            batch_files, batch = [], []
    if batch:
        cache.store(config, batch_files, batch)
    return results  # type: ignore[return-value]


def _frame(decoded: list[Decoded]) -> pd.DataFrame:
    return scalar_frame([getattr(d, c) for c in SCALAR_COLUMNS] for d in decoded if d.digest)
