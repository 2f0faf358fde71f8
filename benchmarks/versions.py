"""Auditing the base of a change without a second work tree: `datacheck diff --rev HEAD~1 data`.

A dataset of N JPEGs under `dvc add` in a fresh git + DVC repository; a commit that touches
~1% of the files (renames, relabels, train -> test moves, additions, re-encodes). Timed in one
run, each as its own process (wall seconds, peak RSS of the process tree's largest member):

1. a fresh audit of the working tree (empty feature cache): what any first audit costs;
2. `datacheck diff --rev HEAD~1 data` with the feature cache of (1): the head is re-audited from
   the cache, the base is read at HEAD~1 through DVC, its unchanged files known by DVC's md5;
3. the same with an empty cache (a CI machine with nothing cached: the head is decoded in full);
4. today's way: `git worktree add` + `dvc checkout` of HEAD~1, `datacheck audit` of it (its own
   fresh cache, as examples/github-actions.yml did), the head audited with (1)'s cache, and
   `datacheck diff` of the two reports; and the same with the base sharing (1)'s cache.

    .venv/bin/python benchmarks/versions.py                 # N = 2,000 (~2 min)
    .venv/bin/python benchmarks/versions.py --count 100000  # the issue's size
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, header  # noqa: E402

BIN = Path(sys.executable).parent
CHECKS = "integrity,duplicates,leakage,balance"
CLASSES = [f"c{k}" for k in range(10)]
#: CPU seconds of each timed command, in order (the machine may be shared: wall is inflated).
CPU: list[float] = []


def env() -> dict:
    return {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def sh(cwd: Path, *args: str) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def timed(cwd: Path, *args: str, ok=(0, 1)) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stderr) of one command; its CPU seconds (user + system, its
    waited-for children included) are appended to CPU."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    CPU.append(usage.ru_utime + usage.ru_stime)
    code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        raise SystemExit(f"{' '.join(args)} exited {code}:\n{err}")
    return wall, usage.ru_maxrss / 1024, err


def image(rng: np.random.Generator, w: int = 320, h: int = 240) -> Image.Image:
    """A distinct photo-like image: smooth random colour fields plus fine noise."""
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    img = Image.fromarray(coarse).resize((w, h), Image.BICUBIC)
    px = np.asarray(img, dtype=np.int16) + rng.integers(-12, 13, (h, w, 3))
    return Image.fromarray(np.clip(px, 0, 255).astype(np.uint8))


def make_repo(root: Path, n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    data = root / "data"
    rels = []
    for k in range(n):
        split = "test" if k % 5 == 2 else "train"
        rel = f"{split}/{CLASSES[k % len(CLASSES)]}/img{k:06d}.jpg"
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        image(rng).save(data / rel, "JPEG", quality=90)
        rels.append(rel)
    sh(root, "git", "init", "-q")
    sh(root, "git", "config", "user.email", "bench@example.invalid")
    sh(root, "git", "config", "user.name", "bench")
    sh(root, "dvc", "init", "-q")
    (root / ".dvcignore").write_text(".datacheck\n")
    sh(root, "dvc", "add", "-q", "data")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "base")
    # ~1% of the files: 40% renamed, 20% relabelled, 10% train -> test, 20% added, 10% re-encoded
    changes = max(10, n // 100)
    pick = random.Random(seed).sample([r for r in rels if r.startswith("train/")],
                                      changes * 8 // 10)
    counts = {"renamed": changes * 4 // 10, "relabelled": changes * 2 // 10,
              "moved": changes // 10}
    counts["reencoded"] = len(pick) - sum(counts.values())
    counts["added"] = changes - len(pick)
    at = 0
    for kind in ("renamed", "relabelled", "moved", "reencoded"):
        for rel in pick[at:at + counts[kind]]:
            split, label, name = rel.split("/")
            src = data / rel
            if kind == "reencoded":
                Image.open(src).save(src, "JPEG", quality=70)
                continue
            new = {"renamed": f"{split}/{label}/r_{name}",
                   "relabelled": f"{split}/{CLASSES[(CLASSES.index(label) + 1) % 10]}/{name}",
                   "moved": f"test/{label}/{name}"}[kind]
            (data / new).parent.mkdir(parents=True, exist_ok=True)
            src.rename(data / new)
        at += counts[kind]
    for k in range(counts["added"]):
        rel = f"train/{CLASSES[k % 10]}/new{k:05d}.jpg"
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        image(rng).save(data / rel, "JPEG", quality=90)
    sh(root, "dvc", "add", "-q", "data")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "head")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="images in the dataset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the repository afterwards")
    parser.add_argument("--quick", action="store_true",
                        help="leave out the empty-cache diff and the shared-cache work tree")
    args = parser.parse_args()
    header(f"datacheck diff --rev on {args.count:,} JPEGs under dvc add, ~1% changed")
    work = DATA / f"versions-{args.count}"
    shutil.rmtree(work, ignore_errors=True)
    repo = work / "repo"
    repo.mkdir(parents=True)
    start = time.perf_counter()
    counts = make_repo(repo, args.count, args.seed)
    print(f"made the repository in {time.perf_counter() - start:.1f} s; change: "
          + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    dc = str(BIN / "datacheck")
    warm, cold, shared = work / "cache-head", work / "cache-cold", work / "cache-head"
    rows = []

    wall, rss, err = timed(repo, dc, "audit", "data", "--checks", CHECKS, "--cache", str(warm),
                           "--out", str(work / "head"), "--no-progress")
    fresh = wall
    rows.append(("fresh audit of the working tree (empty cache)", wall, rss, _decoded(err),
                 CPU[-1]))

    wall, rss, err = timed(repo, dc, "diff", "--rev", "HEAD~1", "data", "--cache", str(warm),
                           "--out", str(work / "rev"), "--no-progress", "--format", "json")
    rows.append(("`diff --rev HEAD~1 data`, head cache warm", wall, rss, _decoded(err),
                 CPU[-1]))
    rev_warm = wall
    diff = json.loads((work / "rev/diff.json").read_text())["data"]["summary"]

    if not args.quick:
        wall, rss, err = timed(repo, dc, "diff", "--rev", "HEAD~1", "data", "--cache",
                               str(cold), "--no-progress")
        rows.append(("`diff --rev HEAD~1 data`, empty cache", wall, rss, _decoded(err),
                     CPU[-1]))

    def two_trees(cache: Path | None, label: str) -> float:
        base = work / "base-tree"
        if base.exists():
            sh(repo, "git", "worktree", "remove", "--force", str(base))
        t0 = time.perf_counter()
        sh(repo, "git", "worktree", "add", "-q", str(base), "HEAD~1")
        sh(base, "dvc", "cache", "dir", "--local", str(repo / ".dvc" / "cache"))
        sh(base, "dvc", "checkout", "-q")
        checkout = time.perf_counter() - t0
        extra = ["--cache", str(cache)] if cache else []
        w1, r1, e1 = timed(base, dc, "audit", "data", "--checks", CHECKS, "--out",
                           str(work / "tree-base"), "--no-progress", *extra)
        w2, r2, _ = timed(repo, dc, "audit", "data", "--checks", CHECKS, "--cache", str(warm),
                          "--out", str(work / "tree-head"), "--no-progress")
        w3, r3, _ = timed(repo, dc, "diff", str(work / "tree-base/report.json"),
                          str(work / "tree-head/report.json"))
        total = checkout + w1 + w2 + w3
        rows.append((label + f" (checkout {checkout:.1f} s, base audit {w1:.1f} s, head "
                     f"{w2:.1f} s, diff {w3:.1f} s)", total, max(r1, r2, r3),
                     "base " + _decoded(e1), sum(CPU[-3:])))
        return total

    tree_fresh = two_trees(None, "second work tree, base with its own cache (today)")
    tree_shared = None if args.quick else two_trees(
        shared, "second work tree, base sharing the head's cache")

    print()
    print("| run | seconds | CPU seconds | peak RSS MiB | decoded |")
    print("|---|---:|---:|---:|---:|")
    for name, wall, rss, decoded, cpu in rows:
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {rss:.0f} | {decoded} |")
    print()
    print(f"data diff found: {', '.join(f'{v:,} {k}' for k, v in diff.items() if v)}")
    today = next(r for r in rows if r[0].startswith("second work tree, base with its own"))
    print(f"CPU: `diff --rev` (warm head cache) / fresh audit: {rows[1][4] / rows[0][4]:.2f}; "
          f"/ second work tree (today, checkout not counted): {rows[1][4] / today[4]:.2f}")
    print(f"`diff --rev` (warm head cache) / fresh audit: {rev_warm / fresh:.2f}; "
          f"/ second work tree (today): {rev_warm / tree_fresh:.2f}"
          + ("" if tree_shared is None else
             f"; / second work tree sharing the cache: {rev_warm / tree_shared:.2f}"))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; children "
          f"peak RSS {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MiB")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def _decoded(err: str) -> str:
    for line in err.splitlines():
        if line.startswith("decoded: head "):  # diff --rev
            head = line.split("decoded: head ")[1].split(" images")[0]
            base = line.split(" base at ")[1].split(" ")[1]
            return f"head {head}, base {base}"
        if "images decoded" in line:
            return line.split(" images decoded")[0]
    return "?"


if __name__ == "__main__":
    main()
