"""Small images (<= 64 px): re-cropped, shifted, rescaled, recoloured and mirrored copies of real
photo crops are found after alignment; distinct images are not paired; crowds of look-alikes
switch to the unaligned test."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageEnhance, ImageOps
from sklearn.datasets import load_digits

from datacheck import audit
from datacheck.features.variants import trim_boxes
from datacheck.matching import small_copies, small_frames
from datacheck.matching.neighbors import hamming_pairs
from datacheck.matching.similar import _gray
from tests.helpers import distinct_patches, save

#: Planted kind -> edit of a 32x32 image (the copy stays 32x32, as in CIFAR).
EDITS = {
    "shift2": lambda im: im.crop((2, 0, 32, 32)).resize((32, 32), Image.BICUBIC),
    "recrop": lambda im: im.crop((1, 2, 30, 31)).resize((32, 32), Image.BICUBIC),
    "zoom": lambda im: im.crop((2, 2, 30, 30)).resize((32, 32), Image.BICUBIC),
    "mirror": ImageOps.mirror,
    "recolour": lambda im: ImageEnhance.Color(ImageEnhance.Brightness(im).enhance(0.8))
    .enhance(1.6),
}


def _small_photos(n: int) -> list[Image.Image]:
    """n distinct 32x32 crops of real photos (textured, non-overlapping cells)."""
    return [p.resize((32, 32), Image.BOX) for p in distinct_patches(n, size=96, seed=5)]


def test_small_copies_are_found_after_alignment(tmp_path):
    images = _small_photos(60)
    root = tmp_path / "data"
    for k, img in enumerate(images[:50]):
        save(img, root / "train" / "c" / f"t{k:02d}.png")
    for k, img in enumerate(images[50:]):
        save(img, root / "test" / "c" / f"u{k:02d}.png")  # distinct test images
    expected = set()
    for k, (kind, edit) in enumerate(EDITS.items()):
        copy = f"test/c/{kind}.jpg"
        save(edit(images[k]), root / copy, quality=75)
        expected.add((f"train/c/t{k:02d}.png", copy))
    report = audit(root, checks=["leakage"], cache_dir=tmp_path / "c", progress=False,
                   workers=1)
    leaks = report.checks["leakage"].findings
    found = {(r.a, r.b): r.transform for r in leaks.itertuples()}
    assert set(found) == expected, (set(found) - expected, expected - set(found))
    assert found[("train/c/t03.png", "test/c/mirror.jpg")] == "mirrored"
    # the unaligned test alone finds none of the shifted or mirrored ones
    plain = audit(root, checks=["leakage"], cache_dir=tmp_path / "c", progress=False,
                  workers=1, small_alignment=False)
    plain_found = set(zip(plain.checks["leakage"].findings["a"],
                          plain.checks["leakage"].findings["b"]))
    assert not {p for p in plain_found if "shift2" in p[1] or "mirror" in p[1]}


def test_a_crowd_of_look_alikes_is_verified_unaligned(tmp_path):
    """Handwritten digits (sklearn's 8x8 scans, drawn at 28x28) collide in hash space: the
    dataset is crowded, so the strict unaligned test decides and different digits of one
    class are not reported; a re-encoded copy still is."""
    digits = load_digits()
    pick = np.random.default_rng(0).choice(len(digits.images), 1000, replace=False)
    gray = np.stack([np.asarray(Image.fromarray((digits.images[k] * 16).astype(np.uint8))
                                .resize((28, 28), Image.BICUBIC), dtype=np.float32)
                     for k in pick])
    thumbs = np.stack([np.asarray(Image.fromarray(g, "F").resize((32, 32), Image.BOX))
                       for g in gray])  # what the scan keeps: 32x32 thumbnails
    codes = small_copies.codes(thumbs)
    a, b, _ = hamming_pairs(codes[:, 0], 10)
    assert small_copies.crowded(len(a), len(gray))
    root = tmp_path / "digits"
    for n, k in enumerate(pick):
        split = "train" if n < 800 else "test"
        img = Image.fromarray(gray[n].astype(np.uint8))
        save(img, root / split / str(digits.target[k]) / f"d{n:03d}.png")
    source = root / "train" / str(digits.target[pick[0]]) / "d000.png"
    save(Image.open(source), root / "test" / str(digits.target[pick[0]]) / "copy.jpg",
         quality=90)
    report = audit(root, checks=["leakage"], cache_dir=tmp_path / "c", progress=False,
                   workers=1)
    leaks = report.checks["leakage"].findings
    assert (f"train/{digits.target[pick[0]]}/d000.png",
            f"test/{digits.target[pick[0]]}/copy.jpg") in set(zip(leaks["a"], leaks["b"]))
    assert len(leaks) <= 3, leaks  # sklearn's digits hold a few real duplicates, not dozens


def _framed(img: Image.Image, colour, inner: int = 24, at=(4, 4)) -> Image.Image:
    canvas = Image.new("RGB", (32, 32), colour)
    canvas.paste(img.resize((inner, inner), Image.LANCZOS), at)
    return canvas


def _speckled(img: Image.Image, seed: int) -> Image.Image:
    """``img`` with grey specks on 15% of its outermost ring: a frame the border search does
    not see (as JPEG blur or a scanner's edge hides one)."""
    px = np.asarray(img).copy()
    ring = np.zeros(px.shape[:2], bool)
    ring[0, :] = ring[-1, :] = ring[:, 0] = ring[:, -1] = True
    px[ring & (np.random.default_rng(seed).random(ring.shape) < 0.15)] = 128
    return Image.fromarray(px)


def test_frames_do_not_make_different_pictures_copies(tmp_path):
    """Different pictures in one plain frame (white, black; even or not; one frame unseen)
    are not paired, as their frames dominate the thumbnails; a framed copy of a picture is,
    named ``framed``, whichever of the two is framed."""
    # textured crops only: two patches of sky with a dark corner are alike, framed or not
    images = [im for im in _small_photos(80) if np.asarray(im.convert("L")).std() > 25]
    # lit pictures (a dark sky with one star is like any other, frame or not)
    unseen = [im for im in images[50:] if np.asarray(im.convert("L")).mean() > 80][:2]
    root = tmp_path / "data"
    for k, img in enumerate(images[:20]):
        save(img, root / "train" / "c" / f"t{k:02d}.png")
    for k, img in enumerate(images[20:44]):  # different pictures, framed alike, both splits
        colour = [(255, 255, 255), (0, 0, 0)][k % 2]
        at = (4, 4) if k % 4 < 2 else (2, 5)
        save(_framed(img, colour, at=at), root / ("train", "test")[k % 3 == 0] / "f" /
             f"f{k:02d}.jpg", quality=75)
    for k, img in enumerate(unseen):  # a white and a black frame left unseen, as in train/f
        save(_speckled(_framed(img, [(255, 255, 255), (0, 0, 0)][k]), k),
             root / "test/u" / f"u{k}.jpg", quality=75)
    save(_framed(images[0], (255, 255, 255), inner=26, at=(3, 2)), root / "test/c/copy0.png")
    save(_framed(images[44], (128, 128, 128)), root / "train/c/framed44.png")
    save(images[44], root / "test/c/plain44.jpg", quality=75)
    report = audit(root, checks=["leakage", "duplicates"], cache_dir=tmp_path / "c",
                   progress=False, workers=1)
    leaks = report.checks["leakage"].findings
    found = {(r.a, r.b): r.transform for r in leaks.itertuples()}
    assert found == {("train/c/t00.png", "test/c/copy0.png"): "framed",
                     ("train/c/framed44.png", "test/c/plain44.jpg"): "framed"}, found
    clusters = report.checks["duplicates"].findings
    assert clusters.empty, clusters["paths"].tolist()


def test_a_frame_one_pixel_wide_is_cut_from_the_window():
    """A frame 1 px wide on one side (JPEG blurs it into the picture, and the border search
    often leaves it) is cut from a framed picture's window all the same, to within 0.6 px of
    the picture's edge."""
    pictures = [im.resize((24, 24), Image.BOX) for im in _small_photos(40)
                if np.asarray(im.convert("L")).std() > 25][:8]
    thumbs = []
    for k, picture in enumerate(pictures):
        framed = _framed(picture, [(255, 255, 255), (0, 0, 0)][k % 2], at=(1, 4))
        buffer = io.BytesIO()
        framed.save(buffer, "JPEG", quality=75)
        thumbs.append(np.asarray(Image.open(buffer).convert("RGB")))
    gray = _gray(np.stack(thumbs))
    framed, _, _, boxes = small_frames.frames(gray)
    assert framed.all()
    trimmed = trim_boxes(np.clip(gray, 0, 255).astype(np.uint8))
    assert (trimmed[:, 2] == 0).sum() >= 2  # the 1-px side the border search left, in some
    truth = np.array([4, 28, 1, 25]) / 32  # y0, y1, x0, x1 of the picture
    assert (np.abs(boxes[:, 2] - truth[2]) * 32 <= 0.6).all(), boxes * 32
    # every side: the trim, or at most MAX_BLEND + 1 px inside it
    inward = (boxes - trimmed) * np.array([1, -1, 1, -1]) * 32
    assert ((inward >= 0) & (inward <= small_frames.MAX_BLEND + 1)).all(), inward


def test_the_verification_reuses_what_the_search_read():
    """The grey thumbnails and frames the small images' search computed (frames held without
    their windows) are what the verification would compute itself: for a mix of rows, some
    read by the search (one of them framed) and some not; every row read: the search's own
    arrays."""
    from datacheck.matching.copies import _grays

    pictures = _small_photos(12)
    pictures[3] = _framed(pictures[3], (255, 255, 255))
    thumbs = np.stack([np.asarray(im) for im in pictures])
    small_rows = np.array([1, 3, 5, 7, 9])
    gray = _gray(thumbs[small_rows])
    framed, _, scale, boxes = small_frames.frames(gray)
    seen = (small_rows, gray, (framed, None, scale, boxes))
    rows = np.array([0, 3, 5, 8, 11])
    got_rows, got_gray, got_frames = _grays(rows, lambda r: thumbs[r], seen)
    assert np.array_equal(got_rows, rows)
    assert np.array_equal(got_gray, _gray(thumbs[rows]))
    expected = small_frames.frames(_gray(thumbs[rows]))
    assert expected[0].tolist() == [False, True, False, False, False]
    assert got_frames[1] is None
    got_windows = small_frames.windowed(got_gray, got_frames[0], got_frames[3])
    small = np.isin(rows, small_rows)
    for got, want in zip((got_frames[0], got_windows, *got_frames[2:]), expected, strict=True):
        assert np.array_equal(got[small], want[small])
    again = _grays(np.array([3, 9]), lambda r: thumbs[r], seen)
    assert again[0] is small_rows and again[1] is gray
