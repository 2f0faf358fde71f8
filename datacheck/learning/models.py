"""Cross-validated models whose out-of-fold probabilities feed label-noise detection.

``cross_val_probs`` trains one model per stratified fold and predicts the images it did not
see, so every image gets a probability vector from a model that never trained on it. Given a
time budget, the folds split a stratified sample that fits it (:mod:`learning.budget`) and
the images outside the sample are scored by the average of fold models. The fold models are
kept (the shift check can apply them to another split).

Models: ``cnn`` (an airbench-style net trained from scratch on thumbnails: a frozen 2x2
patch-whitening layer, three conv groups with BatchNorm and GELU, SGD with Nesterov momentum,
label smoothing 0.2, one-cycle learning rate, small-loss training: after a quarter of the
epochs each batch leaves out its highest 15% of losses, so flipped labels are fitted less),
``mlp`` and ``linear`` (on flattened pixels or on features the user supplies). The whole
dataset lives on the device as one uint8 tensor;
augmentation (random translation, and a horizontal mirror for colour photos) runs on the
device, and so does test-time augmentation (shifts, mirror). The cnn trains under bfloat16
autocast, with channels-last images and weights, on CUDA and on CPUs that compute bfloat16 in
hardware (``recipes.cpu_has_bf16``): on an AMD EPYC (AVX512-BF16) that made the CIFAR-10 test
10k cross-validation 1.65x faster (183.7 -> 111.5 s on 2 cores, 74.0% -> 74.2%;
``benchmarks/train_speed.py`` for one step). Float32 keeps NCHW (channels-last alone was no
faster end to end). On the CPU results are deterministic for a seed.

The recipe adapts to the device (:func:`recipes.recipe`): on the CPU the cnn is the whitened net on
the 32x32 thumbnails at width 48 (48/96/192 channels) for 12 epochs where the CPU has hardware
bfloat16, else on 24x24 ones at width 32 for 10, or for grey images no larger than 16 px
(digits) the ResNet on 16x16 thumbnails; on CUDA it sees the full 32x32 thumbnails: the
whitened net at width 64 for 20 epochs, the ResNet at width 32 for 30 (:mod:`learning.recipes`).
The CUDA recipe is the same code with other numbers (a test runs it on the CPU with
``device_recipe="cuda"``); its speed on a GPU is not measured yet.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold
from tqdm import tqdm

from ..errors import BadInputError
from . import budget as budget_
from . import recipes, training
from .recipes import MODELS, Recipe


@contextmanager
def _threads_for(model: str, dev: torch.device):
    """Linear and MLP steps are too small to split: on a CPU they run on one thread (400
    digits, 5-fold linear: 28 s on 2 busy cores with 2 threads, 3.6 s with one)."""
    before = torch.get_num_threads()
    if dev.type == "cpu" and model != "cnn":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class CVResult:
    """Out-of-fold probabilities (N x K, columns in ``classes`` order) and the fold models."""

    probs: np.ndarray
    classes: np.ndarray
    fold: np.ndarray
    models: list = field(repr=False, default_factory=list)
    accuracy: float = 0.0
    seconds: float = 0.0
    device: str = "cpu"
    recipe: Recipe | None = None
    plan: budget_.Plan | None = None


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise BadInputError("--device cuda: no CUDA GPU is available here (use auto or cpu)")
    if device not in ("cpu", "cuda"):
        raise BadInputError(f"--device {device!r}: choose auto, cpu or cuda")
    return torch.device(device)


def cross_val_probs(x: np.ndarray, labels, *, model: str = "cnn", folds: int = 5,
                    epochs: int | None = None, batch_size: int | None = None,
                    lr: float | None = None, side: int | None = None,
                    width: int | None = None, mirror: bool | None = None,
                    augment: bool = True, seed: int = 0, device: str = "auto",
                    device_recipe: str | None = None, native: int | None = None,
                    budget: float | None = None, train_images: int | None = None,
                    recipe: Recipe | None = None, progress: bool = True) -> CVResult:
    """Out-of-sample class probabilities for every row of ``x``.

    ``x`` is uint8 images (N, H, W, C) or a float feature matrix (N, D); ``cnn`` needs images
    (resized on the device to ``side`` x ``side``). Unset training settings come from
    :func:`recipes.recipe` (``native``: the images' shorter side before thumbnailing), or are
    ``recipe``'s when one is given (``epochs`` then only says whether the budget may change
    its epochs): the caller that keys a cache by a recipe trains that very recipe. ``budget``
    (seconds) and ``train_images`` size a stratified training sample (:mod:`budget`): its
    rows are scored by the fold model that left them out, the others by the average of fold
    models that never saw them. Raises BadInputError for unusable input.
    """
    if model not in MODELS:
        raise BadInputError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    labels = np.asarray(labels).astype(str)
    classes, y = np.unique(labels, return_inverse=True)
    if folds < 2:
        raise BadInputError("--folds must be at least 2")
    budget_.enough_images(labels, folds)
    if model == "cnn" and np.asarray(x).ndim != 4:
        raise BadInputError("model cnn needs images; use --model mlp or linear with --features")
    dev = resolve_device(device)
    rc = recipe or recipes.recipe(model, x, dev, epochs=epochs, lr=lr, side=side, width=width,
                                  batch_size=batch_size, mirror=mirror,
                                  device_recipe=device_recipe, native=native)
    torch.manual_seed(seed)
    started = time.perf_counter()
    data = training.to_device(np.asarray(x), model, rc.side, dev)
    target = torch.as_tensor(y, device=dev)
    views = _views(rc, data)
    with _threads_for(model, dev):
        speed = measure_speed(rc, data, len(classes)) if budget is not None else None
        plan = budget_.plan(len(y), folds=folds, epochs=rc.epochs, batch_size=rc.batch_size,
                            views=views, speed=speed, budget=budget, sample=train_images,
                            fixed_epochs=epochs is not None, min_sample=2 * folds * len(classes))
        rc = replace(rc, epochs=plan.epochs, batch_size=plan.batch_size)
        sample = budget_.stratified_sample(y, plan.sample, minimum=2 * folds, seed=seed)
        rest = np.setdiff1d(np.arange(len(y)), sample)
        sums = np.zeros((len(y), len(classes)), dtype=np.float32)
        fold_of = np.full(len(y), -1, dtype=np.int64)
        models = []
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
        bar = _Progress(plan, speed, progress,
                        f"cross-validating {model} on {plan.sample:,} of {len(y):,}", folds)
        for k, (train, held) in enumerate(splitter.split(np.zeros(len(sample)), y[sample])):
            train, held = sample[train], sample[held]
            rows = torch.as_tensor(train, device=dev)
            net = training.build(rc, data, rows, len(classes)).to(dev)
            training.fit(net, data, target, rows, rc, augment=augment and model == "cnn",
                 seed=seed * 1000 + k, on_epoch=partial(bar.trained, len(train)))
            sums[held] = training.predict(net, data[torch.as_tensor(held, device=dev)],
                                          rc.batch_size)
            fold_of[held] = k
            bar.scored(len(held) * views)
            scores = rest[(k - np.arange(len(rest))) % folds < plan.scorers]
            if len(scores):  # the rest: one view from each of plan.scorers fold models
                sums[scores] += training.predict(net, data[torch.as_tensor(scores, device=dev)],
                                         rc.batch_size, tta=False)
                bar.scored(len(scores))
            models.append(net.cpu().eval())
        bar.close()
    probs = sums
    if len(rest):
        probs[rest] /= plan.scorers
    accuracy = float((probs.argmax(1) == y).mean())
    return CVResult(probs, classes, fold_of, models, accuracy,
                    time.perf_counter() - started, str(dev), rc, plan)


def measure_speed(rc: Recipe, data: torch.Tensor, classes: int,
                  steps: int = 3) -> budget_.Speed:
    """Seconds per image of a training step and of one forward view of ``rc``'s model on
    ``data``'s device: a few steps of a throwaway model after one to warm up."""
    dev = data.device
    n = min(len(data), rc.batch_size)
    rows = torch.arange(n, device=dev)
    net = training.build(rc, data, rows, classes).to(dev)
    probe = replace(rc, epochs=1)
    target = torch.zeros(len(data), dtype=torch.long, device=dev)

    def timed(run) -> float:
        """The fastest of ``steps`` timed runs after a warm-up (kernels chosen, memory
        allocated), per image: a busy moment on a shared machine does not shrink the plan."""
        run()
        times = []
        for _ in range(steps):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            run()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        return min(times) / n

    step = timed(lambda: training.fit(net, data, target, rows, probe,
                                      augment=rc.model == "cnn", seed=0))
    forward = timed(lambda: training.predict(net, data[rows], rc.batch_size, tta=False))
    return budget_.Speed(step, forward)


