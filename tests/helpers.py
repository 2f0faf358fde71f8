"""Helpers the test modules share: real photos bundled with scikit-image / scikit-learn, files
written from them, the shell and the CLI in a folder, planted copies and real Chromium.

Test modules import these from here (``from tests.helpers import ...``), never from another
test module; the fixtures built on them are in conftest.py."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

#: Every check but label_noise: the fixtures' labels are arbitrary (patches of random photos),
#: so a model could not learn them; label noise has its own tests on digits.
NO_MODEL = ["integrity", "duplicates", "leakage", "balance", "shift"]

PHOTO_NAMES = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
               "hubble_deep_field", "camera", "brick", "grass", "gravel"]


def source_photos() -> dict[str, Image.Image]:
    from skimage import data as skdata
    from sklearn.datasets import load_sample_image

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


def layout_mosaics(patches: list[Image.Image], n: int, seed: int = 3) -> list[Image.Image]:
    """``n`` 256x256 mosaics, each four different 128 px patches in one 2x2 layout: images that
    share a layout, not content."""
    rng = np.random.default_rng(seed)
    mosaics = []
    for _ in range(n):
        canvas = Image.new("RGB", (256, 256))
        for t, idx in enumerate(rng.choice(len(patches), 4, replace=False)):
            canvas.paste(patches[idx], ((t % 2) * 128, (t // 2) * 128))
        mosaics.append(canvas)
    return mosaics


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


# -- planted train -> test copies ----------------------------------------------------------

#: copy kind -> (edit, suffix of the copy, save options); None: a byte copy
EDITS = {
    "bytecopy": None,
    "jpeg50": (lambda im: im, ".jpg", {"quality": 50}),
    "half": (lambda im: im.resize((im.width // 2, im.height // 2), Image.BILINEAR), ".jpg", {}),
    "crop5": (lambda im: im.crop((3, 3, im.width - 3, im.height - 3)), ".jpg", {}),
    "crop2side": (lambda im: im.crop((3, 0, im.width, im.height)), ".jpg", {}),
    "bright": (lambda im: ImageEnhance.Brightness(im).enhance(1.1), ".jpg", {}),
    "dark": (lambda im: ImageEnhance.Brightness(im).enhance(0.9), ".jpg", {}),
    "to_png": (lambda im: im, ".png", {}),
}


def plant_copies(root: Path, sources: list[Path]) -> set[tuple[str, str]]:
    """Copy training images into test with each edit; return the expected (a, b) pairs."""
    expected = set()
    for src, (kind, edit) in zip(sources, EDITS.items()):
        rel = src.relative_to(root)
        target = root / "test" / rel.parts[1] / f"{src.stem}_{kind}.jpg"
        if edit is None:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
        else:
            func, suffix, kw = edit
            target = save(func(Image.open(src).convert("RGB")), target.with_suffix(suffix), **kw)
        expected.add((rel.as_posix(), target.relative_to(root).as_posix()))
    return expected


# -- git, DVC and the CLI in a folder --------------------------------------------------------

def require_dvc() -> None:
    """Skip unless DVC is installed (``make test`` installs it); DVC never phones home."""
    if shutil.which("dvc") is None and not (Path(sys.executable).parent / "dvc").exists():
        pytest.skip("dvc is not installed in this environment (make test installs it)")
    os.environ["DVC_NO_ANALYTICS"] = "1"


def sh(cwd: Path, *args: str) -> str:
    """Run a command (git, dvc, datacheck) in ``cwd`` with the venv's tools first on PATH;
    assert it succeeds and return its stdout."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def run_cli(*args, cwd: Path):
    """``datacheck ARGS`` in-process, with ``cwd`` as the working folder."""
    from click.testing import CliRunner

    from datacheck.cli import cli

    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    finally:
        os.chdir(old)


# -- HTML pages and real Chromium ------------------------------------------------------------

#: A file name and a class name that are HTML: every page must show them as text.
HOSTILE_FILE = "<img src=x onerror=alert(1)>.jpg"
HOSTILE_LABEL = "<b onmouseover=alert(2)>x"

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--hide-scrollbars"]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def run_chromium(exe: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium with a fresh profile and HOME under ``tmp``."""
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180, check=False,
                          env={**os.environ, "HOME": str(tmp)})


def decoded_images(exe: str, tmp: Path, html: str) -> int:
    """How many images of ``html`` the browser decoded. The pages have no script (and their
    CSP forbids one), so a copy with the policy removed and a probe added reports it."""
    probe = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    probe = probe.replace("</body>", "<script>addEventListener('load', () => {"
                          "document.body.dataset.decoded = [...document.images].filter("
                          "i => i.complete && i.naturalWidth > 0).length})</script></body>")
    probe_file = tmp / "probe.html"
    probe_file.write_text(probe, encoding="utf-8")
    out = run_chromium(exe, tmp, "--dump-dom", probe_file.as_uri())
    decoded = re.search(r'data-decoded="(\d+)"', out.stdout)
    assert decoded, out.stdout[-500:]
    return int(decoded.group(1))


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
