"""Index table -> feature table: decode every image once, in parallel, through the cache."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pandas as pd

from . import parallel
from .cache import SCALAR_COLUMNS, FeatureCache, default_cache_dir
from .dataset import BAD_NAME, Dataset
from .errors import BadInputError
from .images import HASHES, Decoded, decode_file

#: Bump when what images.py computes changes, so stale cache rows are not reused.
FEATURES_VERSION = 4
#: Images per cache transaction: a killed run loses at most this many decodes.
BATCH = int(os.environ.get("DATACHECK_BATCH", "512"))


def feature_config(hash_name: str) -> str:
    return f"v{FEATURES_VERSION}-{hash_name}"


@functools.lru_cache(maxsize=8)
def _decoder(hash_name: str):
    return functools.partial(decode_file, hash_name=hash_name)


def scan(dataset: Dataset, *, hash_name: str = "phash", workers: int | None = None,
         cache_dir: str | os.PathLike | None = None, progress: bool = True,
         scheduler: str | None = None) -> pd.DataFrame:
    """The index table plus ``digest``, ``problem`` and the image features, one row per image.

    Only images whose content is not in the cache are decoded. The returned frame also carries
    ``decoded`` (how many files this call decoded) in ``frame.attrs``.
    """
    if hash_name not in HASHES:
        raise BadInputError(f"unknown hash {hash_name!r}; choose one of {', '.join(HASHES)}")
    config = feature_config(hash_name)
    cache = open_cache(dataset.root, cache_dir)
    try:
        table = dataset.table.copy()
        full = [str(dataset.root / p) for p in table["path"]]
        bad_name = (table["bytes"] == BAD_NAME).to_numpy()
        sizes, mtimes = _stats([None if bad else p for p, bad in zip(full, bad_name)])
        digests = cache.known_digests(full, sizes, mtimes)
        cached = cache.features([d for d in digests if d], config)
        have = set(cached["digest"])
        todo = [i for i, d in enumerate(digests)
                if sizes[i] >= 0 and (d is None or d not in have)]
        new = _decode(cache, config, hash_name, [full[i] for i in todo],
                      [sizes[i] for i in todo], [mtimes[i] for i in todo], workers, progress,
                      scheduler)
        for i, dec in zip(todo, new, strict=False):
            digests[i] = dec.digest or None
        frame = pd.concat([cached, _frame(new)], ignore_index=True).drop_duplicates("digest")
        table["digest"] = digests
        out = table.merge(frame, on="digest", how="left", validate="many_to_one")
        missing = np.asarray(sizes) < 0
        out.loc[missing, "problem"] = "missing file"
        out.loc[bad_name, "problem"] = "file name is not valid UTF-8: rename the file"
        unread = out["digest"].isna() & ~missing
        # a file that could not be read has no digest: keep its reason from the decoder
        reasons = {full[i]: d.problem for i, d in zip(todo, new, strict=False) if not d.digest}
        out.loc[unread, "problem"] = [reasons.get(str(dataset.root / p), "cannot read file")
                                      for p in out.loc[unread, "path"]]
        out.attrs["decoded"] = len(todo)
        out.attrs["config"] = config
        out.attrs["cache_dir"] = str(cache.folder)
        return out
    finally:
        cache.close()


def open_cache(root: Path, cache_dir: str | os.PathLike | None) -> FeatureCache:
    folder = Path(cache_dir) if cache_dir else default_cache_dir(root)
    try:
        return FeatureCache(folder)
    except OSError as exc:
        raise BadInputError(f"cannot use cache folder {folder}: {exc.strerror or exc}") from None


def load_thumbs(scanned: pd.DataFrame, rows) -> np.ndarray:
    """RGB thumbnails (len(rows) x 32 x 32 x 3 uint8) of rows of a :func:`scan` table."""
    cache = FeatureCache(scanned.attrs["cache_dir"])
    try:
        digests = scanned["digest"].to_numpy()[rows]
        return cache.thumbs([d or "" for d in digests], scanned.attrs["config"])
    finally:
        cache.close()


def _stats(paths: list[str | None]) -> tuple[list[int], list[int]]:
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


def _decode(cache, config, hash_name, paths, sizes, mtimes, workers, progress,
            scheduler) -> list[Decoded]:
    results: list[Decoded] = []
    batch_files: list[tuple[str, int, int, str]] = []
    batch: list[Decoded] = []
    for path, size, mtime, dec in zip(
        paths, sizes, mtimes,
        parallel.imap(_decoder(hash_name), paths, workers=workers, desc="decoding",
                      progress=progress, scheduler=scheduler), strict=False,
    ):
        results.append(dec)
        if dec.digest:
            batch_files.append((path, size, mtime, dec.digest))
            batch.append(dec)
        if len(batch) >= BATCH:
            cache.store(config, batch_files, batch)
            batch_files, batch = [], []
    if batch:
        cache.store(config, batch_files, batch)
    return results


def _frame(decoded: list[Decoded]) -> pd.DataFrame:
    rows = [[getattr(d, c) for c in SCALAR_COLUMNS] for d in decoded if d.digest]
    return pd.DataFrame(rows, columns=SCALAR_COLUMNS)
