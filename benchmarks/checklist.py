"""The shortcuts check on real data: false positives, power and cost (quality has its own
benchmark, benchmarks/quality.py).

    .venv/bin/python benchmarks/checklist.py shortcuts [--seeds 200] [--plant-seeds 200]

shortcuts: CIFAR-10 test images (../shared/datasets/cifar10-test) and BSDS500 photos
re-encoded once per variant (JPEG q75 as the baseline; PNG; JPEG q30; an sRGB ICC profile;
4:4:4 chroma; a black frame over 3% of the side, 3 px on CIFAR; 30% / 60% brighter; upscaled
from half size), scanned; each seed draws 5 classes (CIFAR: x 500, BSDS: x 100) with labels
assigned at random; for a planted shortcut the first class's images come from the variant.
False positives: no variant (labels independent of everything), CIFAR's real labels and BSDS
grouped by full-resolution detail (content, no planted shortcut).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, SHARED, header, table  # noqa: E402

from datacheck.features.scan import ScanOptions, feature_config, open_cache, scan_table  # noqa: E402
from datacheck.sources.dataset import load_dataset  # noqa: E402

CIFAR = SHARED / "cifar10-test" / "test"
BSDS = SHARED / "bsds500"


def _srgb() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _framed(im):
    """A black frame over the outer ~3% of the shorter side (3 px on CIFAR, 10 on BSDS)."""
    side = max(3, min(im.size) // 32)
    return ImageOps.expand(im.crop((side, side, im.width - side, im.height - side)), side, fill=0)


def _upscaled(im):
    return im.resize((im.width // 2, im.height // 2), Image.BOX).resize(im.size, Image.BICUBIC)


#: variant -> (make(img) -> (img, format, save options), family expected to name c0, status)
VARIANTS = {
    "base": (lambda im: (im, "JPEG", {}), None, "pass"),
    "png": (lambda im: (im, "PNG", {}), "format", "fail"),
    "q30": (lambda im: (im, "JPEG", {"quality": 30}), "jpeg quality", "fail"),
    "icc": (lambda im: (im, "JPEG", {"icc_profile": _srgb()}), "metadata bytes", "fail"),
    "444": (lambda im: (im, "JPEG", {"subsampling": 0}), "jpeg settings", "fail"),
    "border": (lambda im: (_framed(im), "JPEG", {}), "border", "fail"),
    "bright60": (lambda im: (ImageEnhance.Brightness(im).enhance(1.6), "JPEG", {}),
                 "brightness", "warn"),
    "bright30": (lambda im: (ImageEnhance.Brightness(im).enhance(1.3), "JPEG", {}),
                 "brightness", "warn"),
    "upscaled": (lambda im: (_upscaled(im), "JPEG", {}), "compressed size", "warn"),
}
BSDS_VARIANTS = ("base", "q30", "icc", "444", "border", "upscaled")


def scanned(folder: Path, cache: str | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """The scanned table (sorted by path) and thumbnails of a folder tree, cached in _data."""
    ds = load_dataset(folder)
    opts = ScanOptions(cache_dir=str(DATA / "checklist-cache" / (cache or folder.name)))
    store = open_cache(ds.root, opts.cache_dir)
    try:
        t, _ = scan_table(ds, store, opts, progress=False)
        return t, store.thumbs([d or "" for d in t["digest"]], feature_config("phash"))
    finally:
        store.close()


def make_variant(name: str, sources: list[Path], prefix: str = "") -> Path:
    """The ``sources`` re-encoded as variant ``name`` (JPEG q75 unless it says otherwise)."""
    folder = DATA / "checklist" / f"{prefix}{name}"
    if not (folder / ".done").exists():
        for i, src in enumerate(sources):
            img, fmt, kw = VARIANTS[name][0](Image.open(src).convert("RGB"))
            target = folder / "x" / f"{i:05d}.{'png' if fmt == 'PNG' else 'jpg'}"
            target.parent.mkdir(parents=True, exist_ok=True)
            img.save(target, fmt, **({"quality": 75} | kw if fmt == "JPEG" else kw))
        (folder / ".done").touch()
    return folder


def _planted(pools, name, pick, n):
    """The base rows ``pick`` with the first ``n`` taken from variant ``name``."""
    base_t, base_th = pools["base"]
    t = base_t.iloc[pick].reset_index(drop=True)
    th = base_th[pick].copy()
    if name != "base":
        var_t, var_th = pools[name]
        cols = [c for c in var_t.columns if c not in ("path", "split", "label")]
        t.loc[:n - 1, cols] = var_t.iloc[pick[:n]][cols].to_numpy()
        th[:n] = var_th[pick[:n]]
    return t, th


def power_table(pools, names, seeds: int, plant_seeds: int, n: int, k: int, total: int) -> None:
    """Per variant over ``seeds`` random labellings (``plant_seeds`` for a planted variant; k
    classes x n, class c0 planted): the status, how often the expected family names c0 alone
    (recall), the share of reported families (fail or warn) that name c0 alone (precision: a
    finding naming another class is a false one), and the other families naming c0 in at least
    half of the labellings (the plant changed those properties too)."""
    from datacheck.checks.shortcuts import check_shortcuts

    rows = []
    for name in names:
        _, family, expected = VARIANTS[name]
        statuses, seconds, hits, reported, right, also = [], [], 0, 0, 0, Counter()
        runs = plant_seeds if family else seeds
        for seed in range(runs):
            rng = np.random.default_rng(seed)
            pick = rng.choice(total, n * k, replace=False)
            t, th = _planted(pools, name, pick, n)
            t["label"], t["split"] = np.repeat([f"c{i}" for i in range(k)], n), "all"
            started = time.process_time()
            r = check_shortcuts(t, th, seed=seed)
            seconds.append(time.process_time() - started)
            statuses.append(r.status)
            f = r.findings[r.findings["kind"] == "shortcut"]
            only_c0 = f["label"].str.split(", ").map(lambda x: x == ["c0"])
            hits += int((only_c0 & (f["feature"] == family)).any())
            reported += len(f)
            right += int(only_c0.sum())
            also.update(f.loc[only_c0 & (f["feature"] != family), "feature"])
        v = pd.Series(statuses)
        rows.append([name, family or "none (false positives)", runs,
                     f"{(v == 'fail').mean():.3f}", f"{(v != 'pass').mean():.3f}",
                     f"{hits / runs:.3f}" if family else "",
                     f"{right / reported:.3f}" if reported else "",
                     ", ".join(sorted(a for a, c in also.items() if c >= runs / 2)),
                     f"{np.median(seconds):.2f}"])
    table(["planted in c0", "expected family", "seeds", "fail", "fail or warn", "recall",
           "precision", "also naming c0", "median CPU s"], rows)


def bench_shortcuts(seeds: int, plant_seeds: int) -> None:
    from datacheck.checks.shortcuts import ALPHA, MIN_KAPPA, check_shortcuts

    if not CIFAR.is_dir() or not BSDS.is_dir():
        print(f"skipped: {CIFAR} or {BSDS} missing")
        return
    header("shortcuts: false positives and power")
    print(f"alpha {ALPHA}, min kappa {MIN_KAPPA}; recall: the expected family names c0 alone; "
          "precision: reported families (fail or warn) that name c0 alone")
    sources = sorted(CIFAR.glob("*/*.jpg"))
    pools = {name: scanned(make_variant(name, sources)) for name in VARIANTS}
    print("\nCIFAR-10 test (32x32), 5 classes x 500, random labels")
    power_table(pools, list(VARIANTS), seeds, plant_seeds, 500, 5, len(sources))
    photos = sorted(BSDS.glob("*/*.jpg"))
    bsds = {name: scanned(make_variant(name, photos, "bsds-"), f"bsds-{name}")
            for name in BSDS_VARIANTS}
    print("\nBSDS500 (481x321 photos), 5 classes x 100, random labels")
    power_table(bsds, list(BSDS_VARIANTS), seeds, plant_seeds, 100, 5, len(photos))
    bench_cost(pools["base"])
    real, rth = scanned(CIFAR)
    r = check_shortcuts(real, rth)
    print(f"\nCIFAR-10 test, real labels (10,000 images): {r.status}: {r.summary}")
    print("accuracy per family: " + ", ".join(f"{k[9:]} {v:.3f}" for k, v in r.metrics.items()
                                              if k.startswith("accuracy_")))
    t, th = bsds["base"]
    detail = [_detail(p) for p in photos]
    t = t.assign(label=pd.qcut(detail, 5, labels=[f"detail{i}" for i in range(5)]).astype(str),
                 split="all")
    r = check_shortcuts(t, th)
    print(f"BSDS500 labelled by full-resolution detail (quintiles of mean |gradient|: content "
          f"that sets the file size): {r.status}: {r.summary}")


def bench_cost(pool) -> None:
    """CPU seconds of the check as an audit runs it on a 100k-row table (CIFAR's 10,000 rows
    ten times over, train and test splits, 10 classes): the 5,000-row sample and the trees."""
    from datacheck.checks.shortcuts import MAX_ROWS, check_shortcuts, sample_rows

    base_t, base_th = pool
    reps = -(-100_000 // len(base_t))
    t = pd.concat([base_t] * reps, ignore_index=True).iloc[:100_000]
    rng = np.random.default_rng(0)
    t["label"] = rng.choice([f"c{i}" for i in range(10)], len(t))
    t["split"] = np.where(rng.random(len(t)) < 0.8, "train", "test")
    started = time.process_time()
    rows = sample_rows(t, MAX_ROWS, 0)
    r = check_shortcuts(t.iloc[rows].reset_index(drop=True), base_th[rows % len(base_t)])
    print(f"\ncost on 100,000 rows ({len(rows):,} sampled, {r.metrics['families']} families, "
          f"split analysis included): {time.process_time() - started:.2f} CPU s; {r.status}")


def _detail(path: Path) -> float:
    g = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("shortcuts")
    s.add_argument("--seeds", type=int, default=200, help="labellings without a plant")
    s.add_argument("--plant-seeds", type=int, default=200, help="labellings per planted variant")
    args = parser.parse_args()
    if args.what == "shortcuts":
        bench_shortcuts(args.seeds, args.plant_seeds)



if __name__ == "__main__":
    main()
