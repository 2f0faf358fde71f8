"""Leakage on small images: planted train->test copies in Fashion-MNIST, found or not.

Fashion-MNIST (28x28 grayscale, from the Debian package dataset-fashion-mnist: idx files under
/usr/share/datasets/fashion-mnist) is written as PNG files into a datacheck folder tree under
benchmarks/_data/fmnist/ (gitignored): ROOT/train/<class>/tNNNNN.png and
ROOT/test/<class>/vNNNNN.png. Into test go 600 transformed copies of 600 distinct random train
images (seed 0), 100 per kind, in the class folder of their source and named like the rest:

- ``byte copy``: the train file's bytes
- ``JPEG q=50``: saved as JPEG, quality 50
- ``resize 50%``: 14x14 (PIL's default bicubic)
- ``crop 1px``: the 1-pixel border cut off (26x26)
- ``brightness +10%`` / ``brightness -10%``: PIL ImageEnhance.Brightness(1.1 / 0.9), i.e.
  every pixel value times 1.1 / 0.9 (clipped at 255)

Then ``datacheck.audit(ROOT, checks=["leakage"], threshold=T)`` for each threshold. Reported:
the recall of the planted (source, copy) pairs per kind and how many other cross-split pairs
there are, before verification (the hash candidates: ``hamming_pairs`` on the scanned hashes,
pairs with one image in train and one in test) and after (the audit's leakage findings). The
"other" pairs are split into original test image <-> train image (Fashion-MNIST's own) and
planted copy <-> a train image other than its source. Then what verification computes for the
cross-split candidates at the largest threshold (thumbnail correlation and affine-fit residual,
``matching.similar.pair_scores``), per kind of pair. For the original pairs the verified ones
are compared pixel by pixel, and montages are saved to benchmarks/_out/: verified pairs (a
random sample, the most and the least alike) and candidates that reach the old correlation bar
0.97 but fail the residual test.

    .venv/bin/python benchmarks/small_images.py                    # all 60k train + 10k test
    .venv/bin/python benchmarks/small_images.py --train 20000      # a seeded subset of train
    .venv/bin/python benchmarks/small_images.py --thresholds 10 \
        --min-similarity-small 0.97 --max-residual-small inf     # correlation only (before)
"""

from __future__ import annotations

import argparse
import gzip
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import DATA, HERE, footer, header, table
from PIL import Image, ImageDraw, ImageEnhance

SOURCE = Path("/usr/share/datasets/fashion-mnist")
ROOT = DATA / "fmnist"
OUT = HERE / "_out"
CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle_boot"]
KINDS = ["byte copy", "JPEG q=50", "resize 50%", "crop 1px", "brightness +10%",
         "brightness -10%"]
