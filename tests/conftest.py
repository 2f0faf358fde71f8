"""Shared fixtures: real photos bundled with scikit-image / scikit-learn, written to tmp dirs."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata
from sklearn.datasets import load_sample_image

#: Every check but label_noise: the fixtures' labels are arbitrary (patches of random photos),
#: so a model could not learn them; label noise has its own tests on digits.
NO_MODEL = ["integrity", "duplicates", "leakage", "balance", "shift"]

PHOTO_NAMES = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
               "hubble_deep_field", "camera", "brick", "grass", "gravel"]


def source_photos() -> dict[str, Image.Image]:
    photos = {n: Image.fromarray(getattr(skdata, n)()).convert("RGB") for n in PHOTO_NAMES}
    for name in ("china.jpg", "flower.jpg"):
        photos[name.split(".")[0]] = Image.fromarray(load_sample_image(name))
    return photos


def distinct_patches(n: int, size: int = 128, seed: int = 0) -> list[Image.Image]:
    """n visually distinct patches: non-overlapping, textured cells of different photos."""
    rng = np.random.default_rng(seed)
    cells = []
    for photo in source_photos().values():
        gray = np.asarray(photo.convert("L"), dtype=np.float32)
        for y in range(0, photo.height - size + 1, size):
            for x in range(0, photo.width - size + 1, size):
                if gray[y:y + size, x:x + size].std() >= 20:
                    cells.append(photo.crop((x, y, x + size, y + size)))
    assert len(cells) >= n, f"only {len(cells)} patches available"
    return [cells[k] for k in rng.choice(len(cells), n, replace=False)]


def save(img: Image.Image, path: Path, fmt: str | None = None, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = fmt or ("PNG" if path.suffix.lower() == ".png" else "JPEG")
    if fmt == "JPEG":
        kw.setdefault("quality", 92)
    img.save(path, fmt, **kw)
    return path


def jpeg_bytes(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@pytest.fixture(scope="session")
def patches() -> list[Image.Image]:
    return distinct_patches(60)


@pytest.fixture
def clean_dataset(tmp_path, patches) -> Path:
    """train/val/test, three classes, no copies anywhere."""
    root = tmp_path / "clean"
    layout = {"train": 8, "val": 4, "test": 4}
    k = 0
    for split, per_class in layout.items():
        for label in ("a", "b", "c"):
            for _ in range(per_class):
                save(patches[k], root / split / label / f"img{k:03d}.jpg")
                k += 1
    return root


def require_dvc() -> None:
    """Skip unless DVC is installed (``make test`` installs it); DVC never phones home."""
    if shutil.which("dvc") is None and not (Path(sys.executable).parent / "dvc").exists():
        pytest.skip("dvc is not installed in this environment (make test installs it)")
    os.environ["DVC_NO_ANALYTICS"] = "1"


# -- real Chromium (the HTML report and the review page are tested in it) -------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--hide-scrollbars"]


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    exe = _find_chromium()
    if exe is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        try:
            subprocess.run(["apt-get", "install", "-y", "chromium"], capture_output=True,
                           timeout=600, check=False,
                           env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        except (OSError, subprocess.SubprocessError):
            pass
        exe = _find_chromium()
    if exe is None:
        pytest.skip("no Chromium: none of chromium, chromium-browser, google-chrome is on PATH "
                    "and `apt-get install -y chromium` was not possible (needs root) or failed")
    return exe


class Page(HTMLParser):
    """Every start tag with its attributes, and the text, of an HTML document."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.text.append(data)

    def images(self) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == "img"]
