"""The data-checklist checks: shortcuts, splits, order, quality, augmentations, image_props."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from datacheck import audit
from datacheck.checks.order import check_order, runs_test
from datacheck.checks.quality import check_quality
from datacheck.checks.shortcuts import FAMILIES
from datacheck.checks.splits import check_splits, resolution
from datacheck.cli import cli
from datacheck.demo import SHORTCUT_CLASS, build_demo
from datacheck.features.image_props import (
    file_properties,
    jpeg_quality,
    metadata_bytes,
    thumb_properties,
)
from datacheck.learning.decomposition import decompose
from datacheck.sources.dataset import load_dataset
from tests.helpers import distinct_patches, save


@pytest.fixture(scope="module")
def small_patches() -> list[Image.Image]:
    return distinct_patches(120, size=64, seed=1)


def save_bytes(img, fmt, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _tree(root, patches, planted=None, classes=("a", "b", "c"), per_class=30):
    """ROOT/all-classes tree; ``planted(img) -> (img, fmt[, save options])`` applied to class
    'a'."""
    k = 0
    for label in classes:
        for _ in range(per_class):
            img, fmt, kw = patches[k], "JPEG", {}
            if planted is not None and label == "a":
                img, fmt, *extra = planted(img)
                kw = extra[0] if extra else {}
            save(img, root / label / f"{k:03d}.{'png' if fmt == 'PNG' else 'jpg'}", fmt, **kw)
            k += 1
    return root


def _srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _shortcuts(root, tmp_path):
    return audit(root, checks=["shortcuts"], cache_dir=tmp_path / "c", progress=False
                 ).checks["shortcuts"]


# --- shortcuts -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, planted, status, family", [
    ("png", lambda im: (im, "PNG"), "fail", "format"),
    ("border", lambda im: (ImageOps.expand(im.crop((6, 6, 58, 58)), 6, fill=0), "JPEG"), "fail",
     "border"),
    ("bright", lambda im: (ImageEnhance.Brightness(im).enhance(2.2), "JPEG"), "warn",
     "brightness"),
    ("icc", lambda im: (im, "JPEG", {"icc_profile": _srgb_profile()}), "fail", "metadata bytes"),
    ("444", lambda im: (im, "JPEG", {"subsampling": 0}), "fail", "jpeg settings"),
])
def test_planted_shortcut_is_found_and_named(tmp_path, small_patches, name, planted, status,
                                             family):
    result = _shortcuts(_tree(tmp_path / name, small_patches, planted), tmp_path)
    assert result.status == status, result.summary
    found = result.findings[result.findings["kind"] == "shortcut"]
    assert family in set(found["feature"]), result.summary
    assert "a" in found.loc[found["feature"] == family, "label"].iat[0].split(", ")
    examples = result.findings[result.findings["kind"] == "example"]
    assert examples["path"].str.startswith("a/").any()  # an image per class for the HTML page


def test_content_that_compresses_differently_only_warns(tmp_path, small_patches):
    # class 'a' is smooth (blurred): fewer bytes per pixel because of what the images show
    root = _tree(tmp_path / "smooth", small_patches,
                 lambda im: (im.filter(ImageFilter.GaussianBlur(3)), "JPEG"))
    result = _shortcuts(root, tmp_path)
    found = result.findings[result.findings["kind"] == "shortcut"]
    assert "compressed size" in set(found["feature"]), result.summary
    assert result.status == "warn", result.summary


def test_demo_shortcut_is_the_one_that_fails(tmp_path):
    planted = build_demo(tmp_path / "demo")
    result = _shortcuts(tmp_path / "demo", tmp_path)
    found = result.findings[result.findings["kind"] == "shortcut"]
    failing = found[found["feature"].map(lambda f: FAMILIES[f][2])]
    assert result.status == "fail" and planted["shortcuts"], result.summary
    assert list(failing["feature"]) == ["jpeg quality"], result.summary
    assert failing["label"].iat[0] == SHORTCUT_CLASS
    assert result.summary.startswith(f"the label is predictable from jpeg quality "
                                     f"({SHORTCUT_CLASS}); may be content:"), result.summary


def test_manifest_columns_are_tested_and_a_restated_label_is_not(tmp_path, small_patches):
    # class 'a' all from site s0 (and the latest dates); b and c from the other sites
    rows = []
    for k in range(90):
        label = "abc"[k // 30]
        path = save(small_patches[k], tmp_path / "img" / f"{k:03d}.jpg")
        site = "s0" if label == "a" else f"s{1 + k % 3}"
        rows.append({"path": path.relative_to(tmp_path).as_posix(), "label": label,
                     "site": site, "shuffled_site": f"s{(k * 7) % 4}",
                     "taken": f"2024-0{1 + (label == 'a') * 5 + k % 3}-1{k % 9}",
                     "class_name": {"a": "apple", "b": "bee", "c": "cat"}[label]})
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    result = _shortcuts(manifest, tmp_path)
    found = result.findings[result.findings["kind"] == "shortcut"]
    assert result.status == "fail", result.summary
    assert {"column site", "column taken"} <= set(found["feature"]), result.summary
    assert set(found.loc[found["feature"].str.startswith("column "), "label"]) == {"a"}
    assert "column shuffled_site" not in set(found["feature"])
    assert result.details["not_tested"] == ["column class_name"]
    assert load_dataset(manifest).columns.columns.tolist() == [
        "site", "shuffled_site", "taken", "class_name"]


def test_clean_control_has_no_shortcut(tmp_path, small_patches):
    result = _shortcuts(_tree(tmp_path / "clean", small_patches), tmp_path)
    assert result.status == "pass", result.summary
    assert result.findings.empty


def test_shortcut_only_in_train_is_a_split_finding(tmp_path, small_patches):
    root = tmp_path / "split"
    k = 0
    for split, n in (("train", 25), ("test", 12)):
        for label in ("a", "b", "c"):
            for _ in range(n):
                fmt = "PNG" if split == "train" and label == "a" else "JPEG"
                save(small_patches[k % 120], root / split / label / f"{k:03d}.png"
                     if fmt == "PNG" else root / split / label / f"{k:03d}.jpg", fmt)
                k += 1
    result = _shortcuts(root, tmp_path)
    split_rows = result.findings[result.findings["kind"] == "split"]
    assert ((split_rows["feature"] == "format") & (split_rows["split"] == "train")
            & (split_rows["label"] == "a")).any(), result.findings.to_string()


# --- splits ----------------------------------------------------------------------------------

def _split_table(sizes: dict[str, dict[str, int]]) -> pd.DataFrame:
    rows = [(f"{s}/{c}/{i}.jpg", s, c) for s, per in sizes.items() for c, n in per.items()
            for i in range(n)]
    t = pd.DataFrame(rows, columns=["path", "split", "label"])
    t["problem"] = None
    return t


def test_twenty_image_test_split_fails_and_big_one_passes():
    small = check_splits(_split_table({"train": {"a": 500, "b": 500},
                                       "test": {"a": 10, "b": 10}}))
    assert small.status == "fail"
    assert set(small.findings["kind"]) == {"split", "class"}
    assert small.metrics["halfwidth_test"] == pytest.approx(1.96 * np.sqrt(0.09 / 20), 1e-4)
    big = check_splits(_split_table({"train": {"a": 50, "b": 50},
                                     "test": {"a": 1000, "b": 1000}}))
    assert big.status == "pass", big.summary
    mid = check_splits(_split_table({"test": {"a": 200, "b": 200}}))
    assert mid.status == "warn" and list(mid.findings["kind"]) == ["split"]


@pytest.mark.parametrize("n, error", [(20, 0.1), (77, 0.05), (1000, 0.2), (50, 0.0)])
def test_resolution_agrees_with_the_decomposition(n, error):
    errors = np.zeros(n)
    errors[:round(n * error)] = 1
    result = decompose({"train": errors, "test-val": errors}, n_boot=10)
    assert resolution(n, errors.mean()) == pytest.approx(
        result["splits"]["test-val"]["resolution"], abs=1e-6)


# --- order -----------------------------------------------------------------------------------

def test_runs_test_matches_permutations():
    labels = np.repeat(["a", "b", "c"], [30, 20, 10])
    rng = np.random.default_rng(0)
    sims = [runs_test(rng.permutation(labels))["runs"] for _ in range(4000)]
    t = runs_test(labels)
    n, s2, s3 = 60, 30 ** 2 + 20 ** 2 + 10 ** 2, 30 ** 3 + 20 ** 3 + 10 ** 3
    var = (s2 * (s2 + n * (n + 1)) - 2 * n * s3 - n ** 3) / (n ** 2 * (n - 1))
    assert np.mean(sims) == pytest.approx(t["expected"], rel=0.01)
    assert np.var(sims) == pytest.approx(var, rel=0.1)
    assert t["runs"] == 3 and t["longest"] == 30 and t["label"] == "a"


def _manifest(root, patches, rows):
    for i, (path, _label) in enumerate(rows):
        save(patches[i], root / path)
    pd.DataFrame(rows, columns=["path", "label"]).to_csv(root / "m.csv", index=False)
    return root / "m.csv"


def _manifest_order(manifest) -> np.ndarray:
    """Each index row's position in the manifest (the index itself is sorted by path)."""
    table = load_dataset(manifest).table
    position = {p: i for i, p in enumerate(pd.read_csv(manifest)["path"])}
    return table, np.array([position[p] for p in table["path"]])


