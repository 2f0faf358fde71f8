"""Copy pairs kept by content (matching/known_pairs.py): an audit after a change searches only
the pairs its new images take part in, and finds exactly what a full search finds."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from PIL import Image, ImageOps

import datacheck.matching.copies as copies
from datacheck import audit
from tests.conftest import distinct_patches, save

CHECKS = ["integrity", "duplicates", "leakage"]


@pytest.fixture
def photos(tmp_path):
    """Photos (> 64 px) with planted copies: exact, re-encoded, mirrored, cropped, rotated."""
    patches = distinct_patches(40, size=128, seed=11)
    root = tmp_path / "data"
    for k in range(30):
        save(patches[k], root / ("train", "test")[k % 3 == 0] / ("a", "b")[k % 2] / f"{k}.jpg")
    img = patches[1]
    shutil.copyfile(root / "train/b/1.jpg", root / "test/b/exact.jpg")
    save(img, root / "test/b/q50.jpg", quality=50)
    save(ImageOps.mirror(patches[2]), root / "test/a/mirror.jpg")
    save(patches[4].crop((10, 8, 118, 120)).resize((128, 128)), root / "test/a/crop.jpg")
    save(patches[5].rotate(90), root / "test/b/rot.jpg")
    return root, patches


def findings(report) -> dict:
    data = report.to_dict()["checks"]
    return {name: data[name]["findings"] for name in ("duplicates", "leakage")}


def test_a_changed_dataset_reuses_pairs_and_finds_what_a_full_search_finds(
        photos, tmp_path, monkeypatch):
    root, patches = photos
    first = audit(root, checks=CHECKS, cache_dir=tmp_path / "cache", progress=False)
    assert first.checks["leakage"].metrics["pairs"] >= 4
    # the change: renames, a removal, new copies of old and of new images
    (root / "test/b/3.jpg").rename(root / "test/b/3_renamed.jpg")
    (root / "test/b/q50.jpg").unlink()
    save(ImageOps.mirror(patches[7]), root / "test/b/new_mirror.jpg")
    save(patches[35], root / "train/a/new.jpg")
    save(patches[35], root / "test/a/new_q60.jpg", quality=60)
    save(Image.open(root / "train/b/1.jpg").convert("RGB"), root / "train/a/1_again.png")
    save(patches[8].crop((12, 12, 124, 116)).resize((128, 128)), root / "test/a/new_crop.jpg")
    save(ImageOps.expand(patches[10], border=14, fill=(255, 255, 255)),
         root / "test/b/new_framed.jpg")

    limited = []
    real = copies.find_copies

    def recording(*args, touching=None, **kw):
        limited.append(None if touching is None else int(touching.sum()))
        return real(*args, touching=touching, **kw)

    monkeypatch.setattr(copies, "find_copies", recording)
    again = audit(root, checks=CHECKS, cache_dir=tmp_path / "cache", progress=False)
    assert limited == [6]  # only the 6 new contents were searched against the rest
    full = audit(root, checks=CHECKS, cache_dir=tmp_path / "fresh", progress=False)
    assert limited == [6, None]
    assert findings(again) == findings(full)
    pairs = {(f["a"], f["b"]) for f in findings(full)["leakage"]}
    assert ("train/a/new.jpg", "test/a/new_q60.jpg") in pairs
    assert ("train/b/7.jpg", "test/b/new_mirror.jpg") in pairs
    assert {("train/a/8.jpg", "test/a/new_crop.jpg"),
            ("train/a/10.jpg", "test/b/new_framed.jpg")} <= pairs
    assert not any("q50" in a + b for a, b in pairs)
    unchanged = audit(root, checks=CHECKS, cache_dir=tmp_path / "cache", progress=False)
    assert limited[-1] == 0 and findings(unchanged) == findings(full)


def test_small_images_are_always_searched_in_full(tmp_path, monkeypatch):
    root = tmp_path / "small"
    for k, patch in enumerate(distinct_patches(12, size=32, seed=2)):
        save(patch, root / ("train", "test")[k % 2] / "a" / f"{k}.png")
    calls = []
    real = copies.find_copies
    monkeypatch.setattr(copies, "find_copies", lambda *a, touching=None, **kw: (
        calls.append(touching), real(*a, touching=touching, **kw))[1])
    for _ in range(2):
        audit(root, checks=CHECKS, cache_dir=tmp_path / "cache", progress=False)
    assert calls == [None, None]


def test_limited_search_refuses_small_images(tmp_path):
    table = pd.DataFrame({"problem": [None, None], "width": [32, 200], "height": [32, 200]})
    with pytest.raises(ValueError, match="small images"):
        copies.find_copies(table, None, None, None, copies.CopyOptions(),
                           touching=pd.Series([True, False]).to_numpy())
