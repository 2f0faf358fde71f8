"""quality at the image's own resolution: blur, upscaling and washed-out photos planted in real
photos (scikit-image's and scikit-learn's, 300-640 px), written as JPEG and PNG, audited."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from datacheck import audit
from datacheck.features.images import decode_bytes
from datacheck.report.html import render_html
from tests.helpers import Page, jpeg_bytes, save, source_photos

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "china", "flower"]


def blurred(im: Image.Image) -> Image.Image:
    """A Gaussian blur of sigma 1.5% of the width."""
    return im.filter(ImageFilter.GaussianBlur(0.015 * im.width))


def upscaled(im: Image.Image) -> Image.Image:
    """A quarter-size copy blown up 4x."""
    w, h = im.size
    return im.resize((w // 4, h // 4), Image.BICUBIC).resize((w, h), Image.BICUBIC)


def washed_out(im: Image.Image) -> Image.Image:
    """A 70% blend with white."""
    return Image.blend(im, Image.new("RGB", im.size, (255, 255, 255)), 0.7)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Each photo as it is and as a blurred, upscaled and washed-out copy (JPEG); two photos
    and their blurred copies also as PNG. Returns the audit report and the expected kinds."""
    root = tmp_path_factory.mktemp("quality") / "data"
    photos = source_photos()
    expected = {}
    for name in PHOTOS:
        im = photos[name]
        save(im, root / "photo" / f"{name}.jpg")
        for kind, make in (("blurry", blurred), ("upscaled", upscaled), ("light", washed_out)):
            save(make(im), root / kind / f"{name}.jpg")
            expected[f"{kind}/{name}.jpg"] = kind
    for name in PHOTOS[:2]:
        save(photos[name], root / "photo" / f"{name}.png")
        save(blurred(photos[name]), root / "blurry" / f"{name}.png")
        expected[f"blurry/{name}.png"] = "blurry"
    report = audit(root, checks=["quality"], cache_dir=root.parent / "cache", progress=False)
    return root, report, expected


def test_planted_blur_upscale_and_washed_out_found_and_photos_pass(planted):
    _, report, expected = planted
    findings = report.checks["quality"].findings
    found = dict(zip(findings["path"], findings["kind"], strict=True))
    assert found == expected, findings.to_string()
    details = dict(zip(findings["path"], findings["detail"], strict=True))
    assert "edges spread over" in details["blurry/coffee.jpg"]
    assert "at 600x400" in details["blurry/coffee.jpg"]  # measured at its own size
    assert "steeper at a quarter of 512x512" in details["upscaled/astronaut.jpg"]
    assert "darkest 1% of pixels" in details["light/china.jpg"]
    assert report.checks["quality"].metrics["upscaled"] == len(PHOTOS)


def test_jpeg_and_png_give_the_same_detail_measures():
    """A JPEG decoded again at its working scale and a PNG decoded in full measure the same."""
    im = blurred(source_photos()["rocket"])
    from_jpeg = decode_bytes(jpeg_bytes(im, quality=95))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    from_png = decode_bytes(buf.getvalue())
    assert from_jpeg.fine_edge == pytest.approx(from_png.fine_edge, rel=0.1)
    assert from_jpeg.detail_ratio == pytest.approx(from_png.detail_ratio, rel=0.1)


def test_a_sharp_jpeg_is_not_decoded_again():
    """The file's bits show a sharp photo has fine detail: no second decode, no measure."""
    sharp = decode_bytes(jpeg_bytes(source_photos()["rocket"]))
    soft = decode_bytes(jpeg_bytes(upscaled(source_photos()["rocket"])))
    assert sharp.fine_edge != sharp.fine_edge  # NaN: not measured
    assert soft.fine_edge == soft.fine_edge and soft.detail_ratio > 2.8


def test_html_report_shows_a_sheet_per_kind(planted):
    root, report, expected = planted
    page = Page(render_html(report.to_dict(), root))
    sheets = [a for t, a in page.tags if t == "h3" and a.get("class") == "sheet"]
    assert len(sheets) == 3
    text = " ".join(page.text)
    for kind in ("blurry", "upscaled", "light"):
        assert f"{kind} {sum(v == kind for v in expected.values())}" in " ".join(text.split())
    assert len(page.images()) >= len(expected)


def test_detail_kernels_match_their_numpy_definitions():
    from datacheck.features.detail import _mean_steps, _steepness
    from datacheck.features.image_props import _edge

    for im in list(source_photos().values())[:6]:
        lum = np.asarray(im.convert("L"))
        assert _steepness(lum) == pytest.approx(_edge(lum.astype(np.float32)), rel=1e-6)
        g = lum.astype(np.float64) / 255
        steps = np.abs(np.diff(g, axis=1)).mean() + np.abs(np.diff(g, axis=0)).mean()
        assert _mean_steps(lum) == pytest.approx(steps, rel=1e-9)
    assert _steepness(np.full((40, 40), 128, np.uint8)) == 0.0
