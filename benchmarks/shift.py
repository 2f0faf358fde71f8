"""Power and false-positive rate of the shift check against simple peers, on digits.

Each trial draws n images for the first split and n other images for the second, applies a
shift to the second, and runs: datacheck's shift check, raw-pixel KS with Bonferroni, and an
MMD permutation test (RBF kernel, median heuristic). Images go through datacheck's own decoder
(PNG bytes -> properties and thumbnails) once per variant, so trials are cheap.

    python benchmarks/shift.py --trials 200            # full table (~25 min on 2 cores)
    python benchmarks/shift.py --trials 40 --sizes 200 # quick look
"""

from __future__ import annotations

import argparse
import io
import time
import warnings

import numpy as np
import pandas as pd
from PIL import Image
from scipy import stats
from sklearn.datasets import load_digits

from datacheck.checks.shift import check_shift
from datacheck.features.images import decode_bytes

SCENARIOS = ["none", "brightness x0.95", "noise sd=1/16", "10% corrupted", "90% one class"]


def digits_images() -> tuple[np.ndarray, np.ndarray]:
    d = load_digits()
    imgs = np.stack([np.asarray(Image.fromarray((x * 255 / 16).astype(np.uint8)).resize(
        (32, 32), Image.BILINEAR)) for x in d.images])
    return imgs, d.target


def variant(imgs: np.ndarray, name: str, rng) -> np.ndarray:
    x = imgs.astype(np.float32)
    if name == "brightness x0.95":
        x = x * 0.95
    elif name == "noise sd=1/16":
        x = x + rng.normal(0, 255 / 16, x.shape)
    elif name == "corrupted":
        x = x + rng.normal(0, 255 / 2, x.shape)  # strong corruption
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def features(imgs: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    rows, thumbs = [], []
    for im in imgs:
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, "PNG")
        d = decode_bytes(buf.getvalue())
        rows.append(d)
        thumbs.append(np.frombuffer(d.thumb, np.uint8).reshape(32, 32, 3))
    frame = pd.DataFrame([r.__dict__ for r in rows]).drop(columns="thumb")
    return frame, np.stack(thumbs)


def mmd_test(a: np.ndarray, b: np.ndarray, rng, permutations: int = 200) -> float:
    """Biased MMD^2 with an RBF kernel (median heuristic); p-value by label permutation.

    MMD^2 = w^T K w with w = +1/n for the first sample and -1/m for the second, so all
    permutations are one matrix product.
    """
    z = np.vstack([a, b]).astype(np.float64)
    sq = (z * z).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0)
    k = np.exp(-d2 / np.median(d2[d2 > 0]))
    n, m = len(a), len(b)
    w = np.concatenate([np.full(n, 1 / n), np.full(m, -1 / m)])
    perms = np.stack([w] + [rng.permutation(w) for _ in range(permutations)], axis=1)
    stats_ = np.einsum("ip,ip->p", perms, k @ perms)
    return (1 + np.sum(stats_[1:] >= stats_[0])) / (1 + permutations)


def pixel_ks(a: np.ndarray, b: np.ndarray) -> float:
    """KS on every non-constant pixel (asymptotic p-values), Bonferroni over pixels."""
    a, b = a.reshape(len(a), -1).astype(float), b.reshape(len(b), -1).astype(float)
    n, m = len(a), len(b)
    pvals = []
    for c in range(a.shape[1]):
        x, y = np.sort(a[:, c]), np.sort(b[:, c])
        if x[0] == x[-1] == y[0] == y[-1]:
            continue
        grid = np.concatenate([x, y])
        d = np.abs(np.searchsorted(x, grid, "right") / n - np.searchsorted(y, grid, "right") / m)
        pvals.append(stats.kstwobign.sf(d.max() * np.sqrt(n * m / (n + m))))
    return min(1.0, min(pvals) * len(pvals)) if pvals else 1.0


