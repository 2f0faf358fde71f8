"""Near-duplicates inside CIFAR-10's test set: recall of the 39 pairs ciFAIR published, and every
other pair datacheck reports, for a person to judge.

Data: ../shared/datasets/cifar10-test (10,000 32x32 JPEGs in CLASS/NNNN.jpg folders, and
near_duplicates.csv: 39 pairs found by Barz & Denzler, "Do we train on test data?"). The folder
is audited in place (read-only; the feature cache goes to a temporary folder), once with
``variant_radius=0`` and the small-image codes off (the perceptual hash alone) and once with
the defaults. Reported: how many published pairs are candidates and how many are verified, the
other verified pairs (how many join two classes), seconds; montages of the published pairs
datacheck misses, of a random sample of 48 other pairs and of every cross-class pair in
benchmarks/_out/cifar_*.png.

    .venv/bin/python benchmarks/leakage_cifar.py
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import HERE, SHARED, footer, header, table
from PIL import Image, ImageDraw

SOURCE = SHARED / "cifar10-test"
OUT = HERE / "_out"


def pairs_of(root: Path, cache: Path, workers, **options):
    """(paths, labels, verified pair table, seconds) of datacheck's copy search on ``root``."""
    from datacheck import options as grouped
    from datacheck.context import AuditContext
    from datacheck.features.scan import feature_config, open_cache, scan_table
    from datacheck.matching.copies import copy_pairs
    from datacheck.sources.dataset import load_dataset

    opts = grouped.resolve({}, {"cache_dir": str(cache), "workers": workers, **options})
    dataset = load_dataset(root)
    store = open_cache(dataset.root, opts["scan"].cache_dir)
    try:
        table_, _ = scan_table(dataset, store, opts["scan"], progress=False)
        started = time.perf_counter()
        ctx = AuditContext(dataset, table_, store, feature_config(opts["scan"].hash), opts,
                           ["duplicates"], True, progress=False)
        pairs = copy_pairs(ctx)
        seconds = time.perf_counter() - started
    finally:
        store.close()
    return table_["path"].to_numpy(), table_["label"].to_numpy(), pairs, seconds


def montage(root: Path, pairs: list[tuple[str, str, str]], path: Path, title: str) -> None:
    """Pairs side by side at 3x, 4 pairs a row, each with a caption."""
    cell_w, cell_h, per_row = 2 * 96 + 8, 96 + 16, 4
    rows = max(1, -(-len(pairs) // per_row))
    sheet = Image.new("RGB", (per_row * (cell_w + 12), rows * (cell_h + 8) + 18), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 2), title, fill="black")
    for k, (a, b, caption) in enumerate(pairs):
        x, y = (k % per_row) * (cell_w + 12), 18 + (k // per_row) * (cell_h + 8)
        for m, rel in enumerate((a, b)):
            img = Image.open(root / rel).convert("RGB").resize((96, 96), Image.NEAREST)
            sheet.paste(img, (x + m * 104, y))
        draw.text((x, y + 97), caption[:40], fill="black")
    sheet.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    if not (SOURCE / "test").is_dir():
        sys.exit(f"skipped: {SOURCE} is missing (see ../shared/datasets/README.md)")
    header("near-duplicates inside CIFAR-10 test: the 39 published pairs")
    root = SOURCE / "test"
    with open(SOURCE / "near_duplicates.csv", newline="") as fh:
        published = [(r["path_a"], r["path_b"]) for r in csv.DictReader(fh)]
    published = [(a.removeprefix("test/"), b.removeprefix("test/")) for a, b in published]
    OUT.mkdir(exist_ok=True)
    cache = Path(tempfile.mkdtemp(prefix="dc-bench-cifar-"))
    rows = []
    try:
        runs = (("perceptual hash only", {"variant_radius": 0, "small_alignment": False}),
                ("datacheck defaults", {}))
        for label, options in runs:
            paths, labels, pairs, seconds = pairs_of(root, cache, args.workers, **options)
            names = {p: k for k, p in enumerate(paths)}
            found = {frozenset((paths[i], paths[j])): t for i, j, t in
                     zip(pairs["i"], pairs["j"], pairs["transform"], strict=True)}
            hits = [p for p in published if frozenset(p) in found]
            gt = {frozenset(p) for p in published}
            others = [(paths[i], paths[j], t) for i, j, t in
                      zip(pairs["i"], pairs["j"], pairs["transform"], strict=True)
                      if frozenset((paths[i], paths[j])) not in gt]
            cross = [o for o in others if labels[names[o[0]]] != labels[names[o[1]]]]
            rows.append([label, f"{len(hits)}/{len(published)}", len(others), len(cross),
                         f"{seconds:.1f}"])
            if not options:
                missed = [(a, b, "missed") for a, b in published if frozenset((a, b)) not in found]
                montage(root, missed, OUT / "cifar_missed.png",
                        f"published pairs datacheck misses ({len(missed)})")
                rng = np.random.default_rng(0)
                sample = [others[k] for k in sorted(rng.choice(len(others), min(48, len(others)),
                                                               replace=False))]
                montage(root, sample, OUT / "cifar_others.png",
                        f"random {len(sample)} of the {len(others)} other pairs")
                montage(root, cross, OUT / "cifar_cross_class.png",
                        f"every other pair that joins two classes ({len(cross)})")
                kinds = {}
                for t in found.values():
                    kinds[t] = kinds.get(t, 0) + 1
                print("transforms named: " + ", ".join(f"{k} {v}" for k, v in
                                                       sorted(kinds.items())))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    table(["run", "published pairs found", "other pairs", "other pairs across classes",
           "copy search s"], rows)
    print("montages: benchmarks/_out/cifar_missed.png, cifar_others.png, cifar_cross_class.png")
    footer()


if __name__ == "__main__":
    main()
