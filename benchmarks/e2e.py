"""End-to-end audit of a large folder of 640x480 JPEGs: seconds and peak memory.

The dataset (made once into benchmarks/_data/e2e<N>/, gitignored): N distinct 640x480 JPEGs
(quality 90), each a 2x2 mosaic of random crops of the 500 BSDS500 photos, in
``train/c0..c9`` (80%) and ``test/c0..c9`` (20%). Planted problems with known answers:
- 1% of the test images are copies of train images re-encoded at JPEG quality 70 (leaks);
- 0.5% of the train images are byte-identical copies of other train images (duplicates).

Measured, each run a fresh ``datacheck audit`` process (hash + integrity + duplicates + leakage
+ balance + reports written to --out):
1. local process pool, empty cache;
2. the same command again on the unchanged folder (everything from the cache);
3. a Dask ``LocalCluster`` (2 workers, 1 thread each) through ``--scheduler``, empty cache;
4. on the first ``--peer-count`` images only: datacheck (empty cache) and imagededup's
   ``PHash().encode_images`` + ``find_duplicates`` (peer venv, ``make bench-deps``).
With ``--before REV``, REV's first audit runs before all of these; ``--abba`` runs both first
audits again, in reverse order, after the unchanged run.
Peak memory is the largest sum of PSS over the audit process and its children, sampled every
0.2 s (PSS splits pages shared by forked workers instead of counting them in each).

    .venv/bin/python benchmarks/e2e.py                    # 100,000 images (~7 min to make)
    .venv/bin/python benchmarks/e2e.py --count 10000 --peer-count 5000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _common import DATA, HERE, SHARED, footer, header, peers_available, table
from PIL import Image

SOURCE = SHARED / "bsds500"
VENV_BIN = Path(sys.executable).parent
#: Bump when the recipe changes, so an old folder is rebuilt.
RECIPE = "v1"
CLASSES = 10
LEAK_RATE = 0.01
DUP_RATE = 0.005
_PHOTOS: list[np.ndarray] = []


def _load_photos() -> None:
    for p in sorted(SOURCE.glob("*/*.jpg")):
        with Image.open(p) as img:
            _PHOTOS.append(np.asarray(img.convert("RGB")))


def mosaic(photos: list[np.ndarray], k: int) -> Image.Image:
    """Image number ``k``: four random crops of ``photos`` (3:4 aspect, 120-320 px wide) as a
    2x2 grid."""
    rng = np.random.default_rng(k)
    canvas = Image.new("RGB", (640, 480))
    for tile in range(4):
        photo = photos[rng.integers(len(photos))]
        h, w = photo.shape[:2]
        cw = int(rng.integers(120, min(320, w, h * 4 // 3) + 1))
        ch = cw * 3 // 4
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        crop = Image.fromarray(photo[y:y + ch, x:x + cw]).resize((320, 240), Image.BILINEAR)
        canvas.paste(crop, ((tile % 2) * 320, (tile // 2) * 240))
    return canvas


def _write(job: tuple[int, str]) -> None:
    k, path = job
    mosaic(_PHOTOS, k).save(path, "JPEG", quality=90)


def make_dataset(count: int) -> tuple[Path, dict]:
    """The folder and the planted answers (cached in benchmarks/_data)."""
    if not list(SOURCE.glob("*/*.jpg")):
        print(f"skipped: no BSDS500 photos under {SOURCE} (see shared/datasets/README.md)")
        sys.exit(0)
    root = DATA / f"e2e{count}"
    stamp = DATA / f"e2e{count}.json"  # outside root: datacheck indexes every file in a tree
    if stamp.exists() and json.loads(stamp.read_text()).get("recipe") == RECIPE:
        return root, json.loads(stamp.read_text())
    shutil.rmtree(root, ignore_errors=True)
    n_test = count // 5
    n_train = count - n_test
    n_leak, n_dup = round(n_test * LEAK_RATE), round(n_train * DUP_RATE)
    rng = np.random.default_rng(12345)
    paths = []
    for split, n in (("train", n_train), ("test", n_test)):
        for c in range(CLASSES):
            (root / split / f"c{c}").mkdir(parents=True, exist_ok=True)
        paths += [f"{split}/c{i % CLASSES}/{split}{i:06d}.jpg" for i in range(n)]
    sources = rng.choice(n_train, n_leak + n_dup, replace=False)
    leak_src, dup_src = sources[:n_leak], sources[n_leak:]
    leak_dst = rng.choice(np.arange(n_train, count), n_leak, replace=False)
    dup_dst = rng.choice(np.setdiff1d(np.arange(n_train), sources), n_dup, replace=False)
    copies = set(leak_dst.tolist()) | set(dup_dst.tolist())
    t = time.perf_counter()
    _load_photos()
    jobs = [(k, str(root / p)) for k, p in enumerate(paths) if k not in copies]
    with multiprocessing.get_context("fork").Pool() as pool:
        for done, _ in enumerate(pool.imap_unordered(_write, jobs, chunksize=64), 1):
            if done % 10000 == 0:
                print(f"  made {done:,}/{len(jobs):,} images", file=sys.stderr)
    for s, d in zip(leak_src, leak_dst, strict=True):
        with Image.open(root / paths[s]) as img:
            img.save(root / paths[d], "JPEG", quality=70)
    for s, d in zip(dup_src, dup_dst, strict=True):
        shutil.copyfile(root / paths[s], root / paths[d])
    planted = {"recipe": RECIPE, "count": count, "seconds_to_make": time.perf_counter() - t,
               "leaks": sorted([paths[s], paths[d]] for s, d in zip(leak_src, leak_dst)),
               "duplicates": sorted([paths[s], paths[d]] for s, d in zip(dup_src, dup_dst))}
    stamp.write_text(json.dumps(planted))
    return root, planted


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = (task / "children").read_text().split()
                todo += [int(c) for c in kids]
        except OSError:
            pass
    return out


def _children_cpu() -> float:
    """CPU seconds (user + system) of the waited-for child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(cmd: list[str], env: dict | None = None) -> tuple[float, float, str, float]:
    """(seconds, peak MiB of the process tree's summed PSS, stdout, CPU seconds of the
    command and the workers it waited for) of one command. On a shared machine the CPU
    seconds are the steadier figure: wall time grows with other people's load."""
    peak = 0
    used = _children_cpu()
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, sum(_pss_kib(p) for p in _tree(proc.pid)))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - t
    stop.set()
    sampler.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {err.strip()[-2000:]}")
    return seconds, peak / 1024, out, _children_cpu() - used


