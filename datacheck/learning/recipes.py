"""Training recipes: which net, thumbnail side, width and schedule a model gets on a device.

Torch-free on purpose: an unchanged re-audit computes the recipe to find its cached
cross-validation (:mod:`learning.cv_cache`) and should not pay torch's ~1.3 s import to learn
that nothing needs training. :func:`likely_device` guesses the device the same way.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODELS = ("cnn", "mlp", "linear")
#: the whitened net's smallest input side: 2x2 whitening, then three halvings
MIN_SIDE = 16
#: Grey images whose shorter side (before thumbnailing) is above this train the whitened net on
#: the full thumbnails; smaller ones (digits, 8x8) the ResNet on 16x16 ones. Fashion-MNIST 6k
#: (28x28), 10% symmetric noise, one seed, 1 thread: out-of-fold accuracy against the true
#: labels 84.5% (ResNet, 16 px, 56 s of CPU) / 84.0% (ResNet, 32 px, 233 s) / 85.5% (whitened,
#: 16 px, mirrored, 51 s) / 88.5% (whitened, 32 px, 227 s; mirrored 88.6%). On digits the
#: whitened net was worse (16 px: out-of-fold accuracy 0.868 vs 0.892, F1 0.920 vs 0.981).
DETAIL_SIDE = 16
#: per net: epochs, learning rate, weight decay, label smoothing. ``cnn`` trains ``whitened``
#: (nets.WhitenedNet) on colour photos and grey images over ``DETAIL_SIDE``, ``resnet``
#: (nets.SmallResNet) on smaller grey images.
DEFAULTS = {"resnet": (12, 3e-3, 5e-4, 0.1), "whitened": (10, 0.2, 5e-4, 0.2),
            "mlp": (40, 2e-3, 1e-4, 0.1), "linear": (60, 5e-3, 1e-4, 0.1)}
#: cnn recipe per (device kind, net): thumbnail side, width, epochs, batch size. ``cpu-bf16``
#: is a CPU with hardware bfloat16 (:func:`cpu_has_bf16`), where the same time buys a wider net.
#: Other CPUs train the whitened net at 24 px: on an AVX2 EPYC (one thread, 8,000 CIFAR-10
#: test photos, 2,000 held out; benchmarks/recipe_grid.py) 24 px / width 32 / 10 epochs
#: reached 68.1% in 109 CPU s, against 70.3% in 192 s at 32 px, 66.1% in 91 s at width 16,
#: 64.8% in 113 s at 5 epochs and 63.4% in 123 s on 4,000 photos: within a time budget it
#: trains the most images to the best accuracy.
#: CIFAR-10 test 10k, 5-fold, 2 idle cores (benchmarks/ARCHIVE.md): width 32, 10 epochs, float32
#: 74.0% in 184 s; with bfloat16 and channels-last 74.2% in 112 s; width 48, 12 epochs 77.8% in
#: 232 s (20% symmetric flips: F1 0.781; width 64 / 10 epochs 0.783 in 278 s, width 32 / 20
#: epochs 0.774 in 224 s). The ResNet on colour photos: 64% at 32 px.
DEVICE_RECIPES = {("cpu", "resnet"): (16, 16, 12, 128), ("cuda", "resnet"): (32, 32, 30, 256),
                  ("cpu", "whitened"): (24, 32, 10, 256),
                  ("cpu-bf16", "whitened"): (32, 48, 12, 256),
                  ("cuda", "whitened"): (32, 64, 20, 256)}
#: Small-loss training of the cnn: after the first ``SMALL_LOSS_AFTER`` of the epochs, each
#: batch leaves out this share of its highest losses (the images likeliest to be mislabelled),
#: so the model fits flipped labels less and ranks them lower. CIFAR-10 test 10k, width 48 /
#: 12 epochs, bf16, seed 0: the best cut of the self-confidence ranking 0.794 -> 0.818 (20%
#: symmetric flips) and 0.618 -> 0.729 (10% class-pair), at 74.7% instead of 77.8% on clean
#: labels (it leaves out the hardest clean images too); 25% gave 0.757 (symmetric). Digits
#: (ResNet, 3 seeds) 20% class-pair F1 0.968 -> 0.975, Fashion-MNIST 0.894 -> 0.876
#: (benchmarks/ARCHIVE.md).
SMALL_LOSS = 0.15
SMALL_LOSS_AFTER = 0.25
#: Bump when a change to training changes the out-of-fold probabilities (cached CV results
#: carry it in their key).
RECIPE_VERSION = 7


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a model's training (the cached-CV key holds it)."""

    model: str
    net: str
    side: int
    width: int
    epochs: int
    batch_size: int
    lr: float
    decay: float
    smoothing: float
    mirror: bool
    precision: str = "fp32"
    #: share of each batch's highest losses left out after the warm-up (``SMALL_LOSS``)
    drop: float = 0.0
    version: int = RECIPE_VERSION


