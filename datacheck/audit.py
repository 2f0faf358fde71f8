"""The audit: index -> scan -> pairs -> checks -> AuditReport."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from .checks.balance import MAX_IMBALANCE, MIN_PER_CLASS, check_balance
from .checks.duplicates import check_duplicates
from .checks.integrity import check_integrity
from .checks.leakage import check_leakage
from .dataset import load_dataset
from .errors import BadInputError
from .report import AuditReport
from .scan import load_thumbs, scan
from .similar import similar_pairs

CHECKS = ("integrity", "duplicates", "leakage", "balance")
#: Hamming radius per hash kind that catches re-encoded, resized and lightly edited copies.
DEFAULT_THRESHOLD = {"phash": 10, "dhash": 10, "ahash": 6, "whash": 6}
#: Thumbnail correlation a near-duplicate candidate must reach (see similar.py).
MIN_SIMILARITY = 0.75
MIN_SIMILARITY_SMALL = 0.97


def audit(path: str | os.PathLike, *, checks: Iterable[str] = CHECKS,
          split_map: Mapping[str, str] | None = None, hash_name: str = "phash",
          threshold: int | None = None, min_similarity: float = MIN_SIMILARITY,
          min_similarity_small: float = MIN_SIMILARITY_SMALL,
          min_per_class: int = MIN_PER_CLASS, max_imbalance: float = MAX_IMBALANCE,
          workers: int | None = None, cache_dir: str | os.PathLike | None = None,
          progress: bool = True) -> AuditReport:
    """Audit the dataset at ``path`` (folder tree or manifest) with the named checks."""
    checks = list(dict.fromkeys(checks))
    unknown = [c for c in checks if c not in CHECKS]
    if unknown:
        raise BadInputError(f"unknown check {unknown[0]!r}; choose from {', '.join(CHECKS)}")
    if threshold is None:
        threshold = DEFAULT_THRESHOLD.get(hash_name, 10)
    if not 0 <= threshold <= 32:
        raise BadInputError(f"--threshold {threshold} is out of range (0 to 32 bits)")
    for name, value in (("min-similarity", min_similarity),
                        ("min-similarity-small", min_similarity_small)):
        if not -1.0 <= value <= 1.0:
            raise BadInputError(f"--{name} {value} is out of range (-1 to 1)")
    started = time.perf_counter()
    dataset = load_dataset(path, split_map=split_map)
    table = scan(dataset, hash_name=hash_name, workers=workers, cache_dir=cache_dir,
                 progress=progress)
    scanned = time.perf_counter()
    results = {}
    if "integrity" in checks:
        results["integrity"] = check_integrity(table)
    if "duplicates" in checks or "leakage" in checks:
        pairs = similar_pairs(table, lambda rows: load_thumbs(table, rows),
                              threshold=threshold, min_similarity=min_similarity,
                              min_similarity_small=min_similarity_small)
        if "duplicates" in checks:
            results["duplicates"] = check_duplicates(table, pairs)
        if "leakage" in checks:
            results["leakage"] = check_leakage(table, pairs)
    if "balance" in checks:
        results["balance"] = check_balance(table, min_per_class=min_per_class,
                                           max_imbalance=max_imbalance)
    labels = table["label"].dropna()
    return AuditReport(
        dataset={"root": Path(path).as_posix(), "images": len(table),
                 "splits": dataset.splits, "classes": int(labels.nunique())},
        settings={"hash": hash_name, "threshold": threshold, "min_similarity": min_similarity,
                  "min_similarity_small": min_similarity_small, "checks": checks},
        checks=results,
        stats={"decoded": table.attrs["decoded"], "cache": table.attrs["cache_dir"],
               "scan_seconds": scanned - started,
               "seconds": time.perf_counter() - started},
    )
