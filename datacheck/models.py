"""Cross-validated models whose out-of-fold probabilities feed label-noise detection.

``cross_val_probs`` trains one model per stratified fold and predicts the images it did not
see, so every image gets a probability vector from a model that never trained on it. The fold
models are kept (the shift check can apply them to another split).

Models: ``cnn`` (a small ResNet-style net trained from scratch on thumbnails), ``mlp`` and
``linear`` (on flattened pixels or on features the user supplies). The whole dataset lives on
the device as one uint8 tensor; augmentation (random translation) runs on the device; CUDA
uses bfloat16 autocast. On the CPU results are deterministic for a seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import StratifiedKFold
from torch import nn
from tqdm import tqdm

from .errors import BadInputError

MODELS = ("cnn", "mlp", "linear")
LABEL_SMOOTHING = 0.1
#: Default epochs rise until each fold model takes at least MIN_STEPS optimizer steps.
MIN_STEPS, MAX_EPOCHS = 200, 100
#: epochs, learning rate and weight decay per model
DEFAULTS = {"cnn": (12, 3e-3, 5e-4), "mlp": (40, 2e-3, 1e-4), "linear": (60, 5e-3, 1e-4)}


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
                    epochs: int | None = None, batch_size: int = 128, lr: float | None = None,
                    side: int = 16, augment: bool = True, seed: int = 0,
                    device: str = "auto", progress: bool = True) -> CVResult:
    """Out-of-fold class probabilities for every row of ``x``.

    ``x`` is uint8 images (N, H, W, C) or a float feature matrix (N, D); ``cnn`` needs images
    (resized on the device to ``side`` x ``side``). Raises BadInputError for unusable input.
    """
    if model not in MODELS:
        raise BadInputError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    labels = np.asarray(labels).astype(str)
    classes, y = np.unique(labels, return_inverse=True)
    _validate(len(x), classes, y, folds)
    if model == "cnn" and np.asarray(x).ndim != 4:
        raise BadInputError("model cnn needs images; use --model mlp or linear with --features")
    dev = resolve_device(device)
    epochs = _epochs(model, len(y) * (folds - 1) // folds, batch_size, epochs)
    _, default_lr, decay = DEFAULTS[model]
    lr = lr or default_lr
    torch.manual_seed(seed)
    started = time.perf_counter()
    data = _to_device(np.asarray(x), model, side, dev)
    target = torch.as_tensor(y, device=dev)
    probs = np.zeros((len(y), len(classes)), dtype=np.float32)
    fold_of = np.zeros(len(y), dtype=np.int64)
    models = []
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    bar = tqdm(total=folds * epochs, desc=f"cross-validating {model}", unit="epoch",
               disable=None if progress else True, leave=False)
    for k, (train, held) in enumerate(splitter.split(np.zeros(len(y)), y)):
        net = _build(model, data, len(classes)).to(dev)
        _fit(net, data, target, torch.as_tensor(train, device=dev), epochs=epochs, lr=lr,
             decay=decay, batch_size=batch_size, augment=augment and model == "cnn",
             seed=seed * 1000 + k, bar=bar)
        probs[held] = _predict(net, data[torch.as_tensor(held, device=dev)], batch_size)
        fold_of[held] = k
        models.append(net.cpu().eval())
    bar.close()
    accuracy = float((probs.argmax(1) == y).mean())
    return CVResult(probs, classes, fold_of, models, accuracy,
                    time.perf_counter() - started, str(dev))


def fit_predict(x: np.ndarray, labels, train_rows, *, model: str = "cnn",
                epochs: int | None = None, batch_size: int = 128, lr: float | None = None,
                side: int = 16, augment: bool = True, seed: int = 0, device: str = "auto",
                progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Train one model on ``train_rows`` of ``x`` (the same models and recipe as the
    cross-validation) and return (classes, probabilities for every row of ``x``)."""
    if model not in MODELS:
        raise BadInputError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    train_rows = np.asarray(train_rows)
    classes, y = np.unique(np.asarray(labels).astype(str)[train_rows], return_inverse=True)
    _validate(len(y), classes, y, folds=2)
    dev = resolve_device(device)
    epochs = _epochs(model, len(y), batch_size, epochs)
    _, default_lr, decay = DEFAULTS[model]
    torch.manual_seed(seed)
    data = _to_device(np.asarray(x), model, side, dev)
    target = torch.zeros(len(data), dtype=torch.long, device=dev)
    target[torch.as_tensor(train_rows, device=dev)] = torch.as_tensor(y, device=dev)
    net = _build(model, data, len(classes)).to(dev)
    bar = tqdm(total=epochs, desc=f"training {model}", unit="epoch",
               disable=None if progress else True, leave=False)
    _fit(net, data, target, torch.as_tensor(train_rows, device=dev), epochs=epochs,
         lr=lr or default_lr, decay=decay, batch_size=batch_size,
         augment=augment and model == "cnn", seed=seed, bar=bar)
    bar.close()
    return classes, _predict(net, data, batch_size)


def _epochs(model: str, n_train: int, batch_size: int, epochs: int | None) -> int:
    """Given epochs, or the model's default raised until training takes MIN_STEPS steps
    (small datasets need more passes)."""
    if epochs is not None:
        return epochs
    steps_per_epoch = max(1, -(-n_train // batch_size))
    return min(MAX_EPOCHS, max(DEFAULTS[model][0], -(-MIN_STEPS // steps_per_epoch)))


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


def _build(model: str, data: torch.Tensor, classes: int) -> nn.Module:
    if model == "cnn":
        return SmallResNet(data.shape[1], classes)
    dim = data.shape[1]
    return _mlp(dim, classes) if model == "mlp" else nn.Linear(dim, classes)


def _inputs(batch: torch.Tensor) -> torch.Tensor:
    return batch.float() / 255.0 if batch.dtype == torch.uint8 else batch


def _fit(net, data, target, train, *, epochs, lr, decay, batch_size, augment, seed, bar):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=decay)
    steps = epochs * -(-len(train) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    cuda = data.device.type == "cuda"
    net.train()
    for _ in range(epochs):
        order = train[torch.randperm(len(train), generator=gen).to(train.device)]
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            xb = _inputs(data[idx])
            if augment:
                xb = _translate(xb, max(1, xb.shape[-1] // 16), gen)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
                loss = F.cross_entropy(net(xb), target[idx], label_smoothing=LABEL_SMOOTHING)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        bar.update()


#: Test-time shifts (dx, dy) averaged for image models: steadier out-of-fold probabilities.
TTA_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


@torch.no_grad()
def _predict(net, data, batch_size) -> np.ndarray:
    net.eval()
    out = []
    cuda = data.device.type == "cuda"
    images = data.dim() == 4
    for start in range(0, len(data), 4 * batch_size):
        xb = _inputs(data[start:start + 4 * batch_size])
        views = [torch.roll(xb, shifts=s, dims=(3, 2)) for s in TTA_SHIFTS] if images else [xb]
        probs = 0
        for view in views:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
                probs = probs + torch.softmax(net(view).float(), dim=1)
        out.append((probs / len(views)).cpu().numpy())
    return np.concatenate(out)
