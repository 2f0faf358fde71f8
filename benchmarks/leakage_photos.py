"""Hard photo copies: mirrored, rotated, cropped 15-25%, captioned, watermarked, framed.

The 500 BSDS500 photos (../shared/datasets/bsds500) are the train split; 100 planted copies per
transform (seed 7; half of them also resized 0.5-1x, all JPEG q75-90) are the test split; 2,000
mosaics built as benchmarks/e2e.py builds them (2x2 grids of random crops of the same photos:
different images with the same coarse layout, which share real photo content with the
originals) are the val split. Written once under benchmarks/_data/photos_v1/ (gitignored).

``datacheck.audit(ROOT, checks=["duplicates", "leakage"])`` is run twice in one process on a
fresh cache: with ``variant_radius=0`` (the perceptual hash alone, as before variant hashes)
and with the defaults. Reported per transform: recall of the planted (original, copy) pairs,
and how often the reported ``transform`` names it; then every false pair (a leak that is not a
planted pair; a duplicate cluster whose members are not all copies of one original: copies of
one original inside test are rightly duplicates), with a montage of each in
benchmarks/_out/photo_false_*.png, and the audit's seconds.

    .venv/bin/python benchmarks/leakage_photos.py
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import DATA, HERE, SHARED, footer, header, table
from e2e import mosaic
from PIL import Image, ImageDraw, ImageFont, ImageOps

SOURCE = SHARED / "bsds500"
ROOT = DATA / "photos_v1"
OUT = HERE / "_out"
PER_TRANSFORM = 100
MOSAICS = 2000
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
WORDS = ["Holiday 2019", "(c) PhotoStock", "SAMPLE", "my trip", "Best of Nature",
         "www.example.com", "Lorem ipsum dolor", "DO NOT COPY", "Sunset at the lake"]
TRANSFORMS = ["mirror", "rot90", "rot180", "rot270", "crop15", "crop20", "crop25",
              "caption", "watermark", "border", "letterbox"]
#: The transform names datacheck should give each planted kind.
EXPECT = {"mirror": {"mirrored"}, "rot90": {"rotated 90"}, "rot180": {"rotated 180"},
          "rot270": {"rotated 270"}, "crop15": {"cropped"}, "crop20": {"cropped"},
          "crop25": {"cropped"}, "caption": {"overlay"}, "watermark": {"overlay"},
          "border": {"overlay"}, "letterbox": {"overlay"}}


def _jpeg(img: Image.Image, q: int) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=q)
    return buf.getvalue()


def _font(size: int):
    """DejaVu Sans Bold where the system has it, else Pillow's own scalable font."""
    try:
        return ImageFont.truetype(FONT, max(8, size))
    except OSError:
        return ImageFont.load_default(max(8, size))


