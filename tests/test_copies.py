"""Hard copies of photos, planted on real photos, are found and named; look-alikes are not."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont, ImageOps

from datacheck import audit
from datacheck.features.variants import VARIANT_NAMES, variant_hashes
from tests.helpers import layout_mosaics, save, source_photos

#: Planted kind -> (edit of the original, the transform datacheck must name).
EDITS = {
    "mirror": (ImageOps.mirror, {"mirrored"}),
    "rot90": (lambda im: im.transpose(Image.ROTATE_90), {"rotated 90"}),
    "rot180": (lambda im: im.transpose(Image.ROTATE_180), {"rotated 180"}),
    "rot270": (lambda im: im.transpose(Image.ROTATE_270), {"rotated 270"}),
    "crop20": (lambda im: im.crop((int(im.width * 0.05), int(im.height * 0.15),
                                   int(im.width * 0.85), int(im.height * 0.95))),
               {"cropped", "overlay"}),
    "caption": (lambda im: _caption(im), {"overlay", "cropped", "none"}),
    "watermark": (lambda im: _watermark(im), {"overlay", "none", "rescaled"}),
    "border": (lambda im: _border(im), {"overlay"}),
}
ORIGINALS = ["astronaut", "coffee", "chelsea", "rocket", "china", "flower", "camera",
             "immunohistochemistry"]


def _caption(im: Image.Image) -> Image.Image:
    bar = round(im.height * 0.12)
    out = Image.new("RGB", (im.width, im.height + bar), (255, 255, 255))
    out.paste(im, (0, 0))
    ImageDraw.Draw(out).text((10, im.height + 4), "Holiday 2019 - do not copy",
                             fill=(0, 0, 0), font=ImageFont.load_default(bar * 2 // 3))
    return out


def _watermark(im: Image.Image) -> Image.Image:
    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((im.width // 8, im.height // 2), "(c) PhotoStock",
                               fill=(255, 255, 255, 130),
                               font=ImageFont.load_default(im.height // 7))
    return Image.alpha_composite(im.convert("RGBA"), layer).convert("RGB")


def _border(im: Image.Image) -> Image.Image:
    out = Image.new("RGB", im.size, (0, 0, 0))
    inner = im.resize((round(im.width * 0.8), round(im.height * 0.8)), Image.BILINEAR)
    out.paste(inner, (round(im.width * 0.1), round(im.height * 0.1)))
    return out


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    out = {}
    for name, img in source_photos().items():
        if name in ORIGINALS:
            scale = 320 / max(img.size)
            out[name] = img.convert("RGB").resize((round(img.width * scale),
                                                   round(img.height * scale)), Image.BILINEAR)
    return out


def test_every_planted_transform_is_found_and_named(tmp_path, photos):
    root = tmp_path / "data"
    expected = {}
    for k, (kind, (edit, names)) in enumerate(EDITS.items()):
        name = ORIGINALS[k % len(ORIGINALS)]
        save(photos[name], root / "train" / "x" / f"{name}.jpg")
        copy = f"test/x/{name}_{kind}.jpg"
        save(edit(photos[name]), root / copy, quality=85)
        expected[(f"train/x/{name}.jpg", copy)] = names
    for name in ORIGINALS:  # every original in train, copies or not
        if not (root / "train" / "x" / f"{name}.jpg").exists():
            save(photos[name], root / "train" / "x" / f"{name}.jpg")
    report = audit(root, checks=["duplicates", "leakage"], cache_dir=tmp_path / "c",
                   progress=False, workers=1)
    leaks = report.checks["leakage"].findings
    found = {(r.a, r.b): r.transform for r in leaks.itertuples()}
    missing = [pair for pair in expected if pair not in found]
    assert not missing, missing
    extra = [pair for pair in found if pair not in expected]
    assert not extra, extra
    wrong = {pair: found[pair] for pair, names in expected.items() if found[pair] not in names}
    assert not wrong, wrong
    assert report.checks["duplicates"].status == "pass"
    assert report.to_dict()["checks"]["leakage"]["findings"][0]["transform"]


def test_variant_hashes_of_a_mirrored_photo_match_its_mirror_variant(photos):
    img = photos["astronaut"].convert("L")
    own, mirrored = variant_hashes(img), variant_hashes(ImageOps.mirror(img))
    assert len(own) == len(VARIANT_NAMES)
    distance = int(np.bitwise_count(own[VARIANT_NAMES.index("mirrored")] ^ mirrored[0]))
    assert distance <= 4
    assert int(np.bitwise_count(own[0] ^ mirrored[0])) > 16  # the plain hash misses it


def test_different_photos_of_one_layout_are_not_copies(tmp_path, patches):
    """Mosaics of different photos' tiles in one 2x2 layout share layout, not content."""
    root = tmp_path / "data"
    for k, canvas in enumerate(layout_mosaics(patches, 12)):
        save(canvas, root / ("train" if k % 2 else "test") / "m" / f"mosaic{k}.jpg")
    report = audit(root, checks=["duplicates", "leakage"], cache_dir=tmp_path / "c",
                   progress=False, workers=1)
    assert report.checks["leakage"].findings.empty, report.checks["leakage"].findings