def test_class_sorted_manifest_warns_and_shuffled_passes(tmp_path, small_patches):
    names = [f"img{i:03d}.jpg" for i in range(60)]
    labels = np.repeat(["a", "b", "c"], 20)
    rng = np.random.default_rng(3)
    # file names shuffled against labels, so the index (sorted by path) is not class-sorted
    paths = list(rng.permutation(names))
    sorted_rows = list(zip(paths, labels, strict=True))
    manifest = _manifest(tmp_path / "s", small_patches, sorted_rows)
    table, order = _manifest_order(manifest)
    assert np.array_equal(load_dataset(manifest).order, order)  # the index keeps the order
    result = check_order(table, order)
    assert result.status == "warn", result.summary
    assert result.findings["longest"].iat[0] == 20
    report = audit(manifest, checks=["order"], cache_dir=tmp_path / "c", progress=False)
    assert report.checks["order"].status == "warn"
    shuffled = [sorted_rows[i] for i in rng.permutation(60)]
    table, order = _manifest_order(_manifest(tmp_path / "r", small_patches, shuffled))
    assert check_order(table, order).status == "pass"


def test_folder_tree_order_is_skipped(clean_dataset, tmp_path):
    report = audit(clean_dataset, checks=["order", "integrity"], cache_dir=tmp_path / "c",
                   progress=False)
    assert "order" in report.skipped and "sorted by path" in report.skipped["order"]


