"""Image quality on planted sets: datacheck, cleanvision and fastdup side by side.

    make bench-quality       # with cleanvision and fastdup (their venv made once)
    .venv/bin/python benchmarks/quality.py [--peer-python PY] [--bases bsds cifar]

Three bases, each written once into benchmarks/_data/quality/<base>/ (gitignored):
- ``bsds``: the 500 BSDS500 photos (481x321), re-encoded at JPEG quality 90;
- ``bsds2x``: the 200 BSDS500 test photos upscaled 2x (962x642, bicubic), quality 90: larger
  photos whose own detail ends at half their pixels;
- ``cifar``: 2,000 CIFAR-10 test images (32x32 JPEGs as shipped).
Into each, ``PLANTS`` images per kind, made from the base's first photos at the strengths a
person calls obvious: ``dark`` (brightness x0.12), ``light`` (a 70% white blend), ``blurry``
(Gaussian blur, sigma 1% of the width, at least 1 px: 0.3 px on a 32-px image cannot be seen),
``blank`` (flat grey with +-1 noise), ``odd_size`` (1/6 of the side), ``upscaled`` (a
quarter-size copy upscaled 4x, bicubic).

Printed: for each tool, how many plants of each kind it flags as that kind (for blurry and
upscaled, in brackets: flagged as either), and how many unmodified images it flags per kind
(the worst kind and all kinds together). datacheck also
reports the share of unmodified JPEGs its detail measure decoded a second time (its cost).
Then the cost: CPU ms per image of datacheck's decode with and without the detail stage, on
BSDS500 photos and on the 640x480 mosaics of ``e2e.py``.
Montages of what datacheck flags on unmodified images and of the plants it misses go to
benchmarks/_out/quality-<base>-<kind>-{unmodified,missed}.png.

cleanvision 0.3.7 and fastdup 2.54 run in their own venv (``make bench-quality`` makes
benchmarks/.venv-quality) through ``_quality_peers.py``; without ``--peer-python`` only
datacheck runs.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, HERE, SHARED, footer, header, table  # noqa: E402

from datacheck.checks.quality import check_quality  # noqa: E402
from datacheck.features.scan import ScanOptions, open_cache, scan_table  # noqa: E402
from datacheck.sources.dataset import load_dataset  # noqa: E402

FOLDER = DATA / "quality"
OUT = HERE / "_out"
PLANTS = 100
#: Runs of the cost table, alternating with and without the detail stage (the min is kept).
REPEATS = 5
#: Bump when the recipe changes, so old folders are rebuilt.
RECIPE = "v2"
KINDS = ("dark", "light", "blurry", "blank", "odd_size", "upscaled")
#: Two names for "less detail than its pixels": a plant flagged as the other still counts in ().
LESS_DETAIL = ("blurry", "upscaled")
#: A peer's kind names that count as ours.
SAME_KIND = {"low_information": "blank"}


def _plant(kind: str, im: Image.Image, rng) -> Image.Image:
    w, h = im.size
    if kind == "dark":
        return ImageEnhance.Brightness(im).enhance(0.12)
    if kind == "light":
        return Image.blend(im, Image.new("RGB", im.size, (255, 255, 255)), 0.7)
    if kind == "blurry":
        return im.filter(ImageFilter.GaussianBlur(max(0.01 * w, 1.0)))
    if kind == "blank":
        flat = rng.integers(80, 170) + rng.integers(-1, 2, (h, w, 1))
        return Image.fromarray(flat.repeat(3, 2).astype(np.uint8))
    if kind == "odd_size":
        return im.resize((max(1, w // 6), max(1, h // 6)), Image.BICUBIC)
    return im.resize((max(1, w // 4), max(1, h // 4)), Image.BICUBIC).resize((w, h), Image.BICUBIC)


def _sources(base: str) -> list[Path]:
    if base == "cifar":
        return sorted((SHARED / "cifar10-test" / "test").glob("*/*.jpg"))[::5]
    if base == "bsds2x":
        return sorted((SHARED / "bsds500" / "test").glob("*.jpg"))
    return sorted((SHARED / "bsds500").glob("*/*.jpg"))


def make_base(base: str) -> Path:
    """The folder of one base: ``normal/`` and one folder per planted kind."""
    folder = FOLDER / base
    if (folder / f".done-{RECIPE}").exists():
        return folder
    rng = np.random.default_rng(0)
    for i, src in enumerate(_sources(base)):
        with Image.open(src) as img:
            im = img.convert("RGB")
        if base == "bsds2x":
            im = im.resize((im.width * 2, im.height * 2), Image.BICUBIC)
        name = f"{i:04d}.jpg"
        (folder / "normal").mkdir(parents=True, exist_ok=True)
        if base == "cifar":
            (folder / "normal" / name).write_bytes(src.read_bytes())
        else:
            im.save(folder / "normal" / name, "JPEG", quality=90)
        if i < PLANTS:
            for kind in KINDS:
                (folder / kind).mkdir(exist_ok=True)
                _plant(kind, im, rng).save(folder / kind / name, "JPEG", quality=90)
    (folder / f".done-{RECIPE}").touch()
    return folder


def datacheck_flags(folder: Path) -> tuple[pd.DataFrame, float, float]:
    """Quality findings (path, kind), seconds, and the share of unmodified JPEGs measured again
    at their own resolution."""
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        dataset = load_dataset(folder)
        store = open_cache(dataset.root, cache)
        try:
            scanned, _ = scan_table(dataset, store, ScanOptions(cache_dir=cache), progress=False)
        finally:
            store.close()
        findings = check_quality(scanned).findings
        seconds = time.perf_counter() - start
    normal = scanned[scanned["path"].str.startswith("normal/")]
    drafted = normal[np.minimum(normal["width"], normal["height"]) >= 64]  # decoded at 1/2-1/8
    measured = float(drafted["fine_edge"].notna().mean()) if len(drafted) else 0.0
    return findings[["path", "kind"]], seconds, measured


def peer_flags(python: str, tool: str, folder: Path) -> tuple[pd.DataFrame, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "flags.csv"
        start = time.perf_counter()
        subprocess.run([python, str(HERE / "_quality_peers.py"), "--tool", tool, "--images",
                        str(folder), "--out", str(out)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        flags = pd.read_csv(out)
    flags["kind"] = flags["kind"].replace(SAME_KIND)
    return flags[["path", "kind"]], seconds


def score(flags: pd.DataFrame, folder: Path) -> list:
    """Plants found per kind, then unmodified images flagged: the worst kind and any kind."""
    part = flags["path"].str.split("/").str[0]
    found = []
    for kind in KINDS:
        named = int(((part == kind) & (flags["kind"] == kind)).sum())
        if kind in LESS_DETAIL:
            either = flags.loc[(part == kind) & flags["kind"].isin(LESS_DETAIL), "path"].nunique()
            found.append(f"{named} ({either})")
        else:
            found.append(named)
    normal = flags[part == "normal"]
    count = len(list((folder / "normal").iterdir()))
    worst = normal["kind"].value_counts()
    worst_text = f"{worst.iat[0]} {worst.index[0]}" if len(worst) else "0"
    return [*found, f"{worst_text} ({worst.iat[0] / count:.1%})" if len(worst) else "0",
            f"{normal['path'].nunique()} of {count}"]


def montages(flags: pd.DataFrame, folder: Path, base: str) -> None:
    """What to look at: unmodified images flagged, and plants not flagged as their kind."""
    for kind, group in flags[flags["path"].str.startswith("normal/")].groupby("kind"):
        montage([folder / p for p in sorted(group["path"])[:32]],
                OUT / f"quality-{base}-{kind}-unmodified.png")
    for kind in KINDS:
        found = set(flags.loc[flags["kind"] == kind, "path"])
        missed = [p for p in sorted((folder / kind).iterdir())
                  if f"{kind}/{p.name}" not in found]
        if missed:
            montage(missed[:32], OUT / f"quality-{base}-{kind}-missed.png")


def montage(paths: list[Path], out: Path, side: int = 160, per_row: int = 8) -> None:
    sheet = Image.new("RGB", (per_row * (side + 4), -(-len(paths) // per_row) * (side + 4)),
                      "white")
    for i, p in enumerate(paths):
        with Image.open(p) as img:
            img = img.convert("RGB")
        scale = side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         Image.NEAREST if scale > 1 else Image.BICUBIC)
        sheet.paste(img, ((i % per_row) * (side + 4), (i // per_row) * (side + 4)))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)


def cost_table() -> None:
    """Decode CPU per image with and without the detail stage, in one process."""
    from e2e import mosaic

    import datacheck.features.images as images

    photos = [np.asarray(Image.open(p).convert("RGB"))
              for p in sorted((SHARED / "bsds500").glob("*/*.jpg"))]
    sets = {"BSDS500 photos (481x321, q90)": [
        p.read_bytes() for p in sorted((make_base("bsds") / "normal").iterdir())[:300]],
        "e2e.py mosaics (640x480, q90; tiles upscaled 1-2.7x)": [
            _jpeg(mosaic(photos, k)) for k in range(300)]}
    measured, rows = images._detail, []
    for name, datas in sets.items():
        times = {"with": [], "without": []}
        for _ in range(REPEATS):
            for key, stage in (("with", measured), ("without", lambda *a: {})):
                images._detail = stage
                start = time.process_time()
                decoded = [images.decode_bytes(d) for d in datas]
                times[key].append((time.process_time() - start) / len(datas) * 1e3)
                if key == "with":
                    again = np.mean([d.fine_edge == d.fine_edge for d in decoded])
        images._detail = measured
        with_ms, without_ms = min(times["with"]), min(times["without"])
        rows.append([name, len(datas), f"{again:.0%}", f"{without_ms:.2f}", f"{with_ms:.2f}",
                     f"+{with_ms - without_ms:.2f} ({with_ms / without_ms - 1:+.0%})"])
    print("\nCost: CPU ms per image of `decode_bytes`, with the detail stage and without it "
          f"(min of {REPEATS}, one process)")
    table(["images", "n", "decoded again", "ms without", "ms with", "added"], rows)


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer-python", help="python of the peer venv (_quality_peers.py)")
    parser.add_argument("--bases", nargs="+", default=["bsds", "bsds2x", "cifar"])
    args = parser.parse_args()
    header("quality: planted images found, unmodified ones flagged")
    rows, notes = [], []
    for base in args.bases:
        folder = make_base(base)
        flags, seconds, measured = datacheck_flags(folder)
        montages(flags, folder, base)
        rows.append([base, "datacheck", *score(flags, folder), f"{seconds:.1f}"])
        notes.append(f"{base}: datacheck decoded {measured:.1%} of the unmodified JPEGs of 64 px "
                     "and more a second time, at their own resolution")
        for tool in ("cleanvision", "fastdup") if args.peer_python else ():
            flags, seconds = peer_flags(args.peer_python, tool, folder)
            rows.append([base, tool, *score(flags, folder), f"{seconds:.1f}"])
    table(["base", "tool", *(f"{k} /{PLANTS}" for k in KINDS), "unmodified: worst kind",
           "unmodified: any", "s"], rows)
    print("\n" + "\n".join(notes))
    print(f"montages: {OUT}/quality-<base>-<kind>-{{unmodified,missed}}.png")
    cost_table()
    footer()


if __name__ == "__main__":
    main()