def recipe(model: str, x: np.ndarray, dev, *,
           epochs: int | None = None, lr: float | None = None, side: int | None = None,
           width: int | None = None, batch_size: int | None = None,
           mirror: bool | None = None, device_recipe: str | None = None,
           native: int | None = None, drop: float | None = None) -> Recipe:
    """The training recipe for ``model`` on ``x``:
    the device's defaults (``DEVICE_RECIPES``, by ``device_recipe`` or the device's kind)
    unless given; the cnn trains under bfloat16 autocast when the device that trains (``dev``)
    is CUDA or a CPU that computes bfloat16 in hardware. The cnn is the whitened net on colour
    photos and on grey images whose shorter side ``native`` (before thumbnailing; default:
    ``x``'s) is above ``DETAIL_SIDE``, and the ResNet on smaller grey images; ``mirror``
    defaults to on for colour photos (a mirrored cat is a cat) and off for grey ones (digits,
    letters, where a mirror can change the class). ``drop`` defaults to ``SMALL_LOSS`` for the
    cnn (small-loss training, for finding label errors) and 0 for probes. ``dev``: a
    torch.device or a device kind ("cpu", "cuda")."""
    trains_on = "cuda" if getattr(dev, "type", dev) == "cuda" else "cpu"
    kind = "cuda" if (device_recipe or trains_on) == "cuda" else "cpu"
    images = np.asarray(x).ndim == 4
    colour = bool(images and model == "cnn" and is_colour(np.asarray(x)))
    detailed = bool(images and (native or np.asarray(x).shape[1]) > DETAIL_SIDE)
    net = ("whitened" if colour or detailed else "resnet") if model == "cnn" else model
    # bfloat16 where the training device computes it (not where the recipe's numbers are from)
    bf16 = model == "cnn" and (trains_on == "cuda" or cpu_has_bf16())
    # a CPU with hardware bfloat16 has its own whitened-net entry; the ResNet keeps "cpu"'s
    d_side, d_width, d_epochs, d_batch = (
        kind == "cpu" and bf16 and DEVICE_RECIPES.get(("cpu-bf16", net))
        or DEVICE_RECIPES.get((kind, net), (0, 0, 0, 128)))
    d_side = d_side or DEVICE_RECIPES[(kind, "resnet")][0]  # linear/mlp on pixels: as the cnn
    d_epochs, d_lr, decay, smoothing = d_epochs or DEFAULTS[net][0], *DEFAULTS[net][1:]
    batch_size = batch_size or d_batch
    epochs = epochs or d_epochs
    if images:
        side = side or min(d_side, int(np.asarray(x).shape[1]))
        side = max(MIN_SIDE, side) if net == "whitened" else side
    if mirror is None:
        mirror = colour
    return Recipe(model, net, int(side) if images else 0, int(width or d_width), int(epochs),
                  int(batch_size), float(lr or d_lr), decay, smoothing,
                  bool(mirror and model == "cnn"), "bf16" if bf16 else "fp32",
                  float(drop if drop is not None else SMALL_LOSS if model == "cnn" else 0.0))


@functools.cache
def cpu_has_bf16() -> bool:
    """True when this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX; Linux's
    /proc/cpuinfo). There the cnn trains under bfloat16 autocast: 1.6x faster on an AMD EPYC
    (whitened net, width 32, channels-last, 1 thread: 0.73 -> 0.47 ms an image a step);
    without it bfloat16 is emulated and slower, so other CPUs train in float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def native_side(table) -> int | None:
    """The median shorter side of a scan table's images before thumbnailing (its ``width`` and
    ``height`` columns), for :func:`recipe`; None when the table has no sizes."""
    if not {"width", "height"} <= set(table.columns):
        return None
    sides = table[["width", "height"]].min(axis=1).to_numpy(dtype=float)
    return int(np.nanmedian(sides)) if np.isfinite(sides).any() else None


def is_colour(x: np.ndarray, sample: int = 512) -> bool:
    """True when the images (N, H, W, 3) are colour photos rather than grey ones: the
    channels differ by more than 4 levels on average over a sample."""
    if x.ndim != 4 or x.shape[-1] < 3:
        return False
    picked = x[np.linspace(0, len(x) - 1, min(len(x), sample)).astype(int)].astype(np.int16)
    return float(np.abs(picked[..., 0] - picked[..., 1]).mean()
                 + np.abs(picked[..., 1] - picked[..., 2]).mean()) / 2 > 4


def likely_device(device: str = "auto") -> str:
    """The device kind ``models.resolve_device(device)`` picks, guessed without importing
    torch: "cuda" for auto when torch is a CUDA build and an NVIDIA driver is loaded (Linux
    layouts; elsewhere "cpu"). It only picks which cached result to look up first: label_noise
    confirms with torch before it trains or skips, so a wrong guess costs that import."""
    if device != "auto":
        return device
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return "cpu"
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.origin:
        return "cpu"
    lib = Path(spec.origin).parent / "lib"
    cuda_build = any(lib.glob("libtorch_cuda*")) or any(lib.glob("libc10_cuda*"))
    driver = Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidiactl").exists()
    return "cuda" if cuda_build and driver else "cpu"
