"""How a time budget is spent on cross-validation: how many images train, for how many epochs,
and how many fold models score each image outside the training sample.

Torch-free: :func:`plan` is arithmetic on speeds measured on the device that trains
(``models.measure_speed``), :func:`stratified_sample` a seeded choice of rows.

Every labelled image gets out-of-sample probabilities. An image in the training sample is
scored by the fold model that left it out (with test-time augmentation); an image outside it
by the average of ``scorers`` fold models, none of which saw it (one view each). With a
dataset larger than the budget can train on, the sample shrinks (at the recipe's epochs)
until training and scoring fit, but never below ``MIN_SAMPLE`` images; scoring the rest is
capped at ``SCORING_SHARE`` of the budget, and fewer fold models score each image when all of
them would not fit. A small sample trains for at least ``MIN_STEPS`` optimizer steps a fold
(the batch halves down to ``MIN_BATCH``, then epochs grow up to ``MAX_EPOCHS``), within the
budget.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import BadInputError

#: Share of the budget that scoring the images outside the training sample may take.
SCORING_SHARE = 0.35
#: Optimizer steps a fold model takes at least on a small dataset, budget permitting.
MIN_STEPS = 150
#: Smallest batch a small dataset trains with.
MIN_BATCH = 64
#: Epochs a small dataset may rise to.
MAX_EPOCHS = 60
#: The training sample never shrinks below this many images (or the whole dataset).
MIN_SAMPLE = 2000


@dataclass(frozen=True)
class Speed:
    """Seconds per image on the device that trains: one training step, one forward view."""

    step: float
    forward: float


@dataclass(frozen=True)
class Plan:
    """What the budget buys (stored with the cached result, shown in the summary)."""

    #: images in the stratified training sample (== images: every image trains)
    sample: int
    images: int
    epochs: int
    batch_size: int
    #: fold models averaged for each image outside the sample
    scorers: int
    #: test-time views for images inside the sample (each scored by one fold model)
    views: int
    #: predicted seconds (training + scoring)
    seconds: float
    #: the measured speed: milliseconds per image of a training step and of a forward view
    step_ms: float = 0.0
    forward_ms: float = 0.0

    def as_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def plan(images: int, *, folds: int, epochs: int, batch_size: int, views: int,
         speed: Speed | None, budget: float | None, sample: int | None = None,
         fixed_epochs: bool = False, min_sample: int = 0) -> Plan:
    """The plan for ``images`` labelled rows, ``folds`` folds, the recipe's ``epochs`` and
    ``batch_size`` (``fixed_epochs``: the user set the epochs), ``views`` test-time views,
    within ``budget`` seconds at the measured ``speed`` (both None: no limit, and no time
    predicted). ``sample`` fixes the training sample's size;
    ``min_sample`` is the smallest sample that leaves every class enough images. The sample
    never shrinks below ``MIN_SAMPLE`` images, nor the epochs below the recipe's: a budget too
    small for that is exceeded rather than spent on a model that learns nothing."""
    speed = speed or Speed(0.0, 0.0)

    def train_cost(n, e):  # each sample image trains in folds - 1 folds
        return (folds - 1) * n * e * speed.step + n * views * speed.forward

    limit = math.inf if budget is None else float(budget)
    floor = min(images, max(MIN_SAMPLE, min_sample))
    n, scorers = images, folds
    if sample is not None:
        n = int(np.clip(sample, min(min_sample, images), images))
    elif train_cost(images, epochs) > limit:
        # scoring the rest takes at most SCORING_SHARE; the largest sample that fits trains
        scorers = int(np.clip(SCORING_SHARE * limit // (images * speed.forward + 1e-12), 1,
                              folds))
        per_image = (folds - 1) * epochs * speed.step + (views - scorers) * speed.forward
        room = limit - images * scorers * speed.forward
        n = int(np.clip(room / per_image, floor, images))
    batch = batch_size
    if not fixed_epochs:  # a small sample: enough optimizer steps, as far as the budget allows
        affordable = int((limit - n * views * speed.forward)
                         // max((folds - 1) * n * speed.step, 1e-12)) if budget else MAX_EPOCHS
        epochs, batch = enough_steps(n * (folds - 1) // folds, epochs, batch_size,
                                     max_epochs=max(epochs, min(affordable, MAX_EPOCHS)))
    scorers = scorers if n < images else 0
    return Plan(sample=n, images=images, epochs=int(epochs), batch_size=int(batch),
                scorers=scorers, views=views,
                seconds=float(train_cost(n, epochs) + (images - n) * scorers * speed.forward),
                step_ms=speed.step * 1000, forward_ms=speed.forward * 1000)


def enough_steps(n_train: int, epochs: int, batch_size: int, *,
                 max_epochs: int = MAX_EPOCHS) -> tuple[int, int]:
    """(epochs, batch size) for ``n_train`` training images: at least ``MIN_STEPS`` optimizer
    steps, by halving the batch down to ``MIN_BATCH``, then by more epochs up to
    ``max_epochs``; never fewer than ``epochs``."""
    batch = batch_size
    while batch > MIN_BATCH and -(-n_train // batch) * epochs < MIN_STEPS:
        batch //= 2
    need = -(-MIN_STEPS // max(1, -(-n_train // batch)))
    return int(max(epochs, min(need, max_epochs))), int(batch)


def stratified_sample(y: np.ndarray, size: int, *, minimum: int, seed: int) -> np.ndarray:
    """Sorted row numbers of a seeded sample of ``size`` rows in the classes' proportions,
    with at least ``minimum`` rows of every class (all of a smaller class)."""
    y = np.asarray(y)
    if size >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    take = np.minimum(counts, np.maximum(minimum, np.floor(counts * size / len(y)))).astype(int)
    short = size - take.sum()  # settle rounding and the rare classes' minimum on the largest
    for k in np.argsort(-counts):
        change = np.clip(short, min(minimum, counts[k]) - take[k], counts[k] - take[k])
        take[k] += change
        short -= change
    picked = [rng.choice(np.flatnonzero(y == c), t, replace=False) for c, t in zip(classes, take)]
    return np.sort(np.concatenate(picked))


def enough_images(labels, folds: int) -> None:
    """BadInputError unless there are two classes with at least 2 x ``folds`` images each
    (every fold's held-out part then has two images of every class)."""
    names, counts = np.unique(np.asarray(labels).astype(str), return_counts=True)
    if len(names) < 2:
        raise BadInputError("needs at least two classes; found " +
                            (f"only {str(names[0])!r}" if len(names) else "no labelled images"))
    small = int(np.argmin(counts))
    if counts[small] < 2 * folds:
        raise BadInputError(f"class {str(names[small])!r} has {counts[small]} images, fewer than "
                            f"2 x {folds} folds; add images or lower --folds")
