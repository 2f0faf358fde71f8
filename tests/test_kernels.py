"""The scan's numba kernels against plain numpy versions of the same measures, on real photos
(scikit-image / scikit-learn), their 32x32 thumbnails, and images made to hit the kernels'
special cases (flat, bordered, letterboxed, a single bright pixel)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from datacheck.features import image_props, variants
from tests.helpers import source_photos


def _images() -> dict[str, np.ndarray]:
    """H x W x 3 uint8 images: photos at full size and as 32x32 and 61x47 thumbnails, plus
    the special cases."""
    out, photos = {}, source_photos()
    for name, photo in photos.items():
        out[name] = np.asarray(photo)
        out[f"{name}-32"] = np.asarray(photo.resize((32, 32), Image.BOX))
        out[f"{name}-61x47"] = np.asarray(photo.resize((61, 47), Image.BILINEAR))
    china = np.asarray(photos["china"].resize((120, 90)))
    out["flat"] = np.full((32, 32, 3), 77, np.uint8)
    out["dot"] = np.zeros((32, 32, 3), np.uint8)
    out["dot"][10, 20] = 255
    framed = np.zeros((110, 140, 3), np.uint8)
    framed[10:100, 10:130] = china
    out["framed"] = framed
    boxed = np.full((150, 120, 3), 255, np.uint8)
    boxed[30:120] = china
    out["letterboxed"] = boxed
    return out


IMAGES = _images()


def _luma(px: np.ndarray) -> np.ndarray:
    return px.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _lower(x: np.ndarray, q: float) -> float:
    """The value at rank round(q * (n - 1)) of the sorted values (no interpolation)."""
    return float(np.sort(x.ravel())[int(round(q * (x.size - 1)))])


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_tone_matches_numpy(name):
    px = IMAGES[name]
    lum = np.asarray(Image.fromarray(px).convert("L"))
    got = image_props.tone(px, lum)
    grey = lum.astype(np.float64)
    want = {"brightness": grey.mean() / 255, "contrast": grey.std() / 255,
            "mean_r": px[..., 0].mean() / 255, "mean_g": px[..., 1].mean() / 255,
            "mean_b": px[..., 2].mean() / 255,
            "dark": np.quantile(grey, 0.01) / 255, "light": np.quantile(grey, 0.99) / 255,
            "saturation": (px.max(2).astype(float) - px.min(2)).mean() / 255}
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_edge_steepness_matches_numpy(name):
    px = IMAGES[name]
    lum = _luma(px)
    dx = np.abs(np.diff(lum, axis=1))[:-1, :]
    dy = np.abs(np.diff(lum, axis=0))[:, :-1]
    grad = np.hypot(dx.astype(np.float64), dy).astype(np.float32)
    low, high = _lower(lum, 0.01), _lower(lum, 0.99)
    want = 0.0 if high - low < 1.0 else _lower(grad, 0.99) / (high - low)
    assert image_props.edge_steepness(px) == pytest.approx(want, rel=1e-5, abs=1e-9)
    batch = image_props.thumb_properties(px[None])
    assert batch["edge"][0] == pytest.approx(want, rel=1e-5, abs=1e-9)
    if name in ("flat", "dot"):
        assert want == 0.0  # the dot is within the 99th percentile: no range to divide by


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_border_ring_std_matches_numpy(name):
    grey = np.asarray(Image.fromarray(IMAGES[name]).convert("L"))
    want = image_props.ring(grey.astype(np.float64)).std()
    assert image_props._ring_std(np.ascontiguousarray(grey)) == pytest.approx(want, abs=1e-6)


def _edge_cut(arr: np.ndarray, n: int) -> float:
    """The numpy version of variants._edge_cut."""
    edge = arr[0].astype(np.int16)
    ref = np.sort(edge)[len(edge) // 2]
    if np.mean(np.abs(edge - ref) <= variants.BORDER_TOL) < variants.BORDER_SHARE:
        return 0.0
    lim = max(1, int(n * variants.MAX_TRIM))
    share = np.mean(np.abs(arr[:lim].astype(np.int16) - ref) <= variants.BORDER_TOL, axis=1)
    inside = np.flatnonzero(share < variants.BORDER_SHARE)
    k = int(inside[0]) if len(inside) else lim
    return (k + 0.5) / n if k / n >= variants.MIN_TRIM else 0.0


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_trim_box_matches_numpy(name):
    g = np.asarray(Image.fromarray(IMAGES[name]).convert("L"))
    h, w = g.shape
    top, bottom, left, right = (_edge_cut(v, n) for v, n in
                                ((g, h), (g[::-1], h), (g.T, w), (g.T[::-1], w)))
    want = ((0.0, 1.0, 0.0, 1.0) if 1 - top - bottom < 0.2 or 1 - left - right < 0.2
            else (top, 1 - bottom, left, 1 - right))
    assert variants.trim_box(g) == pytest.approx(want)
    if name in ("framed", "letterboxed"):  # the planted borders are found, not just matched
        assert want != (0.0, 1.0, 0.0, 1.0)


def test_kernels_import_numba_on_first_call_only(tmp_path):
    # a command that runs no kernel (--help, a re-audit from the cache) does not pay for
    # numba's import; the first kernel call imports it, and a kernel that calls kernels of
    # another module (small_align -> warp_grid) compiles and gives the numpy answer
    script = """
import sys
import numpy as np
import datacheck.cli
from datacheck.matching import small_align, warp_grid
assert "numba" not in sys.modules, "numba imported at startup"
assert "scipy.sparse" not in sys.modules, "scipy.sparse imported at startup"
rng = np.random.default_rng(0)
a, b = rng.random(50), rng.random(50)
sa, sb, saa, sbb, sab = a.sum(), b.sum(), (a * a).sum(), (b * b).sum(), (a * b).sum()
got = warp_grid.pearson(50, sa, sb, saa, sbb, sab)
assert "numba" in sys.modules
assert abs(got - np.corrcoef(a, b)[0, 1]) < 1e-9, got
gray = rng.random((2, 32, 32))
gray[1] = gray[0]
same = warp_grid.grid_similarity(gray, np.array([0]), np.array([1]))
assert abs(same[0] - 1) < 1e-9, same
assert type(small_align.pearson).__module__.startswith("numba"), type(small_align.pearson)
print("ok")
"""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "ok"