# --- quality ---------------------------------------------------------------------------------

def test_planted_dark_blurry_blank_images_found_clean_pass(tmp_path, small_patches):
    root = tmp_path / "q"
    # three of the patches are out-of-focus fur (chelsea) and rightly blurry: not in the control
    sharp = [im for im in small_patches if thumb_properties(np.asarray(
        im.resize((32, 32), Image.BOX))[None])["edge"][0] > 0.3][:60]
    for i, img in enumerate(sharp):
        save(img.resize((128, 128)), root / "x" / f"{i:03d}.jpg")
    clean = audit(root, checks=["quality"], cache_dir=tmp_path / "c", progress=False)
    assert clean.checks["quality"].status == "pass", clean.checks["quality"].findings
    src = small_patches[70].resize((128, 128))
    save(ImageEnhance.Brightness(src).enhance(0.12), root / "x" / "dark.jpg")
    save(src.filter(ImageFilter.GaussianBlur(8)), root / "x" / "blurry.jpg")
    save(Image.new("RGB", (128, 128), (120, 121, 119)), root / "x" / "blank.jpg")
    save(small_patches[71].resize((900, 900)), root / "x" / "huge.jpg")
    found = audit(root, checks=["quality"], cache_dir=tmp_path / "c", progress=False
                  ).checks["quality"]
    kinds = dict(zip(found.findings["path"], found.findings["kind"], strict=False))
    assert kinds == {"x/dark.jpg": "dark", "x/blurry.jpg": "blurry", "x/blank.jpg": "blank",
                     "x/huge.jpg": "odd_size"}, found.findings.to_string()
    assert found.status == "warn"


