"""60,000 small photos (32x32): the first audit, an unchanged re-audit and 1% new images, with
planted copies and frames, found or not.

The dataset (made once into benchmarks/_data/small60k/, gitignored) is built from what ships in
../shared/datasets: CIFAR-10's 10,000 test images (5,000 in ``train``, 5,000 in ``test``, in
their class folders) and 50,000 mosaics of the 500 BSDS500 photos (4x4 tiles of 8x8, each
a random 12-48 px square crop; 500 photos cannot give 50,000 distinct 32x32 crops), saved as
JPEG q75 like CIFAR's (45,000 in ``train``, 5,000 in ``test``, in classes ``b0``-``b9`` by
turn: no two mosaics are copies, so any pair between them is a false pair). Planted:

- 100 train->test copies of each kind (half of CIFAR sources, half mosaics):
  ``re-crop`` (2-4 px cut off two sides, resized back), ``rescale`` (zoom 1.1-1.2 about the
  centre), ``shift`` (2-3 px, edge pixels repeated), ``mirror``, ``recolour`` (brightness x0.8 or
  x1.2 and contrast x0.85), ``framed`` (shrunk to 22-26 px on a plain white, black or grey
  border, even or uneven; in half of them the train image is the framed one);
- 300 different images (not copies of anything) framed in place the same way: any pair among
  them is a false pair.

CIFAR-10's 39 published test-test near-duplicates (near_duplicates.csv) lie across the two
splits or inside one, so they are counted in the leakage and duplicates findings together.

Each run is a fresh ``datacheck audit --checks integrity,duplicates,leakage`` process; for
``--before REV`` a temporary worktree of REV runs first with its own cache. Each code tree
first audits 2,000 of the images, untimed, so that its numba kernels are compiled:
1. empty cache (the first audit); 2. the same command again (unchanged); 3. with 600 new
images (1%: other BSDS crops, in ``train/new``) added; then they are removed again.

    .venv/bin/python benchmarks/small60k.py --before 6f81269
    .venv/bin/python benchmarks/small60k.py --montage    # flagged pairs to benchmarks/_out/
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import DATA, HERE, SHARED, footer, header, table
from e2e import measured
from PIL import Image, ImageDraw, ImageEnhance

CIFAR = SHARED / "cifar10-test"
BSDS = SHARED / "bsds500"
ROOT = DATA / "small60k"
STAMP = DATA / "small60k.json"
OUT = HERE / "_out"
VENV_BIN = Path(sys.executable).parent
RECIPE = "v5"
KINDS = ["re-crop", "rescale", "shift", "mirror", "recolour", "framed"]
PER_KIND = 100
FRAMED_DIFFERENT = 300
NEW = 600


def _mosaic(photos: list[Image.Image], rng) -> Image.Image:
    """A 32x32 image of 4x4 tiles, each a random square crop (12-48 px) of a random photo at
    8x8: 500 photos cannot give 50,000 distinct 32x32 crops (they overlap into thousands of
    true re-crops), and 2x2 mosaics of flat tiles align with each other by the hundred."""
    canvas = Image.new("RGB", (32, 32))
    for tile in range(16):
        photo = photos[int(rng.integers(len(photos)))]
        w, h = photo.size
        side = int(np.exp(rng.uniform(np.log(12), np.log(48))))
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        crop = photo.crop((x, y, x + side, y + side)).resize((8, 8), Image.LANCZOS)
        canvas.paste(crop, ((tile % 4) * 8, (tile // 4) * 8))
    return canvas


def frame(img: Image.Image, rng) -> Image.Image:
    """``img`` shrunk to 22-26 px on a plain white, black or grey border, even or uneven (at
    least 1 px a side)."""
    inner = int(rng.integers(22, 27))
    colour = [(255, 255, 255), (0, 0, 0), (128, 128, 128)][int(rng.integers(3))]
    canvas = Image.new("RGB", (32, 32), colour)
    room = 32 - inner
    x, y = ((room // 2, room // 2) if rng.random() < 0.5
            else (int(rng.integers(1, room)), int(rng.integers(1, room))))
    canvas.paste(img.resize((inner, inner), Image.LANCZOS), (x, y))
    return canvas


def transform(img: Image.Image, kind: str, rng) -> Image.Image:
    """A copy of a 32x32 ``img`` of one planted ``kind`` (``framed`` aside)."""
    if kind == "re-crop":
        a, b = (int(v) for v in rng.integers(2, 5, size=2))
        box = (a, b, 32, 32) if rng.random() < 0.5 else (0, 0, 32 - a, 32 - b)
        return img.crop(box).resize((32, 32), Image.BICUBIC)
    if kind == "rescale":
        z = rng.uniform(1.1, 1.2)
        side = 32 / z
        lo = (32 - side) / 2
        return img.resize((32, 32), Image.BICUBIC, box=(lo, lo, lo + side, lo + side))
    if kind == "shift":
        a = np.asarray(img)
        dy, dx = (int(v) * int(rng.choice([-1, 1])) for v in rng.integers(2, 4, size=2))
        ys = np.clip(np.arange(32) - dy, 0, 31)
        xs = np.clip(np.arange(32) - dx, 0, 31)
        return Image.fromarray(a[ys][:, xs])
    if kind == "mirror":
        return img.transpose(Image.FLIP_LEFT_RIGHT)
    if kind == "recolour":
        img = ImageEnhance.Brightness(img).enhance(float(rng.choice([0.8, 1.2])))
        return ImageEnhance.Contrast(img).enhance(0.85)
    raise ValueError(kind)


def make_dataset() -> dict:
    """Write the dataset (once) and return the planted answers."""
    if STAMP.exists() and json.loads(STAMP.read_text()).get("recipe") == RECIPE and ROOT.exists():
        return json.loads(STAMP.read_text())
    if not (CIFAR / "test").is_dir() or not list(BSDS.glob("*/*.jpg")):
        print(f"skipped: CIFAR-10 test or BSDS500 missing under {SHARED}")
        sys.exit(0)
    shutil.rmtree(ROOT, ignore_errors=True)
    rng = np.random.default_rng(60_000)
    cifar = sorted(CIFAR.glob("test/*/*.jpg"))
    order = rng.permutation(len(cifar))
    images: dict[str, Image.Image] = {}
    origin: dict[str, str] = {}  # path in ROOT -> path in cifar10-test (for published pairs)
    for rank, k in enumerate(order):
        split = "train" if rank < len(cifar) // 2 else "test"
        src = cifar[k]
        path = f"{split}/{src.parent.name}/{src.stem}.jpg"
        origin[path] = f"test/{src.parent.name}/{src.name}"
        images[path] = None  # copied as bytes below
    photos = [Image.open(p).convert("RGB") for p in sorted(BSDS.glob("*/*.jpg"))]
    crops: dict[str, Image.Image] = {}
    for n in range(50_000):
        split = "train" if n < 45_000 else "test"
        crops[f"{split}/b{n % 10}/crop{n:05d}.jpg"] = _mosaic(photos, rng)
    extra = [_mosaic(photos, rng) for _ in range(NEW)]
    for path in origin:
        (ROOT / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CIFAR / origin[path], ROOT / path)

    def load(path: str) -> Image.Image:
        return crops[path] if path in crops else Image.open(ROOT / path).convert("RGB")

    train = [p for p in [*origin, *crops] if p.startswith("train/")]
    chosen = rng.permutation(len(train))
    used = iter(chosen)
    planted = []
    for kind in KINDS:
        for m in range(PER_KIND):
            while True:  # half from CIFAR, half from the BSDS crops
                src = train[next(used)]
                if (src in origin) == (m % 2 == 0):
                    break
            img = load(src)
            dst = f"test/{src.split('/')[1]}/{kind.replace('-', '')}{m:03d}.jpg"
            if kind == "framed":
                if m % 4 < 2:
                    copy = frame(img, rng)
                else:  # the train image is the framed one; its copy in test is plain
                    copy, framed_src = img, frame(img, rng)
                    if src in crops:
                        crops[src] = framed_src
                    else:
                        framed_src.save(ROOT / src, "JPEG", quality=75)
            else:
                copy = transform(img, kind, rng)
            crops[dst] = copy
            planted.append([src, dst, kind])
    sources = {p[0] for p in planted}
    rest = [p for p in crops if "/crop" in p and p not in sources]
    framed_different = []
    for k in rng.choice(len(rest), FRAMED_DIFFERENT, replace=False):
        path = rest[int(k)]
        crops[path] = frame(crops[path], rng)
        framed_different.append(path)
    for path, img in crops.items():
        (ROOT / path).parent.mkdir(parents=True, exist_ok=True)
        img.save(ROOT / path, "JPEG", quality=75)
    new_dir = DATA / "small60k-new"
    shutil.rmtree(new_dir, ignore_errors=True)
    new_dir.mkdir(parents=True)
    for n, img in enumerate(extra):
        img.save(new_dir / f"new{n:04d}.jpg", "JPEG", quality=75)
    published = []
    back = {v: k for k, v in origin.items()}
    with open(CIFAR / "near_duplicates.csv") as f:
        for row in csv.DictReader(f):
            published.append([back[row["path_a"]], back[row["path_b"]]])
    answers = {"recipe": RECIPE, "planted": planted, "framed_different": framed_different,
               "published": published}
    STAMP.write_text(json.dumps(answers))
    return answers


def pairs_of(report: dict) -> dict[tuple[str, str], str]:
    """Every reported pair of paths with its transform: leakage pairs, and pairs inside
    duplicate clusters (``cluster``: a cluster is reported, not its pairs)."""
    found = {}
    for f in report["checks"]["leakage"]["findings"]:
        found[tuple(sorted((f["a"], f["b"])))] = f.get("transform") or "none"
    for f in report["checks"]["duplicates"]["findings"]:
        ps = sorted(f["paths"])
        for n, a in enumerate(ps):
            for b in ps[n + 1:]:
                found.setdefault((a, b), "cluster")
    return found


def scores(found: dict, answers: dict) -> list:
    planted = {tuple(sorted(p[:2])): p[2] for p in answers["planted"]}
    per_kind = [f"{sum(1 for p, k in planted.items() if k == kind and p in found)}"
                for kind in KINDS]
    framed_names = {found[p] for p, k in planted.items() if k == "framed" and p in found}
    published = {tuple(sorted(p)) for p in answers["published"]}
    fd = set(answers["framed_different"])
    false_framed = sum(1 for a, b in found if a in fd and b in fd)
    other = [p for p, how in found.items() if p not in planted and p not in published
             and how != "cluster"]  # pairs reported as such: leakage pairs
    cross = sum(1 for a, b in other if a.split("/")[1] != b.split("/")[1])
    return [*per_kind, f"{len(published & set(found))}/{len(published)}", false_framed,
            len(other), cross, ",".join(sorted(framed_names))]


def audit_cmd(out: Path, cache: Path, target: Path = ROOT) -> list[str]:
    return [str(VENV_BIN / "datacheck"), "audit", str(target), "--checks",
            "integrity,duplicates,leakage", "--out", str(out), "--cache", str(cache),
            "--no-progress", "--format", "json"]


def warm_set(where: Path, per_split: int = 1000) -> Path:
    """The first ``per_split`` images of train and of test (symlinks, same layout): enough for
    every numba kernel of the small-image search to compile."""
    for split in ("train", "test"):
        for f in sorted((ROOT / split).glob("*/*.jpg"))[:per_split]:
            link = where / split / f.parent.name / f.name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(f)
    return where


def montage(found: dict, answers: dict, path: Path, limit: int = 60) -> None:
    """The leakage pairs that are neither planted nor published, side by side (x4)."""
    planted = {tuple(sorted(p[:2])) for p in answers["planted"]}
    published = {tuple(sorted(p)) for p in answers["published"]}
    other = sorted(p for p in found if p not in planted and p not in published
                   and found[p] != "cluster")
    cross = [p for p in other if p[0].split("/")[1] != p[1].split("/")[1]]
    pick = cross + [p for p in other if p not in cross][:max(0, limit - len(cross))]
    sheet = Image.new("RGB", (6 * 290, 150 * ((len(pick) + 5) // 6) + 10), "white")
    draw = ImageDraw.Draw(sheet)
    for n, (a, b) in enumerate(pick):
        x, y = (n % 6) * 290 + 5, (n // 6) * 150 + 5
        for k, p in enumerate((a, b)):
            with Image.open(ROOT / p) as img:
                sheet.paste(img.convert("RGB").resize((128, 128), Image.NEAREST),
                            (x + k * 132, y))
        draw.text((x, y + 130), f"{found[(a, b)]} {a.split('/')[1]}|{b.split('/')[1]}",
                  fill="red" if (a, b) in cross else "black")
    sheet.save(path)
    print(f"montage of {len(pick)} other pairs ({len(cross)} across classes): {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", metavar="REV", default=None,
                        help="also run datacheck as of git revision REV (a temporary worktree)")
    parser.add_argument("--montage", action="store_true",
                        help="save the other flagged pairs to benchmarks/_out/small60k_other.png")
    args = parser.parse_args()
    header("60k small photos: first audit, re-audit, 1% new")
    answers = make_dataset()
    files = sorted(ROOT.glob("*/*/*.jpg"))
    for f in files:
        f.read_bytes()
    print(f"{len(files):,} JPEGs of 32x32 in {ROOT.relative_to(DATA.parent.parent)}: "
          f"{PER_KIND} planted train->test copies per kind, {FRAMED_DIFFERENT} different "
          f"images framed, {len(answers['published'])} published CIFAR-10 pairs; page cache warm")
    sys.stdout.flush()
    versions = [("HEAD", {})]
    rows, found_rows = [], []
    with tempfile.TemporaryDirectory(prefix="dc-small60k-") as tmp:
        tmp = Path(tmp)
        if args.before:
            old = tmp / "before"
            subprocess.run(["git", "-C", str(HERE.parent), "worktree", "add", "--detach",
                            str(old), args.before], check=True, capture_output=True)
            versions.insert(0, (args.before, {"PYTHONPATH": str(old)}))
        new_dir = ROOT / "train" / "new"
        # numba caches compiled kernels beside their source: a fresh worktree would pay its
        # JIT inside the timed first audit, so each code tree audits 2,000 images first
        warm = warm_set(tmp / "warm")
        for name, env in versions:
            measured(audit_cmd(tmp / f"warm-out-{name}", tmp / f"warm-cache-{name}", warm), env)
        try:
            for name, env in versions:
                cache = tmp / f"cache-{name}"
                fresh = None
                for run in ("first audit", "unchanged", f"+{NEW} new (1%)"):
                    if run.startswith("+"):
                        shutil.copytree(DATA / "small60k-new", new_dir)
                    out = tmp / f"out-{name}-{len(rows)}"
                    seconds, mib, _, cpu = measured(audit_cmd(out, cache), env)
                    shutil.rmtree(new_dir, ignore_errors=True)
                    fresh = fresh or seconds
                    report = json.loads((out / "report.json").read_text())
                    rows.append([name, run, f"{seconds:.1f}", f"{cpu:.1f}",
                                 f"{seconds / fresh:.2f}", f"{mib:,.0f}"])
                    if run == "first audit":
                        found = pairs_of(report)
                        found_rows.append([name, *scores(found, answers)])
                        if args.montage and name == "HEAD":
                            OUT.mkdir(exist_ok=True)
                            montage(found, answers, OUT / "small60k_other.png")
        finally:
            shutil.rmtree(new_dir, ignore_errors=True)
            if args.before:
                subprocess.run(["git", "-C", str(HERE.parent), "worktree", "remove", "--force",
                                str(tmp / "before")], capture_output=True)
    table(["datacheck", "run", "seconds", "CPU s", "x first audit", "peak MiB (PSS)"], rows)
    if args.before:
        ratio = float(rows[0][2]) / float(rows[3][2])
        print(f"first audit: HEAD is {ratio:.2f}x faster than {args.before}")
    table(["datacheck", *KINDS, "CIFAR published", "framed-different pairs", "other leakage pairs",
           "other across classes", "framed named"], found_rows)
    print("planted and published pairs count when found as a leakage pair or inside one "
          "duplicate cluster; framed-different pairs: both in one cluster or one leakage pair")
    footer()


if __name__ == "__main__":
    sys.exit(main())
