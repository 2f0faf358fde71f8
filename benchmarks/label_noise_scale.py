"""label_noise at scale under the default budget: wall seconds, the plan the budget bought,
and F1 on planted flips, for large colour datasets.

The images: CIFAR-10 test's 10,000 photos (10 classes) and 32x32 crops of the BSDS500 photos
(../shared/datasets), labelled in 10 more classes by photo (photo number mod 10: crops of one
photo share a class), up to ``--images``; 10% of all labels flipped at random. The thumbnails
are what the scan stores (32x32 RGB). Timed: ``cross_val_probs`` with ``--minutes`` of budget
(the audit's ``--train-minutes``) and the confident-learning check, as ``datacheck audit``
runs them.

    python benchmarks/label_noise_scale.py [--images 50000 200000] [--minutes 4]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from _common import SHARED, header
from label_noise import corrupt, score
from PIL import Image

from datacheck.checks.label_noise import check_label_noise
from datacheck.learning.models import cross_val_probs


def images(n: int, seed: int = 0):
    paths = sorted((SHARED / "cifar10-test" / "test").glob("*/*.jpg"))
    x = [np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])]
    y = [np.array([p.parent.name for p in paths])]
    photos = sorted((SHARED / "bsds500").glob("*/*.jpg"))
    rng = np.random.default_rng(seed)
    need, k = n - len(paths), 0
    per_photo = -(-need // len(photos))
    for number, path in enumerate(photos):
        if k >= need:
            break
        photo = np.asarray(Image.open(path).convert("RGB"))
        crops = []
        for _ in range(min(per_photo, need - k)):
            side = int(rng.integers(32, 97))  # 32-96 px regions, reduced to 32x32
            top = int(rng.integers(0, photo.shape[0] - side + 1))
            left = int(rng.integers(0, photo.shape[1] - side + 1))
            crops.append(np.asarray(Image.fromarray(photo[top:top + side, left:left + side])
                                    .resize((32, 32), Image.BOX)))
        x.append(np.stack(crops))
        y.append(np.full(len(crops), f"bsds{number % 10}"))
        k += len(crops)
    return np.concatenate(x)[:n], np.concatenate(y)[:n]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--minutes", type=float, default=4.0)
    args = parser.parse_args()
    header("label_noise at scale under the default budget")
    print("| images | wall s (CV + check) | plan | accuracy vs noisy labels | flagged | "
          "precision | recall | F1 |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for n in args.images:
        x, truth_labels = images(n)
        classes, codes = np.unique(truth_labels, return_inverse=True)
        noisy, truth = corrupt(codes, 0.1, "symmetric", np.random.default_rng(1))
        noisy = classes[noisy]
        t = time.perf_counter()
        cv = cross_val_probs(x, noisy, budget=args.minutes * 60, progress=False)
        table = pd.DataFrame({"path": np.arange(n).astype(str), "split": "train",
                              "label": noisy})
        result = check_label_noise(table, cv.probs, cv.classes, plan=cv.plan.as_dict())
        wall = time.perf_counter() - t
        flagged = np.isin(np.arange(n).astype(str), result.findings["path"])
        p, r, f1 = score(flagged, truth)
        print(f"| {n:,} | {wall:.0f} | {cv.plan.as_dict()} | {cv.accuracy:.3f} | "
              f"{int(flagged.sum()):,} | {p:.3f} | {r:.3f} | {f1:.3f} |", flush=True)


if __name__ == "__main__":
    main()
