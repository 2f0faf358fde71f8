"""The audit: index -> scan -> every registered check in order -> AuditReport."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import checks as registry
from . import options as grouped
from .checks import Skip
from .context import AuditContext
from .errors import BadInputError
from .features.parallel import available_cores
from .features.samples import pick_samples
from .features.scan import feature_config, open_cache, scan_table
from .history import versions
from .report import AuditReport
from .sources import in_memory, known_content, revision, storage
from .sources.dataset import load_dataset


def audit(path: str | os.PathLike | object, *, checks: Iterable[str] | None = None,
          split_map: Mapping[str, str] | None = None, root: str | os.PathLike | None = None,
          seed: int = 0, progress: bool = True, rev: str | None = None,
          decisions: str | os.PathLike | None = None, **options: Any) -> AuditReport:
    """Audit the dataset at ``path`` (folder tree or manifest) with the named checks.

    ``checks=None`` runs every default check (label_noise trains within ``train_minutes``).
    A check that cannot run on this dataset (``shift`` without two comparable splits) is left
    out and named in ``report.skipped`` with the reason, unless ``checks`` names only it.
    Options come as groups (``copies=CopyOptions(threshold=8)``, or a dict) or
    as keyword shortcuts of their fields (``threshold=8``); see :mod:`datacheck.options`.
    ``rev`` audits ``path`` as it was at that git revision, DVC-tracked data included
    (:mod:`datacheck.sources.revision`). ``path`` may also be a Hugging Face
    ``Dataset``/``DatasetDict`` or a map-style torch ``Dataset`` of (image, label), or a dict
    of them by split (:mod:`datacheck.sources.in_memory`).
    Every finding gets a stable ``id``; the review ``decisions`` file (default:
    ``datacheck.decisions.yaml`` at the top of the dataset's git repository, used when it
    exists) marks findings reviewed or "fix pending" (:mod:`datacheck.review`).
    """
    every = registry.registry()
    explicit = checks is not None
    names = list(dict.fromkeys(checks if explicit else
                               [n for n, c in every.items() if c.default]))
    unknown = [c for c in names if c not in every]
    if unknown:
        raise BadInputError(f"unknown check {unknown[0]!r}; choose from {', '.join(every)}")
    groups = {k: options.pop(k) for k in list(options) if k in grouped.GROUPS}
    opts = grouped.resolve(groups, options)
    started = time.perf_counter()
    at = None
    if rev is not None:  # the dataset at a git revision, through DVC's filesystem
        at = revision.at_revision(path, rev, root=root, cache_dir=opts["scan"].cache_dir)
        path, root = at.path, at.root
        opts["scan"] = dataclasses.replace(opts["scan"], cache_dir=at.cache_dir)
    if in_memory.is_python_dataset(path):
        cache = opts["scan"].cache_dir
        base = (Path(cache) if cache else storage.user_cache_dir()) / "in-memory"
        path = in_memory.to_shards(path, base, progress=progress)
    dataset = load_dataset(path, split_map=split_map, root=root, source=opts["source"])
    store = open_cache(dataset, opts["scan"].cache_dir)
    try:
        known_content.prime(dataset, store, feature_config(opts["scan"].hash))
        decode_ran: dict = {}
        table, decoded = scan_table(dataset, store, opts["scan"], progress=progress,
                                    ran=decode_ran)
        known_content.learn(dataset, table, store)
        scanned = time.perf_counter()
        ctx = AuditContext(dataset, table, store, feature_config(opts["scan"].hash), opts,
                           names, explicit, seed=seed, progress=progress)
        skipped = {}
        for name in sorted(names, key=list(every).index):  # report order = run order
            try:
                ctx.results[name] = every[name].run(ctx)
            except Skip as reason:
                if names == [name]:
                    raise BadInputError(f"{name} {reason}") from None
                skipped[name] = str(reason)
    finally:
        store.close()
    review = _review(ctx.results, table, decisions, None if at else dataset.root)
    labels = table["label"].dropna()
    readable = table[table["problem"].isna()]
    return AuditReport(
        dataset={"root": at.shown_root if at else dataset.shown_root,
                 "images": len(table), "splits": dataset.splits,
                 "classes": int(labels.nunique()), **(at.describe if at else {})},
        settings=_settings(opts, names, every),
        checks=ctx.results,
        skipped=skipped,
        stats={"decoded": decoded, "cache": str(store.folder), "workers": opts["scan"].workers,
               "scan_seconds": scanned - started, "seconds": time.perf_counter() - started,
               "stages": {"decode": decode_ran or {"where": "cache", "workers": 0},
                          "search and checks": {"where": "local",
                                                "workers": ctx.workers or available_cores()}}},
        source=dataset.source,
        samples=pick_samples(readable, seed=seed),
        digests=dict(zip(readable["path"].tolist(), readable["digest"].tolist(), strict=True)),
        images=versions.image_table(table),
        review=review,
    )


def _review(results: dict, table, decisions, root) -> dict | None:
    """Give every finding its id and mark the decided ones; the review summary, or None when
    there is no decisions file."""
    from .review import decisions as decided
    from .review.ids import add_ids
    from .review.marks import mark

    known = table[table["digest"].notna()]
    digest_of = dict(zip(known["path"].tolist(), known["digest"].tolist(), strict=True))
    for name, result in results.items():
        if len(result.findings):
            results[name] = dataclasses.replace(
                result, findings=add_ids(name, result.findings, digest_of))
    if decisions is not None:
        path = Path(decisions)
        if not path.is_file():
            raise BadInputError(f"decisions file {path} does not exist")
    elif isinstance(root, Path):
        path = decided.default_path(root)
    else:
        return None
    if not path.is_file():
        return None
    return mark(results, decided.load(path), set(digest_of.values()) | {
        f"path:{p}" for p in table["path"].tolist()}, path)


def _settings(opts: dict[str, Any], names: list[str], every) -> dict[str, Any]:
    """The options that shaped the findings: the hash, then the option groups of the checks
    that ran (the copy-search radius resolved), then the checks."""
    settings: dict[str, Any] = {"hash": opts["scan"].hash}
    for group in dict.fromkeys(g for n in names for g in every[n].options):
        settings.update(grouped.params_of(opts[group], opts))
    settings["checks"] = names
    return settings
