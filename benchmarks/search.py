"""Exact Hamming-radius search over 64-bit hashes: datacheck vs faiss vs imagededup.

For each N: N - N/100 uniformly random 64-bit hashes plus N/100 planted near copies (a random
item with 0..threshold random bits flipped), shuffled. Every exact method must return the same
set of pairs (asserted), and that set must hold every planted pair (asserted).

Methods, each in a fresh subprocess so its peak memory (max RSS) is its own:
- ``datacheck.matching.neighbors.hamming_pairs(hashes, threshold)`` (multi-index hashing, numba, all
  cores). Its JIT warm-up (first calls on a small input: loading the numba cache from disk, or
  compiling when there is none) is timed separately and not counted in ``seconds``; a one-off
  line also times a compile from scratch (empty NUMBA_CACHE_DIR).
- ``matching.neighbors.hamming_pairs(..., method="brute")`` up to ``--brute-max`` (reference).
- faiss-cpu ``IndexBinaryFlat`` + ``range_search(codes, threshold + 1)`` (faiss keeps distances
  strictly below the radius), pairs i < j extracted from the result; up to
  ``--skip-faiss-above`` (default 100,000: at 1M it takes several minutes on 2 cores).
- imagededup ``PHash().find_duplicates(encoding_map=..., max_distance_threshold=T)`` (its
  default Cython brute force, in the peer venv) up to ``--imagededup-max`` (default 20,000).
``peak MB`` is the child's max RSS (interpreter, imports and the hashes included); ``added MB``
is that minus the child's RSS just before the search started.

    make bench-deps                                        # once: the imagededup venv
    .venv/bin/python benchmarks/search.py                  # 20k, 100k, 1M; faiss up to 100k
    .venv/bin/python benchmarks/search.py --skip-faiss-above 1000000   # faiss at 1M too
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import cores, footer, header, peers_available, table


def make_hashes(n: int, threshold: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint64 hashes and the planted pairs (k x 2, i < j) among them."""
    rng = np.random.default_rng(seed)
    k = n // 100
    base = rng.integers(0, 2**64, n - k, dtype=np.uint64, endpoint=False)
    src = rng.choice(n - k, k, replace=False)
    nflips = rng.integers(0, threshold + 1, k)
    # a random permutation of the 64 bit positions per copy; flip its first nflips[t] bits
    positions = np.argsort(rng.random((k, 64)), axis=1)
    take = np.arange(64)[None, :] < nflips[:, None]
    masks = np.where(take, np.uint64(1) << positions.astype(np.uint64), np.uint64(0))
    flips = np.bitwise_or.reduce(masks, axis=1)
    hashes = np.concatenate([base, base[src] ^ flips])
    perm = rng.permutation(n)  # where each item goes
    out = np.empty_like(hashes)
    out[perm] = hashes
    a, b = perm[src], perm[n - k + np.arange(k)]
    planted = np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)
    return out, planted


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(method: str, npy: str, threshold: int, out: str) -> None:
    """Run one method on the hashes in ``npy``; save the pairs to ``out``; print JSON."""
    hashes = np.load(npy)
    warm = 0.0
    if method.startswith("datacheck"):
        from datacheck.matching.neighbors import hamming_pairs

        t = time.perf_counter()
        hamming_pairs(hashes[:100], threshold)  # brute-force kernel
        hamming_pairs(hashes[:5000], threshold, method="mih")  # multi-index kernel
        warm = time.perf_counter() - t
        before = rss_mb()
        t = time.perf_counter()
        i, j, _ = hamming_pairs(hashes, threshold,
                                method="brute" if method == "datacheck-brute" else "auto")
        seconds = time.perf_counter() - t
    elif method == "faiss":
        import faiss

        codes = np.ascontiguousarray(hashes).view(np.uint8).reshape(len(hashes), 8)
        before = rss_mb()
        t = time.perf_counter()
        index = faiss.IndexBinaryFlat(64)
        index.add(codes)
        lims, _, ids = index.range_search(codes, threshold + 1)  # distance < radius
        rows = np.repeat(np.arange(len(hashes)), np.diff(lims).astype(np.int64))
        keep = rows < ids
        i, j = rows[keep], ids[keep].astype(np.int64)
        seconds = time.perf_counter() - t
    else:
        raise SystemExit(f"unknown method {method!r}")
    np.save(out, np.stack([i, j], axis=1).astype(np.int64))
    print(json.dumps({"seconds": seconds, "warmup": warm, "rss_before": before}))


