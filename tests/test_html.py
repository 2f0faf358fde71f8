"""datacheck.report.html: a real audit rendered to one self-contained page, opened in Chromium."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datacheck import audit
from datacheck.features.samples import make_thumbnail, pick_samples
from datacheck.report.html import render_html
from datacheck.sources.dataset import load_dataset
from datacheck.sources.source import open_source
from tests.helpers import (
    HOSTILE_FILE,
    HOSTILE_LABEL,
    Page,
    decoded_images,
    run_chromium,
    save,
)

CHECKS = ["integrity", "duplicates", "leakage", "balance"]


@pytest.fixture
def hostile_dataset(clean_dataset, patches) -> Path:
    """clean_dataset plus a train->test copy with a hostile name, an exact duplicate inside
    train, a corrupt file and a class folder with a hostile name."""
    root = clean_dataset
    shutil.copyfile(root / "train/a/img000.jpg", root / "test/a" / HOSTILE_FILE)
    shutil.copyfile(root / "train/b/img008.jpg", root / "train/b/dup.jpg")
    (root / "val/c/broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    for k in range(2):
        save(patches[50 + k], root / "train" / HOSTILE_LABEL / f"h{k}.png")
    return root


@pytest.fixture
def page(hostile_dataset, tmp_path) -> tuple[dict, str]:
    root = hostile_dataset
    report = audit(root, checks=CHECKS, cache_dir=tmp_path / "cache", progress=False).to_dict()
    samples = pick_samples(load_dataset(root).table, per_split=2)
    return report, render_html(report, root, samples=samples)


def test_page_is_self_contained_with_inline_thumbnails(page):
    report, html = page
    assert report["checks"]["leakage"]["findings"][0]["b"] == f"test/a/{HOSTILE_FILE}"
    parsed = Page(html)
    tags = {t for t, _ in parsed.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed", "base", "form"}
    for tag, attrs in parsed.tags:
        assert not [k for k in attrs if k.startswith("on")], (tag, attrs)
        for key in ("src", "href", "action", "poster", "srcset"):
            value = attrs.get(key, "")
            assert not re.match(r"\s*(https?:|//|file:|javascript:)", value, re.I), (tag, attrs)
        if "href" in attrs:
            assert attrs["href"].startswith("#")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "url(" not in html and "@import" not in html
    images = parsed.images()
    # 2 for the leak, 2 for the duplicate, 2 per class and split in the sample grid (3 classes
    # x 3 splits, one of which may be the corrupt file's placeholder, + 2 of the hostile class)
    assert len(images) >= 2 + 2 + 2 * 9
    for attrs in images:
        src = attrs["src"]
        mime, _, data = src.partition(";base64,")
        assert mime in ("data:image/jpeg", "data:image/png"), src[:40]
        with Image.open(io.BytesIO(base64.b64decode(data, validate=True))) as thumb:
            assert max(thumb.size) <= 96 and thumb.size == (int(attrs["width"]),
                                                            int(attrs["height"]))
    assert 'content="default-src \'none\'; img-src data:; style-src \'unsafe-inline\'"' in html
    assert "cannot be decoded" in html  # the corrupt file's placeholder


def test_hostile_names_are_escaped_everywhere(page):
    _, html = page
    assert HOSTILE_FILE not in html and HOSTILE_LABEL not in html
    assert "<img src=x" not in html and "<b onmouseover" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;b onmouseover=alert(2)&gt;x" in html
    parsed = Page(html)
    text = "".join(parsed.text)
    assert HOSTILE_FILE in text and HOSTILE_LABEL in text  # shown as text, intact
    titles = [a.get("title", "") for _, a in parsed.tags]
    assert f"test/a/{HOSTILE_FILE}" in titles  # and inside attributes, as their value
    # every <img> is one of ours: data: thumbnails with the class="thumb"
    assert all(a.get("class", "").startswith("thumb") for a in parsed.images())


def test_missing_unreadable_and_outside_files_get_placeholders(tmp_path, patches):
    root = tmp_path / "data"
    save(patches[0], root / "train/a/ok.jpg")
    (root / "train/a/cut.jpg").write_bytes((root / "train/a/ok.jpg").read_bytes()[:200])
    save(patches[1], tmp_path / "secret.jpg")  # outside the root: must never be inlined
    report = {
        "schema": "datacheck.audit/1", "status": "fail",
        "dataset": {"root": "data", "images": 2, "splits": {"train": 2}, "classes": 1},
        "settings": {}, "checks": {"integrity": {
            "status": "fail", "summary": "x", "metrics": {},
            "findings": [{"path": p, "problem": "?"} for p in (
                "train/a/ok.jpg", "train/a/cut.jpg", "train/a/gone.jpg", "../secret.jpg",
                str(tmp_path / "secret.jpg"), "train/../../secret.jpg", None, 7)]}},
    }
    html = render_html(report, root)
    assert len(Page(html).images()) == 1
    for why in ("cannot be decoded", "missing", "outside the dataset"):
        assert why in html
    assert make_thumbnail(open_source(root), "nope.jpg", 64)[:2] == (None, "missing")
    assert make_thumbnail(open_source(root), "train", 64)[:2] == (None, "missing")


def test_each_section_is_capped_with_a_note(tmp_path, patches):
    root = tmp_path / "data"
    for k in range(5):
        save(patches[k], root / "train/a" / f"{k}.jpg")
        (root / "test/a").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / "train/a" / f"{k}.jpg", root / "test/a" / f"{k}.jpg")
    report = audit(root, checks=["leakage"], cache_dir=tmp_path / "c", progress=False).to_dict()
    html = render_html(report, root, max_items=3, thumb_px=48)
    assert "Showing the first 3 of 5 pairs" in html
    assert len(Page(html).images()) == 6
    assert "--t:48px" in html


def test_small_and_odd_images_make_thumbnails(tmp_path):
    tiny = tmp_path / "tiny.png"
    Image.fromarray((np.arange(28 * 28).reshape(28, 28) % 255).astype(np.uint8)).save(tiny)
    rgba = tmp_path / "alpha.png"
    Image.new("RGBA", (300, 120), (255, 0, 0, 80)).save(rgba)
    deep = tmp_path / "deep.png"
    Image.fromarray((np.arange(200 * 100).reshape(100, 200) * 3).astype(np.uint16)).save(deep)
    for path, mime in ((tiny, "data:image/png"), (rgba, "data:image/jpeg"),
                       (deep, "data:image/jpeg")):
        uri, why, size = make_thumbnail(open_source(tmp_path), path.name, 96)
        assert uri and uri.startswith(mime + ";base64,"), (path, why)
        assert max(size) <= 96
    assert make_thumbnail(open_source(tmp_path), tiny.name, 96)[2] == (28, 28)  # never enlarged


# -- real Chromium --------------------------------------------------------------------------

def test_chromium_renders_every_thumbnail(page, chromium, tmp_path):
    _, html = page
    report_file = tmp_path / "report.html"
    report_file.write_text(html, encoding="utf-8")
    expected = len(Page(html).images())

    dom = run_chromium(chromium, tmp_path, "--dump-dom", report_file.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = Page(dom.stdout)
    images = rendered.images()
    assert len(images) == expected > 0
    assert all(a["src"].startswith("data:image/") for a in images)
    assert not [t for t, a in rendered.tags if t == "script" or any(k.startswith("on")
                                                                   for k in a)]
    text = "".join(rendered.text)
    assert HOSTILE_FILE in text and HOSTILE_LABEL in text

    assert decoded_images(chromium, tmp_path, html) == expected

    shot = tmp_path / "report.png"
    run = run_chromium(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1280,2400",
                       report_file.as_uri())
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    with Image.open(shot) as img:
        assert img.size == (1280, 2400)
        pixels = np.asarray(img.convert("RGB"), dtype=np.float32)
    assert pixels.std() > 10  # not a blank page
    keep = os.environ.get("DATACHECK_KEEP_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)


def test_thumbnails_are_cached_by_content(hostile_dataset, tmp_path, monkeypatch):
    """An unchanged image is decoded for the page once: the second page comes from the cache,
    byte for byte; a changed file is decoded again."""
    import datacheck.report.thumbs as thumbs

    root = hostile_dataset
    report = audit(root, checks=CHECKS, cache_dir=tmp_path / "cache", progress=False)
    made = []
    real = thumbs.make_thumbnail

    def counting(source, rel, px):
        made.append(Path(source.location(rel)))
        return real(source, rel, px)

    monkeypatch.setattr(thumbs, "make_thumbnail", counting)
    first = report.to_html()
    assert len(made) >= 4
    made.clear()
    assert report.to_html() == first
    readable = {(root / rel).resolve() for rel in report.digests}
    assert not [p for p in made if Path(p).resolve() in readable]  # only placeholders again
    changed = audit(root, checks=CHECKS, cache_dir=tmp_path / "cache", progress=False)
    leak = changed.checks["leakage"].findings.iloc[0]
    save(Image.open(root / leak["b"]).convert("L").convert("RGB"), root / leak["b"])
    again = audit(root, checks=CHECKS, cache_dir=tmp_path / "cache", progress=False)
    made.clear()
    again.to_html()
    assert [Path(p).name for p in made if Path(p).resolve() in readable] == [
        Path(leak["b"]).name]
