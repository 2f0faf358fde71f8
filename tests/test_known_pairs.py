"""Copy pairs kept by content (matching/known_pairs.py): an audit after a change searches only
the pairs its new images take part in (photos and small images alike), and finds exactly what
a full search finds; an unchanged dataset is not searched at all."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageOps

import datacheck.matching.copies as copies
from datacheck import audit
from datacheck.features.cache import FeatureCache
from tests.helpers import distinct_patches, save

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
    assert limited == [6, None] and findings(unchanged) == findings(full)  # no search at all


def _small(patch: Image.Image) -> Image.Image:
    return patch.resize((32, 32), Image.BOX)


def test_small_images_are_searched_only_where_they_changed(tmp_path, monkeypatch):
    """A dataset of 32x32 photos: unchanged, nothing is searched; after a change only the
    new contents are, in the small images' kept mode, from the kept search codes (no thumbnail
    read but those of the new images and their candidates), and the findings equal a full
    search's (a shifted copy, a mirrored one and a framed one of old images, among the new)."""
    patches = [_small(p) for p in distinct_patches(70, size=96, seed=2)]
    root = tmp_path / "small"
    for k, patch in enumerate(patches[:60]):
        save(patch, root / ("train", "test")[k % 3 == 0] / "ab"[k % 2] / f"{k}.png")
    save(patches[1].crop((2, 0, 32, 32)).resize((32, 32), Image.BICUBIC),
         root / "test/b/shifted.jpg", quality=75)
    calls = []
    real = copies.find_copies
    monkeypatch.setattr(copies, "find_copies", lambda *a, touching=None, **kw: (
        calls.append((None if touching is None else int(touching.sum()), kw["crowded"])),
        real(*a, touching=touching, **kw))[1])
    first = audit(root, checks=CHECKS, cache_dir=tmp_path / "cache", progress=False)
    assert calls == [(None, False)]  # sparse: shifted codes searched, pairs aligned
    assert ("train/b/1.png", "test/b/shifted.jpg") in {
        (f["a"], f["b"]) for f in findings(first)["leakage"]}
    [kept] = (tmp_path / "cache/pairs").glob("*[0-9a-f].npz")
    [codes] = (tmp_path / "cache/pairs").glob("*.codes.npz")
    assert len(np.load(codes)["digests"]) == 61
    written = kept.stat().st_mtime_ns
    audit(root, checks=CHECKS, cache_dir=tmp_path / "cache", progress=False)
    assert calls == [(None, False)]  # unchanged: nothing searched
    assert kept.stat().st_mtime_ns == written  # nor kept again
    (root / "train/b/5.png").unlink()
    save(ImageOps.mirror(patches[7]), root / "test/b/new_mirror.png")
    framed = Image.new("RGB", (32, 32), (255, 255, 255))
    framed.paste(patches[8].resize((24, 24), Image.LANCZOS), (3, 5))
    save(framed, root / "test/a/new_framed.png")
    save(patches[65], root / "train/a/new.png")
    read = []
    real_thumbs = FeatureCache.thumbs
    monkeypatch.setattr(FeatureCache, "thumbs", lambda self, digests, config: (
        read.append(len(digests)), real_thumbs(self, digests, config))[1])
    again = audit(root, checks=CHECKS, cache_dir=tmp_path / "cache", progress=False)
    assert calls[1:] == [(3, False)]
    assert read and read[0] == 3 and max(read) < 30, read  # not the 63 small images
    assert len(np.load(codes)["digests"]) == 63
    full = audit(root, checks=CHECKS, cache_dir=tmp_path / "fresh", progress=False)
    assert findings(again) == findings(full)
    found = {(f["a"], f["b"]): f["transform"] for f in findings(full)["leakage"]}
    assert found[("train/b/7.png", "test/b/new_mirror.png")] == "mirrored"
    assert found[("train/a/8.png", "test/a/new_framed.png")] == "framed"


def test_limited_search_needs_the_small_images_mode(tmp_path):
    table = pd.DataFrame({"problem": [None, None], "width": [32, 32], "height": [32, 32]})
    with pytest.raises(ValueError, match="small images' mode"):
        copies.find_copies(table, None, None, None, copies.CopyOptions(),
                           touching=pd.Series([True, False]).to_numpy())


def test_a_crowd_of_small_images_stays_crowded_after_a_change(tmp_path, monkeypatch):
    """Handwritten digits at 28x28 are a crowd of look-alikes: the kept mode (crowded: hashes
    only, verified unaligned) is decided again from the updated pair count and holds, so new
    images are searched alone, and the findings equal a full search's."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = tmp_path / "digits"
    for n in range(1200):
        img = Image.fromarray((digits.images[n] * 16).astype("uint8")).resize((28, 28),
                                                                             Image.BICUBIC)
        save(img, root / ("train", "test")[n % 5 == 0] / str(digits.target[n]) / f"d{n}.png")
    calls = []
    real = copies.find_copies
    monkeypatch.setattr(copies, "find_copies", lambda *a, touching=None, **kw: (
        calls.append((None if touching is None else int(touching.sum()), kw["crowded"])),
        real(*a, touching=touching, **kw))[1])
    audit(root, checks=CHECKS, cache_dir=tmp_path / "cache", progress=False)
    assert calls == [(None, True)]
    source = root / "train" / str(digits.target[1]) / "d1.png"
    save(Image.open(source), root / "test" / str(digits.target[1]) / "copy.jpg", quality=90)
    (root / "train" / str(digits.target[2]) / "d2.png").unlink()
    again = audit(root, checks=CHECKS, cache_dir=tmp_path / "cache", progress=False)
    assert calls[1:] == [(1, True)]
    full = audit(root, checks=CHECKS, cache_dir=tmp_path / "fresh", progress=False)
    assert findings(again) == findings(full)
    assert (f"train/{digits.target[1]}/d1.png", f"test/{digits.target[1]}/copy.jpg") in {
        (f["a"], f["b"]) for f in findings(full)["leakage"]}