PER_KIND = 100
RECIPE = "v1"


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def transformed(kind: str, img: Image.Image, png: bytes) -> tuple[bytes, str]:
    """The planted copy's bytes and file suffix."""
    if kind == "byte copy":
        return png, ".png"
    if kind == "JPEG q=50":
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=50)
        return buf.getvalue(), ".jpg"
    if kind == "resize 50%":
        return png_bytes(img.resize((img.width // 2, img.height // 2))), ".png"
    if kind == "crop 1px":
        return png_bytes(img.crop((1, 1, img.width - 1, img.height - 1))), ".png"
    if kind.startswith("brightness"):
        factor = 1.1 if "+" in kind else 0.9
        return png_bytes(ImageEnhance.Brightness(img).enhance(factor)), ".png"
    raise ValueError(kind)


def build(train_count: int, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Write the folder tree; return the planted copies (source, copy, kind) and the arrays."""
    files = {name: SOURCE / f"{name}.gz" for name in
             ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
              "t10k-labels-idx1-ubyte")}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        print(f"skipped: {missing[0]} is missing (apt-get install dataset-fashion-mnist)")
        sys.exit(0)
    arrays = {
        "train": (read_idx(files["train-images-idx3-ubyte"]),
                  read_idx(files["train-labels-idx1-ubyte"])),
        "test": (read_idx(files["t10k-images-idx3-ubyte"]),
                 read_idx(files["t10k-labels-idx1-ubyte"])),
    }
    rng = np.random.default_rng(seed)
    n_train = len(arrays["train"][0])
    keep = (np.arange(n_train) if train_count >= n_train
            else np.sort(rng.choice(n_train, train_count, replace=False)))
    sources = rng.choice(keep, PER_KIND * len(KINDS), replace=False)
    stamp = DATA / "fmnist.csv"  # outside ROOT: datacheck indexes every file in the tree
    wanted = f"{RECIPE} train={len(keep)} seed={seed}"
    if stamp.exists() and (DATA / "fmnist.txt").exists() and \
            (DATA / "fmnist.txt").read_text() == wanted:
        return pd.read_csv(stamp), arrays
    shutil.rmtree(ROOT, ignore_errors=True)
    for split in ("train", "test"):
        for c in CLASSES:
            (ROOT / split / c).mkdir(parents=True)
    t = time.perf_counter()
    train_png = {}
    images, labels = arrays["train"]
    for k in keep:
        data = png_bytes(Image.fromarray(images[k]))
        (ROOT / "train" / CLASSES[labels[k]] / f"t{k:05d}.png").write_bytes(data)
        if k in set(sources.tolist()):
            train_png[int(k)] = data
    images_t, labels_t = arrays["test"]
    for k in range(len(images_t)):
        path = ROOT / "test" / CLASSES[labels_t[k]] / f"v{k:05d}.png"
        path.write_bytes(png_bytes(Image.fromarray(images_t[k])))
    rows = []
    # planted copies get test-like names (v10000...) in a shuffled order: no hint in the name
    order = rng.permutation(len(sources))
    for slot, m in enumerate(order):
        src = int(sources[m])
        kind = KINDS[m // PER_KIND]
        data, suffix = transformed(kind, Image.fromarray(images[src]), train_png[src])
        copy = f"test/{CLASSES[labels[src]]}/v{len(images_t) + slot:05d}{suffix}"
        (ROOT / copy).write_bytes(data)
        rows.append({"source": f"train/{CLASSES[labels[src]]}/t{src:05d}.png", "copy": copy,
                     "kind": kind})
    planted = pd.DataFrame(rows)
    planted.to_csv(stamp, index=False)
    (DATA / "fmnist.txt").write_text(wanted)
    print(f"wrote {len(keep) + len(images_t) + len(planted):,} files in "
          f"{time.perf_counter() - t:.0f} s")
    return planted, arrays


def raw_pixels(path: str, arrays: dict) -> np.ndarray | None:
    """The original 28x28 array behind a train/test file name (None for a planted copy)."""
    name = Path(path).stem
    split = "train" if name.startswith("t") else "test"
    k = int(name[1:])
    images = arrays[split][0]
    return images[k] if k < len(images) else None


def montage(pairs: pd.DataFrame, out: Path, title: str, scale: int = 3) -> None:
    """Pairs side by side (a | b), up to 32, with the Hamming distance, the correlation and,
    when the table has a ``residual`` column, the fit residual."""
    pairs = pairs.head(32)
    cell = 28 * scale
    cols = 4
    rows_n = max(1, -(-len(pairs) // cols))
    width, height = cols * (2 * cell + 24), rows_n * (cell + 26) + 20
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 4), title, fill="black")
    for n, row in enumerate(pairs.itertuples()):
        x0, y0 = (n % cols) * (2 * cell + 24), 20 + (n // cols) * (cell + 26)
        for k, path in enumerate((row.a, row.b)):
            with Image.open(ROOT / path) as img:
                tile = img.convert("RGB").resize((cell, cell), Image.NEAREST)
            canvas.paste(tile, (x0 + k * (cell + 2), y0))
        res = f" r={row.residual:.2f}" if hasattr(row, "residual") else ""
        draw.text((x0, y0 + cell + 2), f"d={row.distance} s={row.similarity:.3f}{res} "
                  f"{row.label_a[:7]}/{row.label_b[:7]}", fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=60_000,
                        help="train images to write (a seeded subset when < 60000)")
    parser.add_argument("--thresholds", type=int, nargs="+", default=[10, 8, 6])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--min-similarity-small", type=float, default=None,
                        help="verification's correlation bar for small images "
                             "[default: datacheck's]")
    parser.add_argument("--max-residual-small", type=float, default=None,
                        help="verification's fit-residual bar for small images (inf: off) "
                             "[default: datacheck's]")
    args = parser.parse_args()

    import datacheck
    from datacheck.matching.copies import CopyOptions

    defaults = CopyOptions()
    from datacheck.matching.neighbors import hamming_pairs

    bars = {"min_similarity_small": args.min_similarity_small
            if args.min_similarity_small is not None else defaults.min_similarity_small,
            "max_residual_small": args.max_residual_small
            if args.max_residual_small is not None else defaults.max_residual_small}

    header("leakage recall on Fashion-MNIST with planted copies")
    print(f"verification of small pairs: correlation >= {bars['min_similarity_small']} and fit "
          f"residual <= {bars['max_residual_small']}")
    planted, arrays = build(args.train)
    planted_set = {(r.source, r.copy): r.kind for r in planted.itertuples()}
    copies = set(planted["copy"])
    cache = Path(tempfile.mkdtemp(prefix="dc-bench-cache-"))
    try:
        t = time.perf_counter()
        scanned = datacheck.scan(datacheck.load_dataset(ROOT), workers=args.workers,
                                 cache_dir=cache, progress=False)
        scan_s = time.perf_counter() - t
        counts = scanned["split"].value_counts()
        print(f"{len(scanned):,} images: {counts.get('train', 0):,} train, "
              f"{counts.get('test', 0):,} test (incl. {len(planted)} planted copies, "
              f"{PER_KIND} per kind); {scanned['problem'].notna().sum()} unreadable; "
              f"scan {scan_s:.1f} s ({len(scanned) / scan_s:,.0f} images/s, "
              f"{args.workers} workers)")
        usable = np.flatnonzero(scanned["problem"].isna().to_numpy())
        paths = scanned["path"].to_numpy()[usable]
        splits = scanned["split"].to_numpy()[usable]
        hashes = scanned["hash"].to_numpy()[usable].astype(np.int64)
        recall_rows, other_rows, verified = [], [], {}
        for threshold in args.thresholds:
            t = time.perf_counter()
            i, j, d = hamming_pairs(hashes, threshold)
            search_s = time.perf_counter() - t
            cross = splits[i] != splits[j]
            cand = _oriented(paths[i[cross]], paths[j[cross]], splits[i[cross]])
            t = time.perf_counter()
            report = datacheck.audit(ROOT, checks=["leakage"], threshold=threshold,
                                     workers=args.workers, cache_dir=cache, progress=False,
                                     **bars)
            audit_s = time.perf_counter() - t
            found = report.checks["leakage"].findings
            found = found[found["kind"] != "group"]
            verified[threshold] = found
            after = list(zip(found["a"], found["b"], strict=True))
            for kind in KINDS:
                want = {p for p, k in planted_set.items() if k == kind}
                recall_rows.append([threshold, kind, f"{len(want & cand) / len(want):.0%}",
                                    f"{len(want & set(after)) / len(want):.0%}"])
            recall_rows.append([threshold, "**all**",
                                f"{len(planted_set.keys() & cand) / len(planted_set):.1%}",
                                f"{len(planted_set.keys() & set(after)) / len(planted_set):.1%}"])
            c_orig, c_copy = _others(cand, planted_set, copies)
            a_orig, a_copy = _others(set(after), planted_set, copies)
            other_rows.append([threshold, f"{int(cross.sum()):,}", f"{len(i):,}",
                               f"{len(c_orig):,}", f"{len(a_orig):,}", f"{len(c_copy):,}",
                               f"{len(a_copy):,}", f"{search_s:.1f}", f"{audit_s:.1f}"])
        print("\nrecall of the planted (train source, test copy) pairs")
        table(["threshold", "kind", "hash candidates", "after verification (audit)"],
              recall_rows, align="llrr")
        print("\nother cross-split (train <-> test) pairs reported")
        table(["threshold", "cross-split candidates", "all candidate pairs (any split)",
               "orig. test<->train: candidates", "orig.: after verification",
               "copy<->other train: candidates", "copy<->other: after verification",
               "search s", "audit s (cached scan)"], other_rows, align="lrrrrrrrr")
        scores = _similarities(scanned, usable, hashes, splits, max(args.thresholds), planted,
                               copies, bars, cache)
        _inspect(verified, copies, arrays, scores, bars)
        _other_small_images(bars)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    footer()


def _oriented(a, b, split_a) -> set[tuple[str, str]]:
    """(train path, test path) pairs."""
    return {(x, y) if s == "train" else (y, x) for x, y, s in zip(a, b, split_a, strict=True)}


def _others(pairs, planted_set, copies) -> tuple[set, set]:
    rest = {p for p in pairs if p not in planted_set}
    return {p for p in rest if p[1] not in copies}, {p for p in rest if p[1] in copies}


def _similarities(scanned, usable, hashes, splits, threshold, planted, copies,
                  bars, cache) -> pd.DataFrame:
    """What the verification sees: thumbnail correlation and fit residual of the cross-split
    hash candidates, each pair compared at the smaller image's resolution as the audit does.
    Returns them as a table of (train path a, test path b, group, similarity, residual)."""
    from datacheck.features.cache import FeatureCache
    from datacheck.features.scan import feature_config
    from datacheck.matching.neighbors import hamming_pairs
    from datacheck.matching.similar import pair_scores

    i, j, dist = hamming_pairs(hashes, threshold)
    cross = splits[i] != splits[j]
    i, j, dist = usable[i[cross]], usable[j[cross]], dist[cross]
    paths = scanned["path"].to_numpy()
    train = scanned["split"].to_numpy()[i] == "train"
    i, j = np.where(train, i, j), np.where(train, j, i)
    kind_of = {(r.source, r.copy): r.kind for r in planted.itertuples()}
    groups = np.array([kind_of.get((paths[a], paths[b]),
                                   "other: copy<->other train" if paths[b] in copies
                                   else "other: orig. test<->train")
                       for a, b in zip(i, j, strict=True)])
    rows = np.unique(np.concatenate([i, j]))
    store = FeatureCache(cache)
    thumbs = store.thumbs(scanned["digest"].to_numpy()[rows].tolist(), feature_config("phash"))
    store.close()
    side = scanned[["width", "height"]].min(axis=1).to_numpy()
    sim, res = pair_scores(thumbs, side[i], side[j], np.searchsorted(rows, i),
                           np.searchsorted(rows, j), residual_from=-np.inf)
    lo, hi = bars["min_similarity_small"], bars["max_residual_small"]
    out = []
    for name in KINDS + ["other: orig. test<->train", "other: copy<->other train"]:
        pick = groups == name
        if not pick.any():
            out.append([name, 0] + [""] * 9)
            continue
        qs = np.quantile(sim[pick], [0.01, 0.5, 0.99])
        qr = np.quantile(res[pick], [0.01, 0.5, 0.99])
        out.append([name, f"{pick.sum():,}", *(f"{x:.3f}" for x in qs),
                    *(f"{x:.3f}" for x in qr), f"{np.mean(sim[pick] >= 0.97):.1%}",
                    f"{np.mean(sim[pick] >= lo):.1%}",
                    f"{np.mean((sim[pick] >= lo) & (res[pick] <= hi)):.2%}"])
    print(f"\nwhat verification computes for the cross-split candidates at T={threshold}: "
          "thumbnail correlation s and fit residual r (the pixel residual that only 0.5% of "
          "pixels exceed after an affine intensity fit, as a share of the intensity range), "
          "at the smaller image's resolution")
    table(["pairs", "count", "s 1st pct", "s median", "s 99th pct", "r 1st pct", "r median",
           "r 99th pct", "s >= 0.97 (old bar)", f"s >= {lo}", f"s >= {lo} and r <= {hi}"], out)
    return pd.DataFrame({"a": paths[i], "b": paths[j], "group": groups, "distance": dist,
                         "similarity": sim, "residual": res})


def _inspect(verified, copies, arrays, scores, bars) -> None:
    """How alike the verified original test<->train pairs are, pixel by pixel; montages."""
    for threshold, found in sorted(verified.items(), reverse=True):
        orig = found[~found["b"].isin(copies)].copy()
        if not len(orig):
            continue
        diffs = []
        for a, b in zip(orig["a"], orig["b"], strict=True):
            pa, pb = raw_pixels(a, arrays), raw_pixels(b, arrays)
            diffs.append(np.abs(pa.astype(int) - pb.astype(int)).mean())
        orig["mean_abs_diff"] = diffs
        same_label = (orig["label_a"] == orig["label_b"]).mean()
        print(f"\nT={threshold}: {len(orig):,} verified original test<->train pairs; "
              f"{same_label:.0%} with the same label; pixel-identical "
              f"{(orig['mean_abs_diff'] == 0).sum():,}; mean |difference| < 2 grey levels "
              f"{(orig['mean_abs_diff'] < 2).sum():,}, < 10 {(orig['mean_abs_diff'] < 10).sum():,}"
              f", >= 10 {(orig['mean_abs_diff'] >= 10).sum():,}; thumbnail similarity >= 0.99 "
              f"{(orig['similarity'] >= 0.99).sum():,}, >= 0.995 "
              f"{(orig['similarity'] >= 0.995).sum():,}")
        if threshold == max(verified):
            orig = orig.drop(columns="similarity").merge(
                scores[["a", "b", "similarity", "residual"]], on=["a", "b"], how="left")
            rng = np.random.default_rng(0)
            idx = np.sort(rng.choice(len(orig), min(32, len(orig)), replace=False))
            sample = orig.iloc[idx]
            out = OUT / f"fmnist_verified_other_T{threshold}.png"
            montage(sample, out, f"verified original test<->train pairs, T={threshold} "
                    "(random sample; left train, right test)")
            alike = orig.sort_values("mean_abs_diff", kind="stable").head(32)
            out2 = OUT / f"fmnist_verified_other_T{threshold}_most_alike.png"
            montage(alike, out2, f"the 32 most alike verified pairs (mean |pixel difference|), "
                    f"T={threshold}")
            out3 = OUT / f"fmnist_verified_other_T{threshold}_least_alike.png"
            montage(orig.sort_values("residual", kind="stable", ascending=False).head(32), out3,
                    f"the 32 least alike verified pairs (largest fit residual r), T={threshold}")
            rejected = scores[(scores["group"] == "other: orig. test<->train")
                              & (scores["similarity"] >= 0.97)
                              & ~(scores["residual"] <= bars["max_residual_small"])]
            out4 = OUT / f"fmnist_rejected_by_residual_T{threshold}.png"
            out4.unlink(missing_ok=True)
            if len(rejected):
                pick = np.sort(rng.choice(len(rejected), min(32, len(rejected)), replace=False))
                sample = rejected.iloc[pick].copy()
                label = scanned_labels(sample)
                sample["label_a"], sample["label_b"] = label
                montage(sample, out4, f"original pairs with s >= 0.97 (the old bar) that fail "
                        f"r <= {bars['max_residual_small']} ({len(rejected):,}; random sample)")
            print("montages: " + ", ".join(str(o.relative_to(HERE.parent))
                                           for o in (out, out2, out3, out4) if o.exists()))


def _other_small_images(bars) -> None:
    """The same transforms on other small images: verification alone (no hash search), former
    bar (correlation >= 0.97) vs the current one, for the 100 25x25 faces of scikit-image's LFW
    subset and 120 32x32 crops (8 random squares of 1/6 to 1/2 the short side, area-reduced)
    from 15 scikit-image photos; look-alikes: all pairs of different images of each set."""
    import warnings

    from skimage import data

    from datacheck.features.images import decode_bytes
    from datacheck.matching.similar import pair_scores

    faces = [Image.fromarray((a * 255).round().astype(np.uint8)) for a in data.lfw_subset()[:100]]
    crops, rng = [], np.random.default_rng(0)
    for name in ("astronaut", "camera", "chelsea", "coffee", "rocket", "cat",
                 "immunohistochemistry", "hubble_deep_field", "page", "moon", "coins", "text",
                 "grass", "gravel", "brick"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = np.asarray(getattr(data, name)())
        a = (np.stack([a] * 3, -1) if a.ndim == 2 else a[..., :3]).astype(np.uint8)
        h, w = a.shape[:2]
        for _ in range(8):
            s = int(rng.integers(min(h, w) // 6, min(h, w) // 2))
            y, x = int(rng.integers(0, h - s)), int(rng.integers(0, w - s))
            crops.append(Image.fromarray(a[y:y + s, x:x + s]).resize((32, 32), Image.BOX))

    def jpeg(img, quality):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality)
        return buf.getvalue()

    kinds = {"JPEG q=50": lambda im: jpeg(im, 50), "JPEG q=75": lambda im: jpeg(im, 75),
             "resize 50%": lambda im: png_bytes(im.resize((im.width // 2, im.height // 2))),
             "brightness +10%": lambda im: png_bytes(ImageEnhance.Brightness(im).enhance(1.1)),
             "brightness -10%": lambda im: png_bytes(ImageEnhance.Brightness(im).enhance(0.9)),
             "crop 1px": lambda im: png_bytes(im.crop((1, 1, im.width - 1, im.height - 1)))}
    lo, hi = bars["min_similarity_small"], bars["max_residual_small"]

    def scores(blobs, i, j):
        dec = [decode_bytes(b) for b in blobs]
        thumbs = np.stack([np.frombuffer(d.thumb, np.uint8).reshape(32, 32, 3) for d in dec])
        side = np.array([min(d.width, d.height) for d in dec])
        return pair_scores(thumbs, side[i], side[j], i, j, residual_from=-np.inf)

    rows = []
    for label, imgs in (("LFW faces 25x25", faces), ("photo crops 32x32", crops)):
        n = len(imgs)
        for kind, f in kinds.items():
            sim, res = scores([png_bytes(im) for im in imgs] + [f(im) for im in imgs],
                              np.arange(n), np.arange(n) + n)
            rows.append([label, kind, n, f"{np.mean(sim >= 0.97):.0%}",
                         f"{np.mean((sim >= lo) & (res <= hi)):.0%}"])
        i, j = np.triu_indices(n, 1)
        sim, res = scores([png_bytes(im) for im in imgs], i, j)
        rows.append([label, "different images (all pairs)", f"{len(i):,}",
                     f"{(sim >= 0.97).sum():,}", f"{((sim >= lo) & (res <= hi)).sum():,}"])
    print("\nother small images: copies kept (share) and pairs of different images passed (count) "
          "by verification")
    table(["images", "pairs", "count", "former: s >= 0.97",
           f"now: s >= {lo} and r <= {hi}"], rows, align="llrrr")


def scanned_labels(pairs: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Class folder names of the a and b paths (split/class/file)."""
    return ([p.split("/")[1] for p in pairs["a"]], [p.split("/")[1] for p in pairs["b"]])


if __name__ == "__main__":
    main()
