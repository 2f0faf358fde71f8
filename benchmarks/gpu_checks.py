"""The GPU run's checks beside benchmarks/label_noise.py (called by benchmarks/gpu.sh).

1. Time: the default label-noise budget (``--train-minutes 4``) on a 50,000-image colour set
   (CIFAR-10 test, each photo also mirrored, shifted by 2 px, both, and darkened 10%), on CUDA:
   wall seconds, the plan the budget bought, accuracy.
2. Agreement: the same recipe (the CPU's numbers) cross-validated on the CPU and on CUDA, on
   scikit-learn's digits with 10% of labels flipped: flagged images on each, their overlap,
   and the mean absolute difference of the probabilities.

    python benchmarks/gpu_checks.py [--images 50000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from _common import SHARED, header
from label_noise import corrupt, digits
from PIL import Image

from datacheck.checks.label_noise import check_label_noise
from datacheck.learning.models import cross_val_probs

CIFAR = SHARED / "cifar10-test"


def colour_set(n: int):
    paths = sorted((CIFAR / "test").glob("*/*.jpg"))
    x = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
    y = np.array([p.parent.name for p in paths])
    variants = [x, x[:, :, ::-1], np.roll(x, 2, axis=(1, 2)), np.roll(x[:, :, ::-1], 2, axis=1),
                (x * 0.9).astype(np.uint8)]
    reps = -(-n // len(x))
    return np.concatenate(variants[:reps])[:n], np.tile(y, reps)[:n]


def flagged(probs, classes, labels) -> set:
    table = pd.DataFrame({"path": np.arange(len(labels)).astype(str), "split": "train",
                          "label": labels})
    return set(check_label_noise(table, probs, classes).findings["path"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=50_000)
    args = parser.parse_args()
    header("label noise on the GPU: the default budget at 50k, CPU vs CUDA agreement")
    print(f"device: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")
    if CIFAR.exists():
        x, y = colour_set(args.images)
        t = time.perf_counter()
        cv = cross_val_probs(x, y, device="auto", budget=240, progress=False)
        print(f"\n| images | device | wall s | plan | accuracy |\n|---:|---|---:|---|---:|\n"
              f"| {len(y):,} | {cv.device} | {time.perf_counter() - t:.1f} | "
              f"{cv.plan.as_dict()} | {cv.accuracy:.3f} |", flush=True)
    x, _, target = digits()
    labels, flipped = corrupt(target, 0.1, "symmetric", np.random.default_rng(0))
    labels = labels.astype(str)
    runs = {}
    for device in ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",):
        t = time.perf_counter()
        cv = cross_val_probs(x, labels, device=device, device_recipe="cpu", native=8,
                             progress=False)
        runs[device] = (cv, flagged(cv.probs, cv.classes, labels), time.perf_counter() - t)
    truth = set(np.flatnonzero(flipped).astype(str))
    print("\n| digits 10% flipped | seconds | accuracy | flagged | of them flipped |")
    print("|---|---:|---:|---:|---:|")
    for device, (cv, flags, secs) in runs.items():
        print(f"| {device} ({cv.recipe.precision}) | {secs:.1f} | {cv.accuracy:.3f} | "
              f"{len(flags)} | {len(flags & truth)} |")
    if len(runs) == 2:
        (a, fa, _), (b, fb, _) = runs["cpu"], runs["cuda"]
        print(f"\nflag overlap (Jaccard) {len(fa & fb) / max(len(fa | fb), 1):.3f}; mean |p_cpu - "
              f"p_cuda| {np.abs(a.probs - b.probs).mean():.4f}")


if __name__ == "__main__":
    main()