def audit_cmd(target: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return [str(VENV_BIN / "datacheck"), "audit", str(target), "--checks",
            "integrity,duplicates,leakage,balance", "--out", str(out), "--cache", str(cache),
            "--no-progress", "--format", "markdown", *extra]


def recall(report: dict, planted: dict) -> tuple[str, str, int, int]:
    leaks = {tuple(sorted((f["a"], f["b"]))) for f in report["checks"]["leakage"]["findings"]}
    want = {tuple(sorted(p)) for p in planted["leaks"]}
    dup_pairs = set()  # pairs of paths in one duplicate cluster (exact or near)
    for f in report["checks"]["duplicates"]["findings"]:
        ps = sorted(f["paths"])
        dup_pairs |= {(a, b) for i, a in enumerate(ps) for b in ps[i + 1:]}
    want_dup = {tuple(sorted(p)) for p in planted["duplicates"]}
    return (f"{len(want & leaks)}/{len(want)}", f"{len(want_dup & dup_pairs)}/{len(want_dup)}",
            len(leaks - want), len(dup_pairs - want_dup))


def subset(root: Path, count: int, where: Path) -> tuple[Path, Path]:
    """The first ``count`` images (in path order) as symlinks: one flat folder (imagededup
    reads a folder's files) and the same files under one class folder (datacheck's layout)."""
    files = sorted(root.glob("*/*/*.jpg"))[:count]
    flat, tree = where / "flat", where / "tree" / "all"
    flat.mkdir(parents=True)
    tree.mkdir(parents=True)
    for f in files:
        name = f"{f.parent.parent.name}_{f.parent.name}_{f.name}"
        (flat / name).symlink_to(f)
        (tree / name).symlink_to(f)
    return flat, tree.parent


def peer_e2e(folder: Path, workers: int) -> tuple[float, float, int]:
    """imagededup encode_images + find_duplicates (T=10) in the peer venv: seconds, MiB, pairs."""
    peers_python = Path(__file__).parent / ".venv-peers" / "bin" / "python"
    seconds, mib, out, _ = measured([str(peers_python), "-W", "ignore",
                                  str(Path(__file__).parent / "_peers.py"), "dedup",
                                  str(folder), "10", str(workers)])
    return seconds, mib, json.loads(out.strip().splitlines()[-1])["pairs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="images (default 100,000)")
    parser.add_argument("--peer-count", type=int, default=10_000,
                        help="images for the imagededup comparison (0: skip)")
    parser.add_argument("--skip-dask", action="store_true", help="leave the LocalCluster run out")
    parser.add_argument("--before", metavar="REV", default=None,
                        help="also audit with datacheck as of git revision REV (a temporary "
                             "worktree first on PYTHONPATH), for a before/after table")
    parser.add_argument("--abba", action="store_true",
                        help="with --before: time both first audits again in reverse order "
                             "(before, after, after, before), so that a load growing during "
                             "the run favours neither side")
    args = parser.parse_args()

    header("end-to-end audit")
    root, planted = make_dataset(args.count)
    files = sorted(root.glob("*/*/*.jpg"))
    total = sum(f.stat().st_size for f in files)
    for f in files:  # every run reads from the page cache
        f.read_bytes()
    print(f"{len(files):,} JPEGs of 640x480 (q=90, {total / 2**30:.1f} GiB) in "
          f"{root.relative_to(DATA.parent.parent)}: {len(planted['leaks'])} planted train->test "
          f"leaks (q=70 re-encodes), {len(planted['duplicates'])} planted byte-identical train "
          f"duplicates; page cache warm")
    sys.stdout.flush()
    rows, found = [], []
    with tempfile.TemporaryDirectory(prefix="dc-e2e-") as tmp:
        tmp = Path(tmp)
        runs = [("local pool, empty cache", "cache", [], {}),
                ("local pool, second run (unchanged)", "cache", [], {})]
        if args.before:
            old = tmp / "before"
            subprocess.run(["git", "-C", str(HERE.parent), "worktree", "add", "--detach",
                            str(old), args.before], check=True, capture_output=True)
            runs.insert(0, (f"datacheck at {args.before} (before), empty cache", "cache-before",
                            [], {"PYTHONPATH": str(old)}))
            if args.abba:
                runs += [("local pool, empty cache, again", "cache-again", [], {}),
                         (f"datacheck at {args.before} (before), empty cache, again",
                          "cache-before-again", [], {"PYTHONPATH": str(old)})]
        if not args.skip_dask:
            runs.append(("Dask LocalCluster (2 workers), empty cache", "cache-dask",
                         ["--scheduler", "LOCALCLUSTER"], {}))
        # numba caches compiled kernels per source file: a fresh worktree would pay its JIT
        # (~30-40 s) inside the timed run, so each code tree audits 200 images first, untimed
        _, warm = subset(root, 2000, tmp / "warm")
        for k, env in enumerate({str(e): e for _, _, _, e in runs}.values()):
            measured(audit_cmd(warm, tmp / f"warm-out-{k}", tmp / f"warm-cache-{k}"), env)
        cluster = None
        for name, cache, extra, env in runs:
            if extra and extra[-1] == "LOCALCLUSTER":
                from distributed import LocalCluster

                cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
                extra = ["--scheduler", cluster.scheduler_address]
            out = tmp / f"out-{len(rows)}"
            seconds, mib, _, cpu = measured(audit_cmd(root, out, tmp / cache, *extra), env)
            report = json.loads((out / "report.json").read_text())
            rows.append([name, f"{len(files):,}", f"{seconds:.1f}", f"{cpu:.1f}",
                         f"{len(files) / seconds:,.0f}", f"{mib:,.0f}", report["status"]])
            found.append([name, *recall(report, planted)])
        if args.before:
            subprocess.run(["git", "-C", str(HERE.parent), "worktree", "remove", "--force",
                            str(tmp / "before")], capture_output=True)
        if cluster is not None:
            note = ("; Dask workers run in the LocalCluster's own processes, outside the "
                    "measured process tree")
            cluster.close()
        else:
            note = ""
        table(["run", "images", "seconds", "CPU s", "images/s", "peak MiB (PSS)", "status"],
              rows)
        print(f"peak MiB: summed PSS of the audit process and its children{note}; CPU s: "
              "user + system of the audit and its worker processes")
        table(["run", "planted leaks found", "planted duplicates found", "other leak pairs",
               "other pairs in duplicate clusters"], found)
        rows = []
        if args.peer_count:
            why = peers_available()
            flat, tree = subset(root, args.peer_count, tmp / "peer")
            seconds, mib, _, _ = measured(audit_cmd(tree, tmp / "out-sub", tmp / "cache-sub"))
            rows.append([f"datacheck, first {args.peer_count:,} images, empty cache",
                         f"{args.peer_count:,}", f"{seconds:.1f}",
                         f"{args.peer_count / seconds:,.0f}", f"{mib:,.0f}", ""])
            if why is None:
                p_seconds, p_mib, pairs = peer_e2e(flat, 2)
                rows.append([f"imagededup PHash encode + find_duplicates (T=10), same "
                             f"{args.peer_count:,}", f"{args.peer_count:,}",
                             f"{p_seconds:.1f}", f"{args.peer_count / p_seconds:,.0f}",
                             f"{p_mib:,.0f}", f"{pairs:,} pairs"])
                print(f"imagededup / datacheck on {args.peer_count:,} images: "
                      f"{p_seconds / seconds:.1f}x the time")
            else:
                print(f"imagededup left out: {why}")
            table(["run", "images", "seconds", "images/s", "peak MiB (PSS)", "pairs"], rows)
    footer()


if __name__ == "__main__":
    main()