def plant(img: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    """One hard copy of ``img`` (RGB)."""
    w, h = img.size
    if kind == "mirror":
        return ImageOps.mirror(img)
    if kind.startswith("rot"):
        return img.transpose({"rot90": Image.ROTATE_90, "rot180": Image.ROTATE_180,
                              "rot270": Image.ROTATE_270}[kind])
    if kind.startswith("crop"):
        keep = 1 - int(kind[4:]) / 100
        cw, ch = round(w * keep), round(h * keep)
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        return img.crop((x, y, x + cw, y + ch))
    if kind == "caption":  # 12% bar with text, overlaid or added, top or bottom
        bar = round(0.12 * h)
        colour = tuple(int(c) for c in rng.choice([[255, 255, 255], [0, 0, 0], [200, 30, 30],
                                                   [30, 30, 120]]))
        ink = (0, 0, 0) if sum(colour) > 400 else (255, 255, 255)
        top = bool(rng.integers(2))
        if rng.integers(2):  # added: the canvas grows
            out = Image.new("RGB", (w, h + bar), colour)
            out.paste(img, (0, bar if top else 0))
            y0 = 0 if top else h
        else:  # overlaid on the photo
            out = img.copy()
            y0 = 0 if top else h - bar
            ImageDraw.Draw(out).rectangle((0, y0, w, y0 + bar), fill=colour)
        ImageDraw.Draw(out).text((int(rng.integers(4, w // 4)), y0 + bar // 6),
                                 str(rng.choice(WORDS)), fill=ink, font=_font(bar * 2 // 3))
        return out
    if kind == "watermark":  # semi-transparent text across the middle + a corner mark
        base = img.convert("RGBA")
        layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
        d = ImageDraw.Draw(layer)
        alpha = int(rng.integers(90, 150))
        text = str(rng.choice(WORDS))
        f = _font(int(h * rng.uniform(0.12, 0.2)))
        tw = d.textlength(text, font=f)
        d.text((max(2, (w - tw) / 2), h * rng.uniform(0.3, 0.6)), text,
               fill=(255, 255, 255, alpha), font=f)
        d.text((w * 0.6, h * 0.9), "(c) datacheck", fill=(255, 255, 255, 200),
               font=_font(h // 20))
        return Image.alpha_composite(base, layer).convert("RGB")
    if kind == "border":  # same canvas, photo scaled into it with a 10% border
        colour = tuple(int(c) for c in rng.choice([[255, 255, 255], [0, 0, 0], [128, 128, 128],
                                                   [240, 230, 200]]))
        out = Image.new("RGB", (w, h), colour)
        out.paste(img.resize((round(w * 0.8), round(h * 0.8)), Image.BILINEAR),
                  (round(w * 0.1), round(h * 0.1)))
        return out
    if kind == "letterbox":  # fitted into a canvas of another aspect, black bars
        aspect = float(rng.choice([1.0, 4 / 3, 16 / 9, 3 / 4, 9 / 16]))
        if abs(aspect - w / h) < 0.05:
            aspect = 1.0
        cw, ch = (w, round(w / aspect)) if aspect < w / h else (round(h * aspect), h)
        k = min(cw / w, ch / h)
        out = Image.new("RGB", (cw, ch), (0, 0, 0))
        sw, sh = round(w * k), round(h * k)
        out.paste(img.resize((sw, sh), Image.BILINEAR), ((cw - sw) // 2, (ch - sh) // 2))
        return out
    raise ValueError(kind)


def build() -> dict[str, str]:
    """Write the dataset once; return copy path -> "kind:original path"."""
    manifest = ROOT / "planted.tsv"
    if manifest.exists():
        return dict(line.split("\t") for line in manifest.read_text().splitlines())
    shutil.rmtree(ROOT, ignore_errors=True)
    paths = sorted(SOURCE.glob("*/*.jpg"))
    photos = []
    for k, p in enumerate(paths):
        target = ROOT / "train" / "photo" / f"o{k:03d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, target)
        with Image.open(p) as im:
            photos.append(np.asarray(im.convert("RGB")))
    rng = np.random.default_rng(7)
    planted = {}
    for kind in TRANSFORMS:
        for o in rng.choice(len(paths), PER_TRANSFORM, replace=False):
            img = plant(Image.fromarray(photos[o]), kind, rng)
            if rng.random() < 0.5:  # a real copy is often resized
                f = rng.uniform(0.5, 1.0)
                img = img.resize((max(16, round(img.width * f)), max(16, round(img.height * f))),
                                 Image.BILINEAR)
            rel = f"test/photo/{kind}_{o:03d}.jpg"
            (ROOT / rel).parent.mkdir(parents=True, exist_ok=True)
            (ROOT / rel).write_bytes(_jpeg(img, int(rng.integers(75, 91))))
            planted[rel] = f"{kind}:train/photo/o{o:03d}.jpg"
    for k in range(MOSAICS):
        target = ROOT / "val" / "photo" / f"m{k:04d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_jpeg(mosaic(photos, k), 90))
    manifest.write_text("".join(f"{k}\t{v}\n" for k, v in planted.items()))
    return planted


def _montage(a: Path, b: Path, path: Path, title: str) -> None:
    ims = [Image.open(p).convert("RGB") for p in (a, b)]
    ims = [im.resize((max(1, round(im.width * 200 / im.height)), 200)) for im in ims]
    out = Image.new("RGB", (ims[0].width + ims[1].width + 10, 220), (255, 255, 255))
    out.paste(ims[0], (0, 20))
    out.paste(ims[1], (ims[0].width + 10, 20))
    ImageDraw.Draw(out).text((4, 4), title, fill=(0, 0, 0))
    out.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    if not SOURCE.is_dir():
        sys.exit(f"skipped: {SOURCE} is missing (see ../shared/datasets/README.md)")
    import datacheck

    header("hard photo copies on BSDS500: planted transforms and mosaics")
    planted = build()
    print(f"{ROOT}: 500 originals (train), {len(planted)} planted copies (test), {MOSAICS} "
          f"mosaics (val)")
    OUT.mkdir(exist_ok=True)
    cache = Path(tempfile.mkdtemp(prefix="dc-bench-photos-"))
    rows, false_rows = [], []
    try:
        for label, options in (("perceptual hash only (variant_radius=0)",
                                {"variant_radius": 0}), ("datacheck defaults", {})):
            started = time.perf_counter()
            report = datacheck.audit(ROOT, checks=["duplicates", "leakage"], cache_dir=cache,
                                     workers=args.workers, progress=False, **options)
            seconds = time.perf_counter() - started
            leaks = report.checks["leakage"].findings
            found = {(r.a, r.b): r.transform for r in leaks.itertuples() if r.kind != "group"}
            row = [label]
            named_row = [label + ": transform named right"]
            for kind in TRANSFORMS:
                pairs = [(src.split(":", 1)[1], copy) for copy, src in planted.items()
                         if src.startswith(kind + ":")]
                hits = [found[p] for p in pairs if p in found]
                row.append(f"{100 * len(hits) / len(pairs):.0f}")
                named = sum(h in EXPECT[kind] for h in hits)
                named_row.append(f"{100 * named / max(1, len(hits)):.0f}")
            false = [(r.a, r.b, r.transform) for r in leaks.itertuples()
                     if r.kind != "group" and planted.get(r.b, ":").split(":", 1)[1] != r.a]
            # a duplicate cluster is right when its members are copies of one original
            clusters = report.checks["duplicates"].findings
            source = {copy: src.split(":", 1)[1] for copy, src in planted.items()}
            wrong = [paths for paths in clusters["paths"]
                     if len({source.get(p, p) for p in paths}) > 1]
            row += [len(false), f"{len(clusters) - len(wrong)} / {len(wrong)}", f"{seconds:.1f}"]
            rows += [row, named_row + ["", "", ""]]
            tag = "after" if not options else "before"
            for k, (a, b, how) in enumerate(false[:20]):
                _montage(ROOT / a, ROOT / b, OUT / f"photo_false_{tag}_{k}.png",
                         f"{a} vs {b} ({how})")
            for k, paths in enumerate(wrong[:20]):
                _montage(ROOT / paths[0], ROOT / paths[1], OUT / f"photo_false_dup_{tag}_{k}.png",
                         ", ".join(paths))
            false_rows += [[label, a, b, how] for a, b, how in false]
            false_rows += [[label, "cluster: " + ", ".join(c), "", ""] for c in wrong]
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print("\nrecall of planted (original, copy) leaks, %, and how often the transform is "
          "named right, % of the found ones:")
    table(["run", *TRANSFORMS, "false leaks", "duplicate clusters right / wrong", "audit s"],
          rows)
    if false_rows:
        print("other reported pairs (montages in benchmarks/_out/photo_false_*.png):")
        table(["run", "a", "b", "transform"], false_rows, align="llll")
    footer()


if __name__ == "__main__":
    main()
