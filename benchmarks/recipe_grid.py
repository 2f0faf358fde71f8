"""Accuracy per CPU-minute of the label-noise cnn: which (training images, epochs, width, side)
a fixed training budget should buy.

One split of CIFAR-10 test (../shared/datasets/cifar10-test): a stratified 2,000-photo held-out
set, and training samples of the other 8,000. Each row trains the whitened net (the package's
training loop, small-loss training included) on the clean labels of one sample and scores the
held-out photos (with and without test-time augmentation). One torch thread, so the CPU time is
the work done. Prints a Markdown table.

    python benchmarks/recipe_grid.py [--grid 8000x10x32x32 4000x20x32x32 ...] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import SHARED, header
from PIL import Image

from datacheck.learning import training
from datacheck.learning.recipes import recipe

CIFAR = SHARED / "cifar10-test"
GRID = ("8000x10x32x32", "4000x20x32x32", "8000x5x32x32", "8000x10x16x32", "8000x20x16x32",
        "8000x10x32x24")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grid", nargs="+", default=list(GRID),
                        help="IMAGESxEPOCHSxWIDTHxSIDE")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if not CIFAR.exists():
        raise SystemExit(f"{CIFAR} missing")
    torch.set_num_threads(args.threads)
    header("label-noise cnn: held-out accuracy per CPU-minute (CIFAR-10 test)")
    paths = sorted((CIFAR / "test").glob("*/*.jpg"))
    x = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
    names, y = np.unique([p.parent.name for p in paths], return_inverse=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    held = np.sort(np.concatenate([order[y[order] == c][:200] for c in range(10)]))
    pool = np.setdiff1d(np.arange(len(y)), held)
    pool = pool[rng.permutation(len(pool))]
    print("| training images | epochs | width | side | train CPU s | predict ms/image (6 views)"
          " | accuracy, 6 views | accuracy, 1 view |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for spec in args.grid:
        n, epochs, width, side = map(int, spec.split("x"))
        train = np.sort(np.concatenate([pool[y[pool] == c][:n // 10] for c in range(10)]))
        rc = recipe("cnn", x, "cpu", epochs=epochs, width=width, side=side)
        torch.manual_seed(0)
        data = training.to_device(x, "cnn", rc.side, torch.device("cpu"))
        target = torch.as_tensor(y)
        rows = torch.as_tensor(train)
        net = training.build(rc, data, rows, 10)
        cpu = time.process_time()
        training.fit(net, data, target, rows, rc, augment=True, seed=0,
                    bar=type("Bar", (), {"update": lambda self: None})())
        cpu = time.process_time() - cpu
        t = time.process_time()
        probs = training.predict(net, data[torch.as_tensor(held)], rc.batch_size)
        per_image = (time.process_time() - t) / len(held) * 1000
        acc = float((probs.argmax(1) == y[held]).mean())
        one = float((training.predict(net, data[torch.as_tensor(held)], rc.batch_size, tta=False)
                     .argmax(1) == y[held]).mean())
        print(f"| {len(train):,} | {epochs} | {width} | {side} | {cpu:.0f} | {per_image:.2f} | "
              f"{acc:.3f} | {one:.3f} |", flush=True)


if __name__ == "__main__":
    main()