def trial(pool, labels, scenario, n, rng, alpha=0.05, peers=True):
    base, shifted = pool["none"], pool
    idx = rng.permutation(len(labels))
    a_idx = idx[:n]
    rest = idx[n:]
    corrupted = np.zeros(n, bool)
    if scenario == "90% one class":
        major = rng.integers(10)
        ones, others = rest[labels[rest] == major], rest[labels[rest] != major]
        k = min(int(0.9 * n), len(ones))
        b_idx = np.concatenate([ones[:k], others[: n - k]])
        source = base
    else:
        b_idx = rest[:n]
        source = shifted.get(scenario, base)
    frame_a, pix_a = base[0].iloc[a_idx], base[1][a_idx]
    frame_b, pix_b = source[0].iloc[b_idx].copy(), source[1][b_idx].copy()
    if scenario == "10% corrupted":
        corrupted[: n // 10] = True
        bad = shifted["corrupted"]
        frame_b.iloc[: n // 10] = bad[0].iloc[b_idx[: n // 10]].to_numpy()
        pix_b[: n // 10] = bad[1][b_idx[: n // 10]]
    table = pd.concat([frame_a, frame_b], ignore_index=True)
    table["split"] = ["train-val"] * n + ["test-val"] * n
    table["label"] = np.concatenate([labels[a_idx], labels[b_idx]]).astype(str)
    table["path"] = [f"a{k}" for k in range(n)] + [
        f"{'bad' if c else 'b'}{k}" for k, c in enumerate(corrupted)]
    pixels = np.concatenate([pix_a, pix_b])
    out = {}
    t = time.perf_counter()
    result = check_shift(table, pixels, between=("train-val", "test-val"), alpha=alpha,
                         seed=int(rng.integers(1 << 30)))
    out["datacheck"] = (result.status == "fail", time.perf_counter() - t)
    if scenario == "10% corrupted":
        top = result.findings[result.findings["kind"] == "image"]["path"].head(20)
        out["top20_precision"] = float(top.str.startswith("bad").mean()) if len(top) else 0.0
    if not peers:
        return out
    t = time.perf_counter()
    out["pixel KS+Bonferroni"] = (pixel_ks(pix_a, pix_b) < alpha, time.perf_counter() - t)
    t = time.perf_counter()
    gray_a = pix_a.mean(-1).reshape(n, -1) / 255
    gray_b = pix_b.mean(-1).reshape(n, -1) / 255
    out["MMD permutation"] = (mmd_test(gray_a, gray_b, rng) < alpha, time.perf_counter() - t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 800])
    parser.add_argument("--scenarios", nargs="+", default=SCENARIOS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-peers", action="store_true", help="time datacheck only")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*Exact calculation unsuccessful.*")
    rng = np.random.default_rng(args.seed)
    imgs, labels = digits_images()
    pool = {"none": features(imgs)}
    for name in ("brightness x0.95", "noise sd=1/16", "corrupted"):
        pool[name] = features(variant(imgs, name, rng))
    print(f"digits: {len(imgs)} images, {args.trials} trials per cell, alpha 0.05")
    print("| shift | n per side | method | rejection rate | seconds per test |")
    print("|---|---|---|---|---|")
    for scenario in args.scenarios:
        for n in args.sizes:
            if 2 * n > len(imgs):
                continue
            runs = [trial(pool, labels, scenario, n, rng, peers=not args.no_peers)
                    for _ in range(args.trials)]
            for method in [m for m in ("datacheck", "pixel KS+Bonferroni", "MMD permutation")
                           if m in runs[0]]:
                rate = np.mean([r[method][0] for r in runs])
                secs = np.mean([r[method][1] for r in runs])
                print(f"| {scenario} | {n} | {method} | {rate:.3f} | {secs:.3f} |", flush=True)
            if scenario == "10% corrupted":
                prec = np.mean([r["top20_precision"] for r in runs])
                print(f"| {scenario} | {n} | datacheck top-20 precision | {prec:.3f} | |",
                      flush=True)


if __name__ == "__main__":
    main()
