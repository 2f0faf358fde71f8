"""Label-noise detection: datacheck (CNN, CPU) vs cleanlab on 5-fold LogisticRegression.

Digits (scikit-learn, 1,797 8x8 images) with 10% and 20% symmetric noise and 20% asymmetric
(class-pair: c -> c+1) noise; then a 6,000-image Fashion-MNIST subset with 10% symmetric noise;
then CIFAR-10 test (10,000 real 32x32 photos, ../shared/datasets/cifar10-test) with clean labels
(recall/precision on the 54 labels human reviewers judged wrong, label_errors.csv), 10% / 20%
symmetric and 10% class-pair noise injected.
Both tools get the same noisy labels; precision/recall/F1 are against the flipped set, seconds
are the cross-validation time (the part that depends on the model), wall and CPU (the CPU time
is the steadier figure on a shared machine; with one torch thread it is the work done). Each
digits setting runs once per noise seed (``--seeds``, default 0 1 2: a different flipped set and
CV split each), then a summary gives the mean and the worst seed; Fashion-MNIST runs with the
first seed. The model is the package's recipe for the images' size (digits 8x8: the ResNet at
16 px; Fashion-MNIST 28x28 and CIFAR-10: the whitened net at 32 px).

``--probs DIR`` keeps each setting's out-of-fold probabilities (keyed by data, noise, seed and
recipe) and reuses them on the next run: a change to the flagging rule is then re-measured
in seconds, without training (say so when quoting such a run).

    python benchmarks/label_noise.py [--seeds 0 1 2] [--fashion 6000] [--cifar 10000]
        [--data digits fashion cifar] [--cifar-noise clean 0.1s 0.2s 0.1p] [--side S]
        [--width W] [--epochs E] [--minutes M] [--probs DIR]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _common import SHARED
from cleanlab.filter import find_label_issues
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict

from datacheck.checks.label_noise import check_label_noise
from datacheck.learning.models import cross_val_probs, resolve_device
from datacheck.learning.recipes import recipe

FMNIST = Path("/usr/share/datasets/fashion-mnist")
CIFAR = SHARED / "cifar10-test"
#: model settings for datacheck (--side/--width/--epochs; None = the device's recipe)
MODEL_ARGS: dict = {}
#: the training budget in minutes (--minutes, as the audit's --train-minutes; None: no budget)
BUDGET: dict = {"minutes": 4.0}
#: folder of saved out-of-fold probabilities (--probs); None: always train
PROBS: Path | None = None


def cifar(n: int):
    """CIFAR-10 test photos (first n in path order, stratified by taking every k-th), PCA-100
    pixels for the peer, labels, relative paths and the set of real label errors."""
    from sklearn.decomposition import PCA
    paths = sorted(p.relative_to(CIFAR).as_posix() for p in (CIFAR / "test").glob("*/*.jpg"))
    paths = paths[::max(1, len(paths) // n)][:n]
    thumbs = np.stack([np.asarray(Image.open(CIFAR / p).convert("RGB")) for p in paths])
    names, labels = np.unique([p.split("/")[1] for p in paths], return_inverse=True)
    pixels = PCA(100, random_state=0).fit_transform(thumbs.reshape(len(thumbs), -1) / 255.0)
    errors = set(pd.read_csv(CIFAR / "label_errors.csv")["path"])
    return thumbs, pixels, labels, np.array(paths), np.isin(paths, list(errors))


def digits():
    d = load_digits()
    thumbs = np.stack([np.asarray(Image.fromarray((x * 255 / 16).astype(np.uint8)).resize(
        (32, 32), Image.BOX).convert("RGB")) for x in d.images])  # what the scan stores
    return thumbs, d.data / 16.0, d.target


def fashion(n: int):
    with gzip.open(FMNIST / "train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    with gzip.open(FMNIST / "train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)[:n].astype(int)
    thumbs = np.stack([np.asarray(Image.fromarray(x).resize((32, 32), Image.BOX).convert("RGB"))
                       for x in images])
    return thumbs, images.reshape(n, -1) / 255.0, labels


def corrupt(labels, rate, kind, rng):
    noisy = labels.copy()
    if rate == 0:
        return noisy, np.zeros(len(labels), bool)
    flip = rng.choice(len(labels), int(rate * len(labels)), replace=False)
    k = labels.max() + 1
    noisy[flip] = (labels[flip] + (rng.integers(1, k, len(flip)) if kind == "symmetric"
                                   else 1)) % k
    truth = np.zeros(len(labels), bool)
    truth[flip] = True
    return noisy, truth


def score(flagged, truth):
    tp = int((flagged & truth).sum())
    p = tp / max(int(flagged.sum()), 1)
    r = tp / max(int(truth.sum()), 1)
    return p, r, 2 * p * r / max(p + r, 1e-12)


def oof(name, thumbs, noisy, seed, native, setting):
    """Out-of-fold probabilities, classes, accuracy, wall and CPU seconds of the package's
    cnn; from ``PROBS`` when saved there for the same data, noise, seed and recipe."""
    rc = recipe("cnn", thumbs, resolve_device(), native=native,
                **MODEL_ARGS)
    tag = hashlib.sha1(f"{name}|{setting}|{seed}|{rc}|{BUDGET}".encode()).hexdigest()[:16]
    saved = PROBS / f"{tag}.npz" if PROBS else None
    if saved and saved.exists():
        with np.load(saved) as z:
            print(f"<!-- {name}: recipe {rc}, out-of-fold probabilities from {saved} -->")
            return (z["probs"], z["classes"], float(z["accuracy"]), float(z["secs"]),
                    float(z["cpu"]))
    t, cpu = time.perf_counter(), time.process_time()
    minutes = BUDGET["minutes"]
    cv = cross_val_probs(thumbs, noisy, model="cnn", seed=seed, native=native, **MODEL_ARGS,
                         budget=minutes * 60 if minutes else None, progress=False)
    secs, cpu = time.perf_counter() - t, time.process_time() - cpu
    print(f"<!-- {name}: recipe {cv.recipe}, plan {cv.plan.as_dict()}, CV CPU time {cpu:.0f} s "
          f"on {torch.get_num_threads()} thread(s) -->", flush=True)
    if saved:
        saved.parent.mkdir(parents=True, exist_ok=True)
        np.savez(saved, probs=cv.probs, classes=cv.classes, accuracy=cv.accuracy, secs=secs,
                 cpu=cpu)
    return cv.probs, cv.classes, cv.accuracy, secs, cpu


def run(name, thumbs, pixels, labels, rate, kind, seed, native=None, truth=None, peer_c=0.1):
    """One noisy copy of the labels, both tools; returns rows (setting, tool, seed, p, r, F1,
    seconds, out-of-fold accuracy). ``native``: the images' side before the 32x32 thumbnails
    (decides the recipe, as in an audit); ``truth``: known real errors, scored when no noise
    is injected (CIFAR-10's 54)."""
    rng = np.random.default_rng(seed)
    noisy, injected = corrupt(labels, rate, kind, rng)
    truth = injected if truth is None or rate else truth
    setting = (name, f"{rate:.0%} {kind}" if rate else "real errors (54)")
    rows = []
    probs, classes, accuracy, secs, cpu = oof(name, thumbs, noisy, seed, native, setting[1])
    table = pd.DataFrame({"path": np.arange(len(noisy)).astype(str), "split": "train",
                          "label": noisy.astype(str)})
    found = check_label_noise(table, probs, classes).findings
    flagged = np.isin(table["path"], found["path"])
    rows.append((*setting, "datacheck cnn", seed, *score(flagged, truth), secs, cpu,
                 accuracy))
    t, cpu = time.perf_counter(), time.process_time()
    lr = LogisticRegression(C=peer_c, max_iter=2000)  # digits: best of C in 0.01/0.1/1
    probs = cross_val_predict(lr, pixels, noisy, cv=5, method="predict_proba")
    secs, cpu = time.perf_counter() - t, time.process_time() - cpu
    flagged = find_label_issues(noisy, probs, filter_by="prune_by_noise_rate")
    rows.append((*setting, "cleanlab + LogisticRegression", seed, *score(flagged, truth), secs,
                 cpu, float((probs.argmax(1) == noisy).mean())))
    for row in rows:
        data, noise, tool, seed, p, r, f1, secs, cpu, acc = row
        print(f"| {data} | {noise} | {tool} | {seed} | {p:.3f} | {r:.3f} | {f1:.3f} | "
              f"{secs:.1f} | {cpu:.1f} | {acc:.3f} | {os.getloadavg()[0]:.1f} |", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fashion", type=int, default=6000)
    parser.add_argument("--cifar", type=int, default=10000)
    parser.add_argument("--data", nargs="+", default=["digits", "fashion", "cifar"])
    parser.add_argument("--cifar-noise", nargs="+", default=["clean", "0.1s", "0.2s", "0.1p"])
    parser.add_argument("--side", type=int)
    parser.add_argument("--width", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--minutes", type=float, default=4.0,
                        help="label_noise's training budget (--train-minutes; 0: none)")
    parser.add_argument("--probs", type=Path, help="save/reuse out-of-fold probabilities here")
    args = parser.parse_args()
    global PROBS
    PROBS = args.probs
    BUDGET["minutes"] = args.minutes or None
    MODEL_ARGS.update({k: v for k in ("side", "width", "epochs")
                       if (v := getattr(args, k)) is not None})
    print("| data | noise | method | seed | precision | recall | F1 | CV seconds | CV CPU "
          "seconds | OOF accuracy (vs noisy labels) | load |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    if "digits" in args.data:
        data = digits()
        for rate, kind in ((0.1, "symmetric"), (0.2, "symmetric"), (0.2, "asymmetric")):
            for seed in args.seeds:
                rows += run("digits", *data, rate, kind, seed, native=8)
    if "fashion" not in args.data:
        pass
    elif FMNIST.exists() and args.fashion:
        rows += run(f"fashion-mnist {args.fashion:,}", *fashion(args.fashion), 0.1, "symmetric",
                    args.seeds[0], native=28)
    elif args.fashion:
        print(f"fashion-mnist skipped: {FMNIST} missing (apt-get install dataset-fashion-mnist)")
    if "cifar" in args.data and CIFAR.exists():
        thumbs, pixels, labels, _, real = cifar(args.cifar)
        name = f"cifar10-test {len(labels):,}"
        for spec in args.cifar_noise:
            rate, kind = (0.0, "clean") if spec == "clean" else \
                (float(spec[:-1]), {"s": "symmetric", "p": "asymmetric"}[spec[-1]])
            rows += run(name, thumbs, pixels, labels, rate, kind, args.seeds[0], truth=real,
                        peer_c=0.01)
    elif "cifar" in args.data:
        print(f"cifar10-test skipped: {CIFAR} missing")
    frame = pd.DataFrame(rows, columns=["data", "noise", "method", "seed", "p", "r", "f1", "secs",
                                        "cpu", "acc"])
    print("\n| data | noise | method | seeds | precision mean | recall mean | F1 mean | F1 min | "
          "CV seconds mean / max |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for (data, noise, tool), g in frame.groupby(["data", "noise", "method"], sort=False):
        print(f"| {data} | {noise} | {tool} | {len(g)} | {g.p.mean():.3f} | {g.r.mean():.3f} | "
              f"{g.f1.mean():.3f} | {g.f1.min():.3f} | {g.secs.mean():.1f} / {g.secs.max():.1f} |")


if __name__ == "__main__":
    main()
