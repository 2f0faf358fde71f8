"""Is an augmentation too strong? Does the label need to transform with the image?

``datacheck augmentations PATH --transform module:callable`` applies the user's augmentation
(PIL image -> PIL image; torchvision v2 transforms are such callables, albumentations ones are
called with ``image=`` and their dict's ``image`` taken) to a seeded sample of labelled images.
Every image gets out-of-fold class probabilities from the cross-validated model of
:mod:`learning.models`; each augmented image is scored by the fold model that never saw its
original. The *broken* share is the share of sampled images the model gets right as original
and wrong as augmented, minus the reverse (paired, so the model's own errors cancel). Rule of
thumb: it should not exceed the model's error rate on the originals. The command fails (exit 1)
when it does and a one-sided paired z-test puts the excess at p < ``ALPHA``.
Classes whose accuracy drops by at least ``CLASS_DROP`` are named with the class their
augmented images are mistaken for (digits 6 -> 9 under a 180-degree rotation: the label would
have to transform too).

With ``--embed MODEL`` (:mod:`learning.embed`) the judge is a linear probe on the model's
embeddings instead of a network trained on the thumbnails: originals are embedded through the
embedding cache, augmented images afresh, both standardised with the originals' statistics.
"""

from __future__ import annotations

import base64
import html
import importlib
import importlib.util
import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import BadInputError

ALPHA = 0.05
CLASS_DROP = 0.2
THUMB = 32


@dataclass
class AugmentationResult:
    status: str
    summary: str
    metrics: dict
    classes: list[dict] = field(default_factory=list)
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))


def load_transform(spec: str) -> Callable:
    """``package.module:callable`` or ``path/to/file.py:callable``."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise BadInputError(f"--transform {spec!r}: expected module:callable")
    try:
        if module_name.endswith(".py"):
            loader_spec = importlib.util.spec_from_file_location("_datacheck_transform",
                                                                 module_name)
            if loader_spec is None or not Path(module_name).is_file():
                raise ImportError(f"no such file {module_name}")
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
        fn = getattr(module, attr)
    except (ImportError, AttributeError, SyntaxError) as exc:
        raise BadInputError(f"--transform {spec!r}: {exc}") from None
    if not callable(fn):
        raise BadInputError(f"--transform {spec!r} is not callable")
    return fn


def apply(transform: Callable, img: Image.Image) -> Image.Image:
    """The transform's output as an RGB PIL image (PIL, dict with 'image', array or tensor)."""
    try:
        out = transform(img)
    except TypeError:
        out = transform(image=np.asarray(img))
    if isinstance(out, dict):
        out = out.get("image")
    if hasattr(out, "detach"):  # a torch tensor, C x H x W
        arr = out.detach().cpu().numpy()
        arr = arr.transpose(1, 2, 0) if arr.ndim == 3 else arr
        out = arr * 255 if arr.dtype.kind == "f" else arr
    if isinstance(out, np.ndarray):
        out = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8).squeeze())
    if not isinstance(out, Image.Image):
        raise BadInputError(f"the transform returned {type(out).__name__}, not an image")
    return out.convert("RGB")


def thumbnail(img: Image.Image) -> np.ndarray:
    """The scan's 32x32 RGB thumbnail of an image (box filter)."""
    from .features.images import to_rgb

    return np.asarray(to_rgb(img).resize((THUMB, THUMB), Image.BOX), dtype=np.uint8)


def augment_images(images: list[Image.Image], transform: Callable,
                   seed: int) -> list[Image.Image]:
    """The transformed images, with python, numpy and torch seeded first."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)
    return [apply(transform, im) for im in images]


def predict_folds(cv, x: np.ndarray, fold: np.ndarray, *, model: str, device: str = "auto"
                  ) -> np.ndarray:
    """Probabilities of images ``x`` (or of feature rows, already standardised like the
    ones ``cv`` was fitted on), each from the fold model ``fold[i]``."""
    import torch

    from .learning.models import resolve_device
    from .learning.training import predict, to_device

    dev = resolve_device(device)
    out = np.zeros((len(x), len(cv.classes)), dtype=np.float32)
    for k, net in enumerate(cv.models):
        mine = np.flatnonzero(fold == k)
        if len(mine):
            data = (torch.as_tensor(x[mine], dtype=torch.float32, device=dev) if x.ndim == 2
                    else to_device(x[mine], model, cv.recipe.side, dev))
            out[mine] = predict(net.to(dev), data, 256)
            net.cpu()
    return out


def standardise(x: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``x`` scaled by the mean and std of ``like`` (the statistics the cross-validated
    models saw): a batch of augmented images must not be centred on itself."""
    std = like.std(0, ddof=1).clip(min=1e-6)
    return ((x - like.mean(0)) / std).astype(np.float32)


