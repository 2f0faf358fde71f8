"""Cross-validated models whose out-of-fold probabilities feed label-noise detection.

``cross_val_probs`` trains one model per stratified fold and predicts the images it did not
see, so every image gets a probability vector from a model that never trained on it. The fold
models are kept (the shift check can apply them to another split).

Models: ``cnn`` (a small ResNet-style net trained from scratch on thumbnails), ``mlp`` and
``linear`` (on flattened pixels or on features the user supplies). The whole dataset lives on
the device as one uint8 tensor; augmentation (random translation, and a horizontal mirror for
colour photos) runs on the device, and so does test-time augmentation (shifts, mirror); CUDA
uses bfloat16 autocast. On the CPU results are deterministic for a seed.

The recipe adapts to the device (:func:`recipe`): on the CPU the cnn sees 16x16 thumbnails
(32x32 for colour photos) at width 16 for 12 epochs (a 2-core budget); on CUDA it sees the
full 32x32 thumbnails at width 32 for 30 epochs, batch 256. The CUDA recipe is the same code
with other numbers (a test runs it on the CPU with ``device_recipe="cuda"``); its speed on a
GPU is not measured yet.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import StratifiedKFold
from torch import nn
from tqdm import tqdm

from ..errors import BadInputError

MODELS = ("cnn", "mlp", "linear")
LABEL_SMOOTHING = 0.1
#: Default epochs rise until each fold model takes at least MIN_STEPS optimizer steps.
MIN_STEPS, MAX_EPOCHS = 200, 100
#: epochs, learning rate and weight decay per model
DEFAULTS = {"cnn": (12, 3e-3, 5e-4), "mlp": (40, 2e-3, 1e-4), "linear": (60, 5e-3, 1e-4)}
#: cnn recipe per device kind: thumbnail side, width, epochs, batch size
DEVICE_RECIPES = {"cpu": (16, 16, 12, 128), "cuda": (32, 32, 30, 256)}
#: Colour photos on the CPU keep the full 32x32 thumbnail: CIFAR-10 test 10k, 5-fold, 2 busy
#: cores: 60.8% CV accuracy in 59 s at 16x16, 64.0% in 214 s at 32x32 (digits and
#: Fashion-MNIST are grey and stay at 16x16, unchanged).
CPU_COLOUR_SIDE = 32
#: Bump when a change to training changes the out-of-fold probabilities (cached CV results
#: carry it in their key).
RECIPE_VERSION = 2


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a model's training (the cached-CV key holds it)."""

    model: str
    side: int
    width: int
    epochs: int
    batch_size: int
    lr: float
    decay: float
    mirror: bool
    version: int = RECIPE_VERSION