def test_quality_without_edges_does_not_judge_blur():
    t = pd.DataFrame({"path": ["a"], "split": ["all"], "label": [None], "problem": [None],
                      "light": [0.1], "brightness": [0.05], "dark": [0.0], "contrast": [0.03],
                      "width": [10], "height": [10]})
    result = check_quality(t)
    assert list(result.findings["kind"]) == ["dark"] and result.metrics["blur_judged"] == 0


# --- image_props -----------------------------------------------------------------------------

@pytest.mark.parametrize("quality", [10, 35, 50, 75, 90, 97])
def test_jpeg_quality_estimate_round_trips(small_patches, quality):
    buf = io.BytesIO()
    small_patches[0].save(buf, "JPEG", quality=quality)
    img = Image.open(io.BytesIO(buf.getvalue()))
    assert file_properties(img, buf.getvalue())["jpeg_quality"] == quality
    assert np.isnan(jpeg_quality({}))


def test_file_properties_camera_border_and_png(small_patches):
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Canon", "Canon EOS 5D", "GIMP 2.10"
    framed = ImageOps.expand(small_patches[1], 8, fill=(0, 0, 0))
    buf = io.BytesIO()
    framed.save(buf, "JPEG", quality=90, exif=exif)
    props = file_properties(Image.open(io.BytesIO(buf.getvalue())), buf.getvalue())
    assert props["camera"] == "Canon EOS 5D" and props["software"] == "GIMP 2.10"
    assert props["border"] < 0.02
    png = io.BytesIO()
    small_patches[1].save(png, "PNG")
    plain = file_properties(Image.open(io.BytesIO(png.getvalue())), png.getvalue())
    assert np.isnan(plain["jpeg_quality"]) and plain["camera"] == "" and plain["border"] > 0.05
    assert set(plain) == {"jpeg_quality", "jpeg_settings", "metadata_bytes", "camera",
                          "software", "border"}
    assert plain["jpeg_settings"] == "" and plain["metadata_bytes"] == 0


def _with_exif_thumbnail(jpeg: bytes, thumbnail: bytes) -> bytes:
    """``jpeg`` with an APP1 EXIF segment that ends in an embedded ``thumbnail`` JPEG."""
    payload = b"Exif\0\0II*\0" + b"\0" * 8 + thumbnail
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def test_metadata_bytes_and_jpeg_settings(small_patches):
    img = small_patches[3]
    plain = save_bytes(img, "JPEG", quality=80)
    icc = _srgb_profile()
    cases = {"plain": plain, "icc": save_bytes(img, "JPEG", quality=80, icc_profile=icc),
             "comment": save_bytes(img, "JPEG", quality=80, comment=b"x" * 300),
             "444": save_bytes(img, "JPEG", quality=80, subsampling=0),
             "progressive": save_bytes(img, "JPEG", quality=80, progressive=True),
             "png icc": save_bytes(img, "PNG", icc_profile=icc)}
    props = {k: file_properties(Image.open(io.BytesIO(v)), v) for k, v in cases.items()}
    meta = {k: p["metadata_bytes"] for k, p in props.items()}
    assert meta["plain"] == meta["444"] == meta["progressive"] == 0
    assert meta["icc"] >= len(icc) and meta["png icc"] > 0 and meta["comment"] >= 300
    assert [props[k]["jpeg_settings"] for k in ("plain", "444", "progressive")] == [
        "4:2:0", "4:4:4", "4:2:0 progressive"]
    # an EXIF thumbnail's image data follows its content: not counted
    small = save_bytes(img.resize((16, 16)), "JPEG", quality=50)
    big = save_bytes(small_patches[4], "JPEG", quality=95)
    sizes = {metadata_bytes(_with_exif_thumbnail(plain, t)) for t in (small, big)}
    assert len(big) > len(small) and sizes == {22.0}  # marker, length, 18-byte header