def measure(cv, labels, rows: np.ndarray, augmented: np.ndarray, *, model: str,
            device: str = "auto", alpha: float = ALPHA,
            class_drop: float = CLASS_DROP) -> AugmentationResult:
    """``cv``: :func:`learning.models.cross_val_probs` on every image; ``rows``: the sampled
    images; ``augmented``: their augmented thumbnails."""
    from scipy.special import ndtr

    classes = [str(c) for c in cv.classes]
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[str(v)] for v in np.asarray(labels)[rows]])
    before = cv.probs[rows].argmax(1)
    after = predict_folds(cv, augmented, cv.fold[rows], model=model,
                          device=device).argmax(1)
    n = len(rows)
    error = float(1 - cv.accuracy)
    ok_before, ok_after = before == y, after == y
    broke, fixed = int((ok_before & ~ok_after).sum()), int((~ok_before & ok_after).sum())
    share = (broke - fixed) / n
    # paired: d = +1 broken, -1 fixed, 0 otherwise; one-sided z-test of mean(d) > error
    var = max((broke + fixed) / n - share ** 2, 1e-12)
    pvalue = float(ndtr(-(share - error) / np.sqrt(var / n))) if broke else 1.0
    per_class = []
    for c, name in enumerate(classes):
        mine = y == c
        if not mine.any():
            continue
        acc0, acc1 = float(ok_before[mine].mean()), float(ok_after[mine].mean())
        wrong = after[mine & ~ok_after]
        to = classes[np.bincount(wrong, minlength=len(classes)).argmax()] if len(wrong) else None
        per_class.append({"label": name, "images": int(mine.sum()), "accuracy": round(acc0, 4),
                          "augmented_accuracy": round(acc1, 4), "drop": round(acc0 - acc1, 4),
                          "mistaken_for": to, "flagged": bool(acc0 - acc1 >= class_drop)})
    per_class.sort(key=lambda r: -r["drop"])
    flagged = [r for r in per_class if r["flagged"]]
    failed = share > error and pvalue < alpha
    metrics = {"images": n, "model_error": round(error, 4), "broken_share": round(share, 4),
               "broken": broke, "fixed": fixed, "pvalue": pvalue,
               "augmented_error": round(float(1 - ok_after.mean()), 4),
               "original_error": round(float(1 - ok_before.mean()), 4),
               "flagged_classes": len(flagged)}
    summary = (f"{share:.1%} of augmented images no longer show their label "
               f"({broke} broken, {fixed} fixed of {n}); the model's error is {error:.1%}")
    if flagged:
        summary += "; worst classes: " + ", ".join(
            f"{r['label']} {r['accuracy']:.0%} -> {r['augmented_accuracy']:.0%}"
            + (f" (as {r['mistaken_for']})" if r["mistaken_for"] else "") for r in flagged[:5])
    return AugmentationResult("fail" if failed else ("warn" if flagged else "pass"), summary,
                              metrics, per_class, rows)


def sample_rows(labels, size: int, seed: int) -> np.ndarray:
    """A seeded sample of ``size`` positions, each class in proportion."""
    labels = np.asarray(labels).astype(str)
    if size >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    out = []
    for lab in np.unique(labels):
        mine = np.flatnonzero(labels == lab)
        out.append(rng.choice(mine, max(1, round(size * len(mine) / len(labels))),
                              replace=False))
    return np.sort(np.concatenate(out))


