"""Shift on real images: digits and bundled photos, written to disk and audited."""

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter
from sklearn.datasets import load_digits

from datacheck import audit
from datacheck.checks.shift import check_shift
from datacheck.features.images import decode_bytes
from datacheck.learning.decomposition import decompose, load_errors
from tests.helpers import NO_MODEL, distinct_patches, save


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    imgs = [Image.fromarray((x * 255 / 16).astype(np.uint8)).resize((32, 32), Image.BILINEAR)
            for x in d.images]
    return imgs, d.target


def write_split(root, split, imgs, labels, edit=None):
    for k, (img, label) in enumerate(zip(imgs, labels)):
        save(edit(img) if edit else img, root / split / str(label) / f"{k}.png")


def darken(img):
    return img.point(lambda v: int(v * 0.9))


def blur(img):
    return img.filter(ImageFilter.GaussianBlur(1.0))


def noisy(img):
    rng = np.random.default_rng(sum(img.tobytes()) % 1000)
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, 16, (img.height, img.width))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def shifted_report(tmp_path, digits, edit=None, prior=None):
    imgs, labels = digits
    rng = np.random.default_rng(0)
    order = rng.permutation(len(imgs))
    a, rest = order[:200], order[200:]
    if prior is not None:
        ones = rest[labels[rest] == prior][:160]
        b = np.concatenate([ones, rest[labels[rest] != prior][:40]])
    else:
        b = rest[:200]
    root = tmp_path / "data"
    write_split(root, "train-val", [imgs[k] for k in a], labels[a])
    write_split(root, "test-val", [imgs[k] for k in b], labels[b], edit)
    return audit(root, checks=["shift"], cache_dir=tmp_path / "c", progress=False)


@pytest.mark.parametrize("edit, expected", [
    (darken, {"brightness", "light"}), (blur, {"sharpness"}), (noisy, {"sharpness"})])
def test_image_shifts_fail_and_name_the_property(tmp_path, digits, edit, expected):
    result = shifted_report(tmp_path, digits, edit).checks["shift"]
    assert result.status == "fail"
    named = set(result.findings.loc[result.findings["kind"] == "property", "name"])
    assert named & expected, named


def test_class_prior_shift_names_the_class(tmp_path, digits):
    result = shifted_report(tmp_path, digits, prior=3).checks["shift"]
    assert result.status == "fail"
    label = result.findings[result.findings["kind"] == "label"].iloc[0]
    assert "'3'" in label["detail"]


@pytest.mark.slow
def test_no_shift_passes_in_at_least_95_percent_of_seeds(digits):
    imgs, labels = digits
    frames, thumbs = [], []
    for img in imgs:
        buf = io.BytesIO()
        img.save(buf, "PNG")
        dec = decode_bytes(buf.getvalue())
        frames.append({k: v for k, v in dec.__dict__.items() if k != "thumb"})
        thumbs.append(np.frombuffer(dec.thumb, np.uint8).reshape(32, 32, 3))
    pool, thumbs = pd.DataFrame(frames), np.stack(thumbs)
    passed = 0
    seeds = range(60)
    for seed in seeds:
        order = np.random.default_rng(1000 + seed).permutation(len(imgs))[:300]
        table = pool.iloc[order].reset_index(drop=True)
        table["split"] = ["train-val"] * 150 + ["test-val"] * 150
        table["label"] = labels[order].astype(str)
        table["path"] = [f"{k}.png" for k in order]
        result = check_shift(table, thumbs[order], between=("train-val", "test-val"),
                             seed=seed)
        passed += result.status == "pass"
    assert passed / len(seeds) >= 0.95


def test_channel_swap_is_named(tmp_path):
    patches = distinct_patches(120, size=64, seed=3)
    root = tmp_path / "photos"
    for k, img in enumerate(patches):
        split = "train-val" if k % 2 else "test-val"
        if split == "test-val":
            r, g, b = img.split()
            img = Image.merge("RGB", (b, g, r))
        save(img, root / split / "x" / f"{k}.png")
    result = audit(root, checks=["shift"], cache_dir=tmp_path / "c",
                   progress=False).checks["shift"]
    assert result.status == "fail"
    assert "RGB<->BGR" in set(result.findings["name"])


def test_shift_needs_two_splits(tmp_path, digits):
    imgs, labels = digits
    write_split(tmp_path / "d", "train", imgs[:20], labels[:20])
    report = audit(tmp_path / "d", checks=NO_MODEL, cache_dir=tmp_path / "c", progress=False)
    assert "shift" not in report.checks and "needs two of the splits" in report.skipped["shift"]


def test_decomposition_matches_hand_computed_values(tmp_path):
    rows = ([("train", 0)] * 95 + [("train", 1)] * 5 + [("train-val", 0)] * 90
            + [("train-val", 1)] * 10 + [("test-val", 0)] * 80 + [("test-val", 1)] * 20
            + [("test", 0)] * 75 + [("test", 1)] * 25)
    path = tmp_path / "errors.csv"
    pd.DataFrame(rows, columns=["split", "error"]).to_csv(path, index=False)
    result = decompose(load_errors(path), goal=0.01, n_boot=4000)
    parts = {k: v["value"] for k, v in result["components"].items()}
    assert parts == pytest.approx({"avoidable_bias": 0.04, "variance": 0.05,
                                   "distribution_shift": 0.10, "val_overfitting": 0.05})
    shift = result["components"]["distribution_shift"]
    # independent bootstrap of two 100-image splits: half-width ~1.96 * sqrt(.09/100 + .16/100)
    assert shift["low"] < 0.10 < shift["high"]
    assert shift["high"] - shift["low"] == pytest.approx(2 * 1.96 * np.sqrt(0.0025), abs=0.03)
    assert result["splits"]["test-val"]["resolution"] == pytest.approx(
        1.96 * np.sqrt(0.2 * 0.8 / 100), abs=1e-6)