def measure(method: str, npy: Path, threshold: int, env: dict | None = None) -> dict:
    """Run ``method`` in a child process; its JSON plus peak RSS and the pairs it found."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pairs.npy"
        if method == "imagededup":
            cmd = [str(Path(__file__).with_name(".venv-peers") / "bin" / "python"),
                   str(Path(__file__).with_name("_peers.py")), "search", str(npy),
                   str(threshold), str(cores()), str(out)]
        else:
            cmd = [sys.executable, __file__, "--child", method, str(npy), str(threshold),
                   str(out)]
        with open(Path(tmp) / "stderr.txt", "w+") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                                    env={**os.environ, **(env or {})})
            text = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
            if status != 0:
                err.seek(0)
                sys.stderr.write(err.read())
                raise SystemExit(f"{method} failed (status {status})")
        result = json.loads(text.strip().splitlines()[-1])
        result["peak_mb"] = usage.ru_maxrss / 1024
        pairs = np.load(out)
    result.setdefault("warmup", None)
    result.setdefault("rss_before", None)
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    result["pairs"] = pairs[order]
    return result


def compile_seconds(npy: Path, threshold: int) -> float:
    """JIT warm-up with an empty numba cache: the cost of compiling the kernels."""
    with tempfile.TemporaryDirectory() as tmp:
        return measure("datacheck", npy, threshold, env={"NUMBA_CACHE_DIR": tmp})["warmup"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 1_000_000])
    parser.add_argument("--threshold", type=int, default=10)
    parser.add_argument("--skip-faiss-above", type=int, default=100_000, metavar="N",
                        help="run faiss only for N <= this (default 100000)")
    parser.add_argument("--imagededup-max", type=int, default=20_000, metavar="N")
    parser.add_argument("--brute-max", type=int, default=20_000, metavar="N",
                        help="datacheck's brute-force kernel as a reference up to N")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]), args.child[3])
        return

    header("exact Hamming-radius search")
    print(f"threshold {args.threshold} bits; N hashes = 99% uniform random + 1% planted near "
          f"copies (0..{args.threshold} random bit flips); seed 0")
    peer_why = peers_available()
    if peer_why:
        print(f"imagededup left out: {peer_why}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            hashes, planted = make_hashes(n, args.threshold)
            npy = Path(tmp) / f"hashes{n}.npy"
            np.save(npy, hashes)
            if n == args.sizes[0]:
                print(f"numba compile from scratch (empty cache): "
                      f"{compile_seconds(npy, args.threshold):.1f} s")
            methods = ["datacheck"]
            if n <= args.brute_max:
                methods.append("datacheck-brute")
            if n <= args.skip_faiss_above:
                methods.append("faiss")
            if n <= args.imagededup_max and not peer_why:
                methods.append("imagededup")
            results = {}
            for method in methods:
                results[method] = r = measure(method, npy, args.threshold)
                found = {tuple(p) for p in r["pairs"].tolist()}
                missed = sum(tuple(p) not in found for p in planted.tolist())
                assert missed == 0, f"{method} missed {missed} planted pairs at N={n}"
                ref = results["datacheck"]["pairs"]
                assert np.array_equal(r["pairs"], ref), \
                    f"{method} and datacheck disagree at N={n}: {len(r['pairs'])} vs {len(ref)}"
            ours = results["datacheck"]["seconds"]
            for method in ("datacheck", "datacheck-brute", "faiss", "imagededup"):
                if method not in results:
                    why = {"datacheck-brute": "--brute-max", "faiss": "--skip-faiss-above",
                           "imagededup": peer_why or "--imagededup-max"}[method]
                    rows.append([f"{n:,}", NAMES[method], f"skipped ({why})", "", "", "",
                                 "", "", ""])
                    continue
                r = results[method]
                warm = "" if r["warmup"] is None else f"{r['warmup']:.2f}"
                added = "" if r["rss_before"] is None else f"{r['peak_mb'] - r['rss_before']:.0f}"
                rows.append([f"{n:,}", NAMES[method], f"{r['seconds']:.3f}", warm,
                             f"{len(r['pairs']):,}", f"{len(planted):,}/{len(planted):,}",
                             f"{r['peak_mb']:.0f}", added, f"{r['seconds'] / ours:.1f}x"])
            print(f"N={n:,}: {' = '.join(results)}: {len(results['datacheck']['pairs']):,} "
                  f"pairs; all {len(planted):,} planted pairs found", flush=True)
    table(["N", "method", "seconds", "warm-up s", "pairs", "planted found", "peak MB",
           "added MB", "time vs datacheck"],
          rows, align="llrrrrrrr")
    footer()


NAMES = {
    "datacheck": "datacheck hamming_pairs (auto: multi-index)",
    "datacheck-brute": "datacheck hamming_pairs(method='brute') (reference)",
    "faiss": "faiss IndexBinaryFlat.range_search",
    "imagededup": "imagededup PHash.find_duplicates (cython brute force)",
}


if __name__ == "__main__":
    main()
