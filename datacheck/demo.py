"""A small real-image dataset with planted problems, built from photos that ship with
scikit-image and scikit-learn, and audited end to end (``datacheck demo``, ``make demo``).

Classes are scenes and textures; each image is a patch cut from a distinct place of one photo.
Planted: exact duplicates inside train, six kinds of copies of training images in test
(byte copy, JPEG q=50, resized to 50%, brightened 10%, PNG, centre crop 4%), six train-val
images filed under a wrong class (label errors; the file name keeps the true class), an
under-represented class, a truncated JPEG, a file that is not an image, and a shortcut: every
image of one class is saved at another JPEG quality (as if it came from another source), so the
label can be read off the file.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from .errors import BadInputError

MARKER = ".datacheck-demo"
#: class name -> loader of the source photo (all bundled, nothing downloaded).
SOURCES = {
    "brick": lambda: _skimage("brick"),
    "grass": lambda: _skimage("grass"),
    "gravel": lambda: _skimage("gravel"),
    "coffee": lambda: _skimage("coffee"),
    "astronaut": lambda: _skimage("astronaut"),
    "rocket": lambda: _skimage("rocket"),
    "hubble": lambda: _skimage("hubble_deep_field"),
    "cells": lambda: _skimage("immunohistochemistry"),
    "camera": lambda: _skimage("camera"),
    "china": lambda: _sklearn("china.jpg"),
    "flower": lambda: _sklearn("flower.jpg"),
}
PATCH = 80
PER_CLASS = 40
MIN_CONTRAST = 12.0
SPLIT_SHARES = {"train": 0.4, "train-val": 0.2, "test-val": 0.2, "test": 0.2}
RARE_CLASS, RARE_TRAIN = "rocket", 6
#: images filed under a wrong class (label errors for the label_noise check to find)
MISLABELLED = 6
#: JPEG quality of the demo's images, and of the class that carries the planted shortcut.
QUALITY, SHORTCUT_CLASS, SHORTCUT_QUALITY = 90, "coffee", 70


def _skimage(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def _sklearn(name: str) -> Image.Image:
    from sklearn.datasets import load_sample_image

    return Image.fromarray(load_sample_image(name)).convert("RGB")


def _patches(photo: Image.Image, rng: np.random.Generator) -> list[Image.Image]:
    """Up to PER_CLASS patches from grid cells that do not overlap; featureless cells (sky,
    background) are skipped, since two blank patches are rightly near duplicates."""
    gray = np.asarray(photo.convert("L"), dtype=np.float32)
    cells = [(x, y) for y in range(0, photo.height - PATCH + 1, PATCH)
             for x in range(0, photo.width - PATCH + 1, PATCH)
             if gray[y:y + PATCH, x:x + PATCH].std() >= MIN_CONTRAST]
    keep = sorted(rng.choice(len(cells), min(PER_CLASS, len(cells)), replace=False))
    return [photo.crop((x, y, x + PATCH, y + PATCH)) for x, y in (cells[k] for k in keep)]


def build_demo(folder: str | Path, *, seed: int = 0) -> dict[str, list[str]]:
    """Write the demo dataset under ``folder``; return the planted problems by kind."""
    root = Path(folder)
    if root.exists() and any(root.iterdir()) and not (root / MARKER).exists():
        raise BadInputError(f"{root} exists and is not a datacheck demo; choose another folder")
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / MARKER).write_text("built by `datacheck demo`; safe to delete\n")
    rng = np.random.default_rng(seed)
    files: dict[str, list[Path]] = {s: [] for s in SPLIT_SHARES}
    for label, load in SOURCES.items():
        patches = _patches(load(), rng)
        order = rng.permutation(len(patches))
        cuts = np.cumsum([int(round(share * len(patches))) for share in SPLIT_SHARES.values()])
        for k, index in enumerate(order):
            split = list(SPLIT_SHARES)[min(int(np.searchsorted(cuts, k, side="right")), 3)]
            if label == RARE_CLASS and split == "train" and \
                    sum(p.parent.name == label for p in files["train"]) >= RARE_TRAIN:
                continue
            path = root / split / label / f"{label}_{index:03d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            quality = SHORTCUT_QUALITY if label == SHORTCUT_CLASS else QUALITY
            patches[index].save(path, "JPEG", quality=quality)
            files[split].append(path)
    planted = _plant(root, files, rng)
    planted["label_noise"] = _mislabel(root, files["train-val"][1:], rng)
    planted["shortcuts"] = [f"{SHORTCUT_CLASS}: every image saved at JPEG quality "
                            f"{SHORTCUT_QUALITY} (the others {QUALITY})"]
    return planted


def _plant(root: Path, files: dict[str, list[Path]], rng) -> dict[str, list[str]]:
    planted: dict[str, list[str]] = {"duplicates": [], "leakage": [], "integrity": []}
    train = [p for p in files["train"] if p.parent.name != RARE_CLASS]
    picks = [train[k] for k in rng.choice(len(train), 9, replace=False)]
    for src in picks[:3]:
        copy = src.with_name(src.stem + "_copy.jpg")
        shutil.copyfile(src, copy)
        planted["duplicates"].append(copy.relative_to(root).as_posix())
    edits = {
        "bytecopy": lambda im: (im, "JPEG", {"quality": QUALITY}, None),
        "jpeg50": lambda im: (im, "JPEG", {"quality": 50}, None),
        "half": lambda im: (im.resize((im.width // 2, im.height // 2)), "JPEG",
                            {"quality": QUALITY}, None),
        "bright": lambda im: (ImageEnhance.Brightness(im).enhance(1.1), "JPEG",
                              {"quality": QUALITY}, None),
        "png": lambda im: (im, "PNG", {}, ".png"),
        "crop": lambda im: (im.crop((2, 2, im.width - 2, im.height - 2)), "JPEG",
                            {"quality": QUALITY}, None),
    }
    for src, (name, edit) in zip(picks[3:], edits.items(), strict=False):
        target = root / "test" / src.parent.name / f"{src.stem}_{name}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        if name == "bytecopy":
            shutil.copyfile(src, target)
        else:
            img, fmt, kw, suffix = edit(Image.open(src).convert("RGB"))
            if suffix:
                target = target.with_suffix(suffix)
            img.save(target, fmt, **kw)
        planted["leakage"].append(target.relative_to(root).as_posix())
    victim = files["train-val"][0]
    broken = victim.with_name("truncated.jpg")
    broken.write_bytes(victim.read_bytes()[: victim.stat().st_size // 3])
    note = victim.with_name("notes.txt")
    note.write_text("not an image\n")
    planted["integrity"] = [broken.relative_to(root).as_posix(), note.relative_to(root).as_posix()]
    return planted


def _mislabel(root: Path, candidates: list[Path], rng) -> list[str]:
    """File ``MISLABELLED`` images under another class's folder (neither the rare nor the
    shortcut class, whose JPEG quality would give the move away); return their new paths."""
    classes = [c for c in SOURCES if c not in (RARE_CLASS, SHORTCUT_CLASS)]
    eligible = [p for p in candidates if p.parent.name in classes]
    moved = []
    for k in rng.choice(len(eligible), MISLABELLED, replace=False):
        src = eligible[k]
        wrong = rng.choice([c for c in classes if c != src.parent.name])
        target = src.parent.parent / wrong / src.name
        src.rename(target)
        moved.append(target.relative_to(root).as_posix())
    return sorted(moved)


def run_demo(folder: str | Path, *, seed: int = 0, progress: bool = True) -> None:
    """Build the demo under FOLDER/data, audit it, write reports to FOLDER/report."""
    from rich.console import Console

    from .audit import audit
    from .report.text import print_summary

    base = Path(folder)
    base.mkdir(parents=True, exist_ok=True)
    data = base / "data"
    planted = build_demo(data, seed=seed)
    console = Console(highlight=False)
    console.print(f"built {data} from photos bundled with scikit-image and scikit-learn; "
                  f"planted {sum(len(v) for v in planted.values())} problems", markup=False)
    report = audit(data, progress=progress)
    print_summary(report.to_dict(), console)
    paths = report.write(base / "report")
    console.print("reports: " + ", ".join(str(p) for p in paths.values()), markup=False)


def encode(img: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()