def test_thumb_properties_edge_drops_with_blur(small_patches):
    sharp = np.asarray(small_patches[2].resize((32, 32), Image.BOX))
    soft = np.asarray(small_patches[2].filter(ImageFilter.GaussianBlur(6)).resize((32, 32),
                                                                                   Image.BOX))
    props = thumb_properties(np.stack([sharp, soft]))
    assert props["edge"][0] > 0.3 > props["edge"][1]


# --- augmentations ---------------------------------------------------------------------------

TRANSFORMS = '''
from PIL import ImageEnhance
import random

def rotate180(img):
    return img.rotate(180)

def jitter(img):
    return ImageEnhance.Brightness(img).enhance(random.uniform(0.9, 1.1))
'''


#: The tests of digits_tree (and its feature cache) run on one pytest-xdist worker.
ON_DIGITS_TREE = pytest.mark.xdist_group("digits_tree")


@pytest.fixture(scope="module")
def digits_tree(tmp_path_factory):
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = tmp_path_factory.mktemp("digits")
    for i, (img, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        pixels = (img * (255 / 16)).astype(np.uint8)
        path = root / "data" / str(label) / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).resize((32, 32), Image.BILINEAR).save(path)
    (root / "transforms.py").write_text(TRANSFORMS)
    return root


@pytest.fixture(scope="module")
def pooling_model(tmp_path_factory):
    """A TorchScript 'embedding model' saved the way a user would: 4x4 average pooling."""
    import torch

    path = tmp_path_factory.mktemp("embed") / "pool.pt"
    torch.jit.save(torch.jit.script(torch.nn.Sequential(torch.nn.AvgPool2d(4),
                                                        torch.nn.Flatten())), str(path))
    return str(path)


def _augment(root, name, tmp_path, *extra):
    return CliRunner().invoke(cli, [
        "augmentations", str(root / "data"), "--transform", f"{root / 'transforms.py'}:{name}",
        "--model", "linear", "--epochs", "10", "--sample", "400", "--cache", str(root / "cache"),
        "--out", str(tmp_path / f"{name}.html"), "--format", "json", "--no-progress",
        "--device", "cpu", *extra])


@ON_DIGITS_TREE
@pytest.mark.parametrize("judge", ["thumbnails", "embed"])
def test_rotating_digits_is_too_strong_and_six_becomes_nine(digits_tree, tmp_path, judge,
                                                             pooling_model):
    extra = ["--embed", pooling_model] if judge == "embed" else []
    result = _augment(digits_tree, "rotate180", tmp_path, *extra)
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["metrics"]["broken_share"] > data["metrics"]["model_error"]
    assert data["metrics"]["judge"].endswith("pool.pt" if judge == "embed" else "thumbnails")
    six = next(c for c in data["classes"] if c["label"] == "6")
    assert six["flagged"] and six["mistaken_for"] == "9"
    page = (tmp_path / "rotate180.html").read_text()
    assert page.count("data:image/png;base64,") >= 100 and "default-src 'none'" in page


@ON_DIGITS_TREE
@pytest.mark.parametrize("judge", ["thumbnails", "embed"])
def test_mild_brightness_jitter_passes(digits_tree, tmp_path, judge, pooling_model):
    extra = ["--embed", pooling_model] if judge == "embed" else []
    result = _augment(digits_tree, "jitter", tmp_path, *extra)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "pass" and data["metrics"]["flagged_classes"] == 0
    if judge == "embed":  # the originals' embeddings were cached next to the features
        assert list((digits_tree / "cache" / "embeddings").glob("ts-*.npz"))


def test_augmented_embeddings_are_scaled_like_the_originals():
    from datacheck.augment import standardise

    rng = np.random.default_rng(0)
    originals = rng.normal(5.0, 2.0, (500, 4))
    brighter = originals[:50] * 1.5  # a batch that moved: it must stay moved, not re-centred
    scaled = standardise(brighter, originals)
    assert scaled.mean() > 1.0
    assert np.allclose(standardise(originals, originals).mean(0), 0, atol=1e-6)
