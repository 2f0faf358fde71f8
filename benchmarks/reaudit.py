"""What label noise costs an unchanged re-audit: the out-of-fold probabilities are cached, so
re-auditing with label_noise should take about as long as without it (issue 12: <= 1.2x).

    .venv/bin/python benchmarks/reaudit.py [--per-class 200] [--runs 3] [--epochs N]

Data: CIFAR-10 test photos (../shared/datasets/cifar10-test), ``--per-class`` a class, copied
once into benchmarks/_data/reaudit<N>/{train,test}/CLASS/ (4:1). One audit with every check
fills the cache (that one trains the 5 folds); then ``--runs`` re-audits with every check and
``--runs`` without label_noise, alternating, each timed (wall and CPU of the process tree).
``--epochs N`` is passed to every audit: the first one trains faster, the re-audits are the
same work whatever the model (a cached cross-validation is read, not trained).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, SHARED, header, load, table  # noqa: E402

CHECKS = "integrity,quality,duplicates,leakage,balance,splits,shortcuts,order,label_noise,shift"
WITHOUT = CHECKS.replace("label_noise,", "")
DATACHECK = str(Path(sys.executable).parent / "datacheck")


def build(per_class: int) -> Path:
    root = DATA / f"reaudit{per_class}"
    if root.exists():
        return root
    tmp = Path(tempfile.mkdtemp(dir=DATA))
    for folder in sorted((SHARED / "cifar10-test" / "test").iterdir()):
        for k, src in enumerate(sorted(folder.iterdir())[:per_class]):
            split = "test" if k % 5 == 4 else "train"
            dst = tmp / split / folder.name / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    tmp.rename(root)
    return root


def timed(root: Path, checks: str, cache: Path, out: Path, extra: list[str]
          ) -> tuple[float, float, int]:
    """(wall s, CPU s of the audit and its children, exit code)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    rc = subprocess.run([DATACHECK, "audit", str(root), "--checks", checks, "--cache", str(cache),
                         "--out", str(out), "--no-progress", "--format", "json", *extra],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, rc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="label_noise --epochs")
    args = parser.parse_args()
    extra = ["--epochs", str(args.epochs)] if args.epochs else []
    header("unchanged re-audit with and without label noise")
    root = build(args.per_class)
    with tempfile.TemporaryDirectory() as tmp:
        cache, out = Path(tmp) / "cache", Path(tmp) / "out"
        wall, cpu, rc = timed(root, CHECKS, cache, out, extra)
        print(f"{root}: {10 * args.per_class:,} CIFAR-10 photos; first audit with label_noise "
              f"(trains the folds) {wall:.1f} s, {cpu:.1f} CPU s, exit {rc}")
        rows = {"with label_noise": [], "without label_noise": []}
        for _ in range(args.runs):
            rows["with label_noise"].append(timed(root, CHECKS, cache, out, extra))
            rows["without label_noise"].append(timed(root, WITHOUT, cache, out, extra))
    med = {k: (sorted(r[0] for r in v)[len(v) // 2], sorted(r[1] for r in v)[len(v) // 2])
           for k, v in rows.items()}
    base = med["without label_noise"]
    table(["re-audit", "runs", "median s", "median CPU s", "vs without (wall)", "vs without (CPU)"],
          [[k, len(rows[k]), f"{w:.2f}", f"{c:.2f}", f"{w / base[0]:.2f}x", f"{c / base[1]:.2f}x"]
           for k, (w, c) in med.items()])
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