def _views(rc: Recipe, data: torch.Tensor) -> int:
    """Test-time views an image inside the training sample gets (``training.predict``)."""
    if data.dim() != 4:
        return 1
    return len(training.TTA_SHIFTS) + bool(rc.mirror)


class _Progress:
    """One bar for a cross-validation in predicted seconds of work, so that its ETA covers
    training and scoring; in epochs when nothing was timed."""

    def __init__(self, plan, speed, show: bool, desc: str, folds: int):
        self.speed = speed
        self.bar = tqdm(total=round(plan.seconds, 1) if speed else folds * plan.epochs,
                        desc=desc, unit="s" if speed else "epoch",
                        disable=None if show else True, leave=False)

    def trained(self, images: int) -> None:
        """One epoch of ``images`` training images done."""
        self.bar.update(round(images * self.speed.step, 3) if self.speed else 1)

    def scored(self, views: int) -> None:
        if self.speed:
            self.bar.update(round(views * self.speed.forward, 3))

    def close(self) -> None:
        self.bar.close()


def fit_predict(x: np.ndarray, labels, train_rows, *, model: str = "cnn",
                epochs: int | None = None, batch_size: int | None = None,
                lr: float | None = None, side: int | None = None, width: int | None = None,
                mirror: bool | None = None, augment: bool = True, seed: int = 0,
                device: str = "auto", native: int | None = None,
                progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Train one model on ``train_rows`` of ``x`` (the same models and recipe as the
    cross-validation, but without small-loss training: a model to evaluate fits every label)
    and return (classes, probabilities for every row of ``x``)."""
    if model not in MODELS:
        raise BadInputError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    train_rows = np.asarray(train_rows)
    classes, y = np.unique(np.asarray(labels).astype(str)[train_rows], return_inverse=True)
    budget_.enough_images(np.asarray(labels)[train_rows], folds=1)  # two of each class
    dev = resolve_device(device)
    rc = recipes.recipe(model, x, dev, epochs=epochs, lr=lr, side=side, width=width,
                        batch_size=batch_size, mirror=mirror, native=native, drop=0.0)
    if epochs is None:  # a small training set: enough optimizer steps
        epochs, batch = budget_.enough_steps(len(y), rc.epochs, rc.batch_size)
        rc = replace(rc, epochs=epochs, batch_size=batch)
    torch.manual_seed(seed)
    data = training.to_device(np.asarray(x), model, rc.side, dev)
    target = torch.zeros(len(data), dtype=torch.long, device=dev)
    train_rows = torch.as_tensor(train_rows, device=dev)
    target[train_rows] = torch.as_tensor(y, device=dev)
    net = training.build(rc, data, train_rows, len(classes)).to(dev)
    bar = tqdm(total=rc.epochs, desc=f"training {model}", unit="epoch",
               disable=None if progress else True, leave=False)
    with _threads_for(model, dev):
        training.fit(net, data, target, train_rows, rc,
             augment=augment and model == "cnn", seed=seed, on_epoch=bar.update)
        bar.close()
        return classes, training.predict(net, data, rc.batch_size)
