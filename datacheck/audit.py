"""The audit: index -> scan -> pairs -> checks -> AuditReport."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from . import storage
from .checks.balance import MAX_IMBALANCE, MIN_PER_CLASS, check_balance
from .checks.duplicates import check_duplicates
from .checks.integrity import check_integrity
from .checks.leakage import check_leakage
from .dataset import SPLITS, load_dataset
from .errors import BadInputError
from .report import AuditReport
from .report.html import pick_samples
from .scan import load_thumbs, scan
from .similar import similar_pairs

CHECKS = ("integrity", "duplicates", "leakage", "balance", "shift", "label_noise")
#: Without a GPU, label_noise runs by default only up to this many images (~1 minute on 2 CPU
#: cores: 1,797 digits take ~17 s for 5 folds x 12 epochs); beyond, it must be asked for.
LABEL_NOISE_CPU_LIMIT = 5000
#: Hamming radius per hash kind that catches re-encoded, resized and lightly edited copies.
DEFAULT_THRESHOLD = {"phash": 10, "dhash": 10, "ahash": 6, "whash": 6}
#: Thumbnail correlation a near-duplicate candidate must reach (see similar.py); pairs of small
#: images (both <= 64 px) must also differ locally by at most MAX_RESIDUAL_SMALL of the intensity
#: range once brightness and contrast are fitted (similar.fit_residual).
MIN_SIMILARITY = 0.75
MIN_SIMILARITY_SMALL = 0.90
MAX_RESIDUAL_SMALL = 0.25
#: The shift check compares at most this many images per split (a seeded sample).
SHIFT_SAMPLE = 5000
MIN_SHIFT_IMAGES = 10


def audit(path: str | os.PathLike, *, checks: Iterable[str] | None = None,
          split_map: Mapping[str, str] | None = None, root: str | os.PathLike | None = None,
          hash_name: str = "phash",
          threshold: int | None = None, min_similarity: float = MIN_SIMILARITY,
          min_similarity_small: float = MIN_SIMILARITY_SMALL,
          max_residual_small: float = MAX_RESIDUAL_SMALL,
          min_per_class: int = MIN_PER_CLASS, max_imbalance: float = MAX_IMBALANCE,
          between: tuple[str, str] | None = None, alpha: float = 0.05, seed: int = 0,
          model: str = "cnn", folds: int = 5, epochs: int | None = None,
          device: str = "auto", features: str | os.PathLike | None = None,
          workers: int | None = None, cache_dir: str | os.PathLike | None = None,
          scheduler: str | None = None, progress: bool = True) -> AuditReport:
    """Audit the dataset at ``path`` (folder tree or manifest) with the named checks.

    ``checks=None`` runs every check, except label_noise on a large dataset without a GPU.
    A check that cannot run on this dataset (``shift`` without two comparable splits) is left
    out and named in ``report.skipped`` with the reason, unless ``checks`` names only it.
    """
    explicit = checks is not None
    checks = list(dict.fromkeys(checks if explicit else CHECKS))
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
    if not 0.0 <= max_residual_small:
        raise BadInputError(f"--max-residual-small {max_residual_small} must be >= 0")
    if not 0.0 < alpha < 1.0:
        raise BadInputError(f"--alpha {alpha} must be between 0 and 1")
    started = time.perf_counter()
    dataset = load_dataset(path, split_map=split_map, root=root)
    if between:
        missing = [s for s in between if s not in dataset.splits]
        if missing:
            raise BadInputError(f"--between: split {missing[0]!r} is not in the dataset "
                                f"(it has {', '.join(dataset.splits)})")
    table = scan(dataset, hash_name=hash_name, workers=workers, cache_dir=cache_dir,
                 progress=progress, scheduler=scheduler)
    scanned = time.perf_counter()
    results, skipped = {}, {}
    if "integrity" in checks:
        results["integrity"] = check_integrity(table)
    if "duplicates" in checks or "leakage" in checks:
        pairs = similar_pairs(table, lambda rows: load_thumbs(table, rows),
                              threshold=threshold, min_similarity=min_similarity,
                              min_similarity_small=min_similarity_small,
                              max_residual_small=max_residual_small)
        if "duplicates" in checks:
            results["duplicates"] = check_duplicates(table, pairs)
        if "leakage" in checks:
            results["leakage"] = check_leakage(table, pairs)
    if "balance" in checks:
        results["balance"] = check_balance(table, min_per_class=min_per_class,
                                           max_imbalance=max_imbalance)
    outputs = None  # out-of-fold probabilities per table row, for BBSD
    if "label_noise" in checks:
        outcome = _label_noise(table, explicit=explicit, duplicates=results.get("duplicates"),
                               model=model, folds=folds, epochs=epochs, device=device,
                               features=features, seed=seed, progress=progress)
        if isinstance(outcome, str):
            if checks == ["label_noise"]:
                raise BadInputError(f"label_noise {outcome}")
            skipped["label_noise"] = outcome
        else:
            results["label_noise"], outputs = outcome
    if "shift" in checks:
        outcome = _shift(table, between, dataset.splits, alpha=alpha,
                         seed=seed, outputs=outputs)
        if isinstance(outcome, str):
            if checks == ["shift"]:
                raise BadInputError(f"shift {outcome}")
            skipped["shift"] = outcome
        else:
            results["shift"] = outcome
    labels = table["label"].dropna()
    return AuditReport(
        dataset={"root": _shown_root(path, root, dataset.root),
                 "images": len(table),
                 "splits": dataset.splits, "classes": int(labels.nunique())},
        settings={"hash": hash_name, "threshold": threshold, "min_similarity": min_similarity,
                  "min_similarity_small": min_similarity_small,
                  "max_residual_small": max_residual_small, "checks": checks},
        checks=results,
        skipped=skipped,
        stats={"decoded": table.attrs["decoded"], "cache": table.attrs["cache_dir"],
               "scan_seconds": scanned - started,
               "seconds": time.perf_counter() - started},
        root_path=dataset.root,
        samples=pick_samples(table[table["problem"].isna()], seed=seed),
        digests=_digests(table),
    )


def _shift(table, pair: tuple[str, str] | None, splits, *, alpha: float, seed: int,
           outputs=None):
    """The shift check on (a sample of) the readable images of the two splits (``pair``, or
    the default pair among ``splits``), or the reason it cannot run."""
    from .checks.shift import check_shift, default_between  # scipy.stats + sklearn: ~1.5 s

    pair = pair or default_between(splits)
    if pair is None:
        present = list(dict.fromkeys(table["split"]))
        return (f"needs two of the splits {', '.join(SPLITS)} to compare (has "
                f"{', '.join(present)}); name them with --between A B")
    rng = np.random.default_rng(seed)
    parts = []
    for split in pair:
        idx = np.flatnonzero(((table["split"] == split) & table["problem"].isna()).to_numpy())
        if len(idx) < MIN_SHIFT_IMAGES:
            return f"needs at least {MIN_SHIFT_IMAGES} readable images in {split}"
        if len(idx) > SHIFT_SAMPLE:
            idx = np.sort(rng.choice(idx, SHIFT_SAMPLE, replace=False))
        parts.append(idx)
    rows = np.concatenate(parts)
    sub = table.iloc[rows].reset_index(drop=True)
    probs = None
    if outputs is not None and not np.isnan(outputs[rows]).any():
        probs = outputs[rows]  # out-of-fold: no image is scored by a model that saw it
    return check_shift(sub, load_thumbs(table, rows), between=pair, alpha=alpha, seed=seed,
                       outputs=probs)


def _digests(table) -> dict[str, str]:
    """Relative path -> content digest of the readable images."""
    readable = table[table["problem"].isna()]
    return dict(zip(readable["path"].tolist(), readable["digest"].tolist(), strict=True))


def _shown_root(path, root, dataset_root) -> str:
    """The dataset root as the user named it (paths in the report are relative to it)."""
    if root is not None:
        return storage.trim(root) if storage.is_url(root) else Path(root).as_posix()
    if storage.is_url(str(dataset_root)):
        return str(dataset_root)
    source = Path(storage.localize(str(path)))
    return (source.parent if source.is_file() else source).as_posix()


def _label_noise(table, *, explicit, duplicates, model, folds, epochs, device, features, seed,
                 progress):
    """(The label_noise check, out-of-fold probabilities per table row), or why it is
    skipped."""
    from .checks.label_noise import check_label_noise
    from .models import cross_val_probs, resolve_device

    rows = np.flatnonzero((table["label"].notna() & table["problem"].isna()).to_numpy())
    if not explicit and len(rows) > LABEL_NOISE_CPU_LIMIT and \
            resolve_device(device).type == "cpu":
        minutes = len(rows) / LABEL_NOISE_CPU_LIMIT
        return (f"{len(rows):,} images would take ~{minutes:.0f} min on the CPU; ask for it "
                f"with --checks ...,label_noise or run datacheck label-noise")
    if table["label"].iloc[rows].nunique() < 2 and not explicit:
        return "needs at least two classes"
    x = _load_features(features, len(table))[rows] if features is not None else \
        load_thumbs(table, rows)
    try:
        cv = cross_val_probs(x, table["label"].to_numpy()[rows], model=model, folds=folds,
                             epochs=epochs, seed=seed, device=device, progress=progress)
    except BadInputError as exc:
        if explicit:
            raise
        return str(exc)
    result = check_label_noise(table.iloc[rows].reset_index(drop=True), cv.probs, cv.classes,
                               duplicates=duplicates)
    outputs = np.full((len(table), len(cv.classes)), np.nan, dtype=np.float32)
    outputs[rows] = cv.probs
    return result, outputs


def _load_features(path, n_images: int) -> np.ndarray:
    """User-supplied features (.npy, or the numeric columns of a .parquet), one row per image
    in the dataset's index order."""
    source = Path(path)
    try:
        if source.suffix.lower() == ".npy":
            feats = np.load(source, allow_pickle=False)
        elif source.suffix.lower() in (".parquet", ".pq"):
            import pandas as pd

            feats = pd.read_parquet(source).select_dtypes("number").to_numpy()
        else:
            raise BadInputError(f"--features {source}: use a .npy or .parquet file")
    except BadInputError:
        raise
    except Exception as exc:
        raise BadInputError(f"--features {source}: cannot read ({exc})") from None
    feats = np.asarray(feats, dtype=np.float32).reshape(len(feats), -1)
    if len(feats) != n_images:
        raise BadInputError(f"--features {source} has {len(feats):,} rows but the dataset has "
                            f"{n_images:,} images (one row per image, in index order)")
    return feats