def contact_sheet(originals: list[Image.Image], augmented: list[Image.Image], captions,
                  title: str, summary: str) -> str:
    """One self-contained HTML page: each original next to its augmented version."""
    def uri(img: Image.Image) -> str:
        img = img.convert("RGB")
        img.thumbnail((128, 128))
        if max(img.size) < 64:
            img = img.resize((img.width * 4, img.height * 4), Image.NEAREST)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()

    e = html.escape
    cards = "".join(
        f'<figure><img src="{uri(a)}" alt="original"><img src="{uri(b)}" alt="augmented">'
        f"<figcaption>{e(str(cap))}</figcaption></figure>"
        for a, b, cap in zip(originals, augmented, captions, strict=True))
    return ("<!doctype html><html><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "img-src data:; style-src 'unsafe-inline'\">"
            f"<title>{e(title)}</title><style>body{{font-family:sans-serif;margin:24px}}"
            "figure{display:inline-block;margin:6px;text-align:center}"
            "img{margin:1px;image-rendering:pixelated}figcaption{font-size:12px}</style>"
            f"</head><body><h1>{e(title)}</h1><p>{e(summary)}</p>"
            f"<p>Each pair: original, then augmented.</p>{cards}</body></html>")


def run_augmentations(path, transform: str, *, sample: int = 500, max_images: int = 5000,
                      model: str = "cnn", folds: int = 5, epochs: int | None = None,
                      device: str = "auto", seed: int = 0, cache_dir=None,
                      out: str | Path = "augmentations.html", shown: int = 60,
                      embed: str | None = None, progress: bool = True) -> AugmentationResult:
    """Scan ``path``, cross-validate ``model`` on up to ``max_images`` labelled images (their
    thumbnails, or their ``embed`` embeddings with a linear probe when ``model`` is cnn),
    augment a sample of ``sample`` of them and write the contact sheet to ``out``."""
    from .features.images import to_rgb
    from .features.scan import ScanOptions, readable_thumbs
    from .learning.models import cross_val_probs
    from .learning.recipes import native_side
    from .sources.dataset import load_dataset

    fn = load_transform(transform)
    dataset = load_dataset(path)
    table, thumbs = readable_thumbs(dataset, ScanOptions(cache_dir=cache_dir), progress=progress)
    keep = np.flatnonzero(table["label"].notna().to_numpy())
    if len(keep) > max_images:
        keep = sample_rows(table["label"].to_numpy()[keep], max_images, seed)
    table, thumbs = table.iloc[keep].reset_index(drop=True), thumbs[keep]
    labels = table["label"].astype(str).to_numpy()
    x = thumbs
    if embed:
        from .features.scan import cache_folder
        from .learning.embed import embeddings

        x = embeddings(embed, table["digest"].tolist(), lambda pos: thumbs[pos],
                       cache_folder(dataset, cache_dir), progress=progress)
        model = "linear" if model == "cnn" else model
    cv = cross_val_probs(standardise(x, x) if embed else x, labels, model=model, folds=folds,
                         epochs=epochs, seed=seed, device=device, native=native_side(table),
                         progress=progress)
    rows = sample_rows(labels, sample, seed)
    originals = []
    for rel in table["path"].to_numpy()[rows]:
        with Image.open(io.BytesIO(dataset.source.read(rel))) as img:
            originals.append(to_rgb(img))
    augmented_images = augment_images(originals, fn, seed)
    aug = np.stack([thumbnail(im) for im in augmented_images])
    if embed:
        from .learning.embed import embed_thumbs

        aug = standardise(embed_thumbs(embed, lambda a, b: aug[a:b], len(aug),
                                       progress=progress), x)
    result = measure(cv, labels, rows, aug, model=model, device=device)
    result.metrics["cv_images"] = len(labels)
    result.metrics["judge"] = f"{model} on {'embed ' + embed if embed else 'thumbnails'}"
    pick = np.random.default_rng(seed).permutation(len(rows))[:shown]
    pick = pick[np.argsort(rows[pick])]
    captions = [f"{labels[rows[i]]} ({table['path'].iat[rows[i]]})" for i in pick]
    page = contact_sheet([originals[i] for i in pick], [augmented_images[i] for i in pick],
                         captions, f"Augmentation {transform}", result.summary)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(page, encoding="utf-8")
    return result