def recipe(model: str, x: np.ndarray, n_train: int, dev: torch.device, *,
           epochs: int | None = None, lr: float | None = None, side: int | None = None,
           width: int | None = None, batch_size: int | None = None,
           mirror: bool | None = None, device_recipe: str | None = None) -> Recipe:
    """The training recipe for ``model`` on ``x`` with ``n_train`` training rows per fold:
    the device's defaults (``DEVICE_RECIPES``, by ``device_recipe`` or the device's kind)
    unless given. ``mirror`` defaults to on for colour images (photos: a mirrored cat is a
    cat) and off for grey ones (digits, letters, where a mirror can change the class)."""
    kind = device_recipe or dev.type
    d_side, d_width, d_epochs, d_batch = DEVICE_RECIPES["cuda" if kind == "cuda" else "cpu"]
    images = np.asarray(x).ndim == 4
    batch_size = batch_size or (d_batch if model == "cnn" else 128)
    if model == "cnn":
        epochs_default = d_epochs
    else:
        epochs_default = DEFAULTS[model][0]
    steps_per_epoch = max(1, -(-n_train // batch_size))
    if epochs is None:
        epochs = min(MAX_EPOCHS, max(epochs_default, -(-MIN_STEPS // steps_per_epoch)))
    colour = bool(images and model == "cnn" and is_colour(np.asarray(x)))
    if side is None and images:
        side = min(CPU_COLOUR_SIDE if colour and kind != "cuda" else d_side,
                   int(np.asarray(x).shape[1]))
    if mirror is None:
        mirror = colour
    return Recipe(model, int(side) if images else 0, int(width or d_width), int(epochs),
                  int(batch_size), float(lr or DEFAULTS[model][1]), DEFAULTS[model][2],
                  bool(mirror and model == "cnn"))


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


def is_colour(x: np.ndarray, sample: int = 512) -> bool:
    """True when the images (N, H, W, 3) are colour photos rather than grey ones: the
    channels differ by more than 4 levels on average over a sample."""
    if x.ndim != 4 or x.shape[-1] < 3:
        return False
    picked = x[np.linspace(0, len(x) - 1, min(len(x), sample)).astype(int)].astype(np.int16)
    return float(np.abs(picked[..., 0] - picked[..., 1]).mean()
                 + np.abs(picked[..., 1] - picked[..., 2]).mean()) / 2 > 4


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


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise BadInputError("--device cuda: no CUDA GPU is available here (use auto or cpu)")
    if device not in ("cpu", "cuda"):
        raise BadInputError(f"--device {device!r}: choose auto, cpu or cuda")
    return torch.device(device)


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                   nn.BatchNorm2d(cout)) if stride != 1 or cin != cout
                     else nn.Identity())

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.skip(x))


class SmallResNet(nn.Module):
    """Three residual stages (width, 2x, 4x channels), global pooling, a linear head."""

    def __init__(self, channels: int, classes: int, width: int = 16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        self.stages = nn.Sequential(_Block(width, width, 1), _Block(width, 2 * width, 2),
                                    _Block(2 * width, 4 * width, 2))
        self.head = nn.Linear(4 * width, classes)

    def forward(self, x):
        return self.head(self.stages(self.stem(x)).mean(dim=(2, 3)))


def _mlp(dim: int, classes: int, hidden: int = 256) -> nn.Module:
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(hidden, classes))


def _translate(x: torch.Tensor, pixels: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by up to ``pixels`` in x and y (zero fill), on x's device."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pixels, pixels, pixels, pixels))
    dx = torch.randint(0, 2 * pixels + 1, (n,), generator=generator, device="cpu")
    dy = torch.randint(0, 2 * pixels + 1, (n,), generator=generator, device="cpu")
    rows = (dy[:, None] + torch.arange(h)[None, :]).to(x.device)
    cols = (dx[:, None] + torch.arange(w)[None, :]).to(x.device)
    idx_n = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]].permute(
        0, 3, 1, 2)


def cross_val_probs(x: np.ndarray, labels, *, model: str = "cnn", folds: int = 5,
                    epochs: int | None = None, batch_size: int | None = None,
                    lr: float | None = None, side: int | None = None,
                    width: int | None = None, mirror: bool | None = None,
                    augment: bool = True, seed: int = 0, device: str = "auto",
                    device_recipe: str | None = None, progress: bool = True) -> CVResult:
    """Out-of-fold class probabilities for every row of ``x``.

    ``x`` is uint8 images (N, H, W, C) or a float feature matrix (N, D); ``cnn`` needs images
    (resized on the device to ``side`` x ``side``). Unset training settings come from
    :func:`recipe`. Raises BadInputError for unusable input.
    """
    if model not in MODELS:
        raise BadInputError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    labels = np.asarray(labels).astype(str)
    classes, y = np.unique(labels, return_inverse=True)
    _validate(len(x), classes, y, folds)
    if model == "cnn" and np.asarray(x).ndim != 4:
        raise BadInputError("model cnn needs images; use --model mlp or linear with --features")
    dev = resolve_device(device)
    rc = recipe(model, x, len(y) * (folds - 1) // folds, dev, epochs=epochs, lr=lr, side=side,
                width=width, batch_size=batch_size, mirror=mirror, device_recipe=device_recipe)
    torch.manual_seed(seed)
    started = time.perf_counter()
    data = _to_device(np.asarray(x), model, rc.side, dev)
    target = torch.as_tensor(y, device=dev)
    probs = np.zeros((len(y), len(classes)), dtype=np.float32)
    fold_of = np.zeros(len(y), dtype=np.int64)
    models = []
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    bar = tqdm(total=folds * rc.epochs, desc=f"cross-validating {model}", unit="epoch",
               disable=None if progress else True, leave=False)
    with _threads_for(model, dev):
        for k, (train, held) in enumerate(splitter.split(np.zeros(len(y)), y)):
            net = _build(rc, data, len(classes)).to(dev)
            _fit(net, data, target, torch.as_tensor(train, device=dev), rc,
                 augment=augment and model == "cnn", seed=seed * 1000 + k, bar=bar)
            probs[held] = _predict(net, data[torch.as_tensor(held, device=dev)],
                                   rc.batch_size)
            fold_of[held] = k
            models.append(net.cpu().eval())
    bar.close()
    accuracy = float((probs.argmax(1) == y).mean())
    return CVResult(probs, classes, fold_of, models, accuracy,
                    time.perf_counter() - started, str(dev), rc)


def fit_predict(x: np.ndarray, labels, train_rows, *, model: str = "cnn",
                epochs: int | None = None, batch_size: int | None = None,
                lr: float | None = None, side: int | None = None, width: int | None = None,
                mirror: bool | None = None, augment: bool = True, seed: int = 0,
                device: str = "auto", progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Train one model on ``train_rows`` of ``x`` (the same models and recipe as the
    cross-validation) and return (classes, probabilities for every row of ``x``)."""
    if model not in MODELS:
        raise BadInputError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    train_rows = np.asarray(train_rows)
    classes, y = np.unique(np.asarray(labels).astype(str)[train_rows], return_inverse=True)
    _validate(len(y), classes, y, folds=2)
    dev = resolve_device(device)
    rc = recipe(model, x, len(y), dev, epochs=epochs, lr=lr, side=side, width=width,
                batch_size=batch_size, mirror=mirror)
    torch.manual_seed(seed)
    data = _to_device(np.asarray(x), model, rc.side, dev)
    target = torch.zeros(len(data), dtype=torch.long, device=dev)
    target[torch.as_tensor(train_rows, device=dev)] = torch.as_tensor(y, device=dev)
    net = _build(rc, data, len(classes)).to(dev)
    bar = tqdm(total=rc.epochs, desc=f"training {model}", unit="epoch",
               disable=None if progress else True, leave=False)
    with _threads_for(model, dev):
        _fit(net, data, target, torch.as_tensor(train_rows, device=dev), rc,
             augment=augment and model == "cnn", seed=seed, bar=bar)
        bar.close()
        return classes, _predict(net, data, rc.batch_size)


def _validate(n: int, classes: np.ndarray, y: np.ndarray, folds: int) -> None:
    if folds < 2:
        raise BadInputError("--folds must be at least 2")
    if len(classes) < 2:
        raise BadInputError(f"label noise needs at least two classes; found only "
                            f"{str(classes[0])!r}" if len(classes) else "no labelled images")
    counts = np.bincount(y)
    small = int(np.argmin(counts))
    if counts[small] < folds:
        raise BadInputError(f"class {str(classes[small])!r} has {counts[small]} images, fewer than "
                            f"the {folds} folds; add images or lower --folds")


def _to_device(x: np.ndarray, model: str, side: int, dev: torch.device) -> torch.Tensor:
    if x.ndim == 4:
        t = torch.as_tensor(x, device=dev).permute(0, 3, 1, 2)  # uint8 stays uint8 until used
        if t.shape[-1] != side or t.shape[-2] != side:
            t = F.interpolate(t.float(), size=(side, side), mode="area").round().to(torch.uint8)
        if model != "cnn":
            t = t.reshape(len(t), -1)
        return t
    feats = torch.as_tensor(x.reshape(len(x), -1), dtype=torch.float32, device=dev)
    mean, std = feats.mean(0, keepdim=True), feats.std(0, keepdim=True).clamp_min(1e-6)
    return (feats - mean) / std


def _build(rc: Recipe, data: torch.Tensor, classes: int) -> nn.Module:
    if rc.model == "cnn":
        net = SmallResNet(data.shape[1], classes, width=rc.width)
        net.side, net.mirror = rc.side, rc.mirror  # read by _predict
        return net
    dim = data.shape[1]
    return _mlp(dim, classes) if rc.model == "mlp" else nn.Linear(dim, classes)


def _inputs(batch: torch.Tensor) -> torch.Tensor:
    return batch.float() / 255.0 if batch.dtype == torch.uint8 else batch


def _fit(net, data, target, train, rc: Recipe, *, augment, seed, bar):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=rc.lr, weight_decay=rc.decay)
    steps = rc.epochs * -(-len(train) // rc.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=rc.lr, total_steps=steps)
    cuda = data.device.type == "cuda"
    net.train()
    for _ in range(rc.epochs):
        order = train[torch.randperm(len(train), generator=gen).to(train.device)]
        for start in range(0, len(order), rc.batch_size):
            idx = order[start:start + rc.batch_size]
            xb = _inputs(data[idx])
            if augment:
                xb = _translate(xb, max(1, xb.shape[-1] // 16), gen)
                if rc.mirror:
                    xb = _mirror(xb, gen)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
                loss = F.cross_entropy(net(xb), target[idx], label_smoothing=LABEL_SMOOTHING)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        bar.update()


def _mirror(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the images left-right."""
    flip = (torch.rand(len(x), generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


#: Test-time shifts (dx, dy) averaged for image models: steadier out-of-fold probabilities.
TTA_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


@torch.no_grad()
def _predict(net, data, batch_size) -> np.ndarray:
    net.eval()
    out = []
    cuda = data.device.type == "cuda"
    images = data.dim() == 4
    side = getattr(net, "side", None)
    for start in range(0, len(data), 4 * batch_size):
        xb = _inputs(data[start:start + 4 * batch_size])
        if images and side and xb.shape[-1] != side:  # a caller that resized for another side
            xb = F.interpolate(xb, size=(side, side), mode="area")
        views = [torch.roll(xb, shifts=s, dims=(3, 2)) for s in TTA_SHIFTS] if images else [xb]
        if images and getattr(net, "mirror", False):
            views.append(xb.flip(3))
        probs = 0
        for view in views:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
                probs = probs + torch.softmax(net(view).float(), dim=1)
        out.append((probs / len(views)).cpu().numpy())
    return np.concatenate(out)
