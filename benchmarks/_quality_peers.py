"""cleanvision and fastdup image-quality flags, run by the PEER venv's Python (not the project's).

Peer venv (Python 3.11; fastdup 2.54 ships a cp311 manylinux wheel, no torch needed):
``make bench-quality`` makes benchmarks/.venv-quality with cleanvision==0.3.7 and fastdup==2.54.

Usage (``benchmarks/quality.py`` calls it)::

    benchmarks/.venv-quality/bin/python benchmarks/_quality_peers.py \
        --tool cleanvision|fastdup --images DIR --out FILE.csv

Runs the tool with its default settings on every .jpg/.jpeg/.png under DIR (recursive) and writes
``path,kind,score``: one row per (image, issue) the tool flags, ``path`` relative to DIR. Duplicate
issues are dropped. The tool's own output goes to stderr; stdout gets one JSON line with the
image count, the number of rows written and the seconds the tool took (imports excluded).

cleanvision: ``Imagelab(filepaths=...).find_issues()`` and its ``issues`` frame; a row for each
true ``is_<x>_issue`` column, score ``<x>_score`` (lower = worse). Names kept as cleanvision's
(dark, light, blurry, odd_size, odd_aspect_ratio, grayscale, low_information).

fastdup: ``fastdup.create(work_dir, input_dir).run()`` then ``img_stats()``. fastdup's galleries
only sort by a statistic; the one place fastdup 2.54 itself calls images blurry/dark/bright is
``FastdupController.summary`` (fastdup/fastdup_controller.py, lines 638-639 and 712-714):
``blur_threshold=150.0`` (blurry: ``blur < 150``, blur = variance of the Laplacian, see
``create_stats_gallery`` in fastdup/__init__.py), ``darkness_threshold=4.0`` (dark: ``mean < 4``),
``brightness_threshold=253.0`` (bright: ``mean > 253``; written as ``light``). Score: ``blur``
for blurry, ``mean`` for dark/light. Crash-report telemetry (sentry) is switched off with
``SENTRY_OPT_OUT`` (fastdup/sentry.py), set at the top of this file. fastdup's work dir is a
temporary folder, removed afterwards; it still writes ~/.fastdup_cache. fastdup's licence is
CC BY-NC-ND 4.0 (non-commercial use).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("SENTRY_OPT_OUT", "1")  # before fastdup is imported: no crash reports
EXTENSIONS = (".jpg", ".jpeg", ".png")
CLEANVISION_KINDS = ("dark", "light", "blurry", "odd_size", "odd_aspect_ratio", "grayscale",
                     "low_information")
# fastdup_controller.FastdupController.summary defaults (see the module docstring).
FASTDUP_BLUR, FASTDUP_DARK, FASTDUP_BRIGHT = 150.0, 4.0, 253.0


def image_files(root: str) -> list[str]:
    """Absolute paths of the jpg/png files under root, sorted."""
    return sorted(os.path.join(d, f) for d, _, names in os.walk(os.path.abspath(root))
                  for f in names if f.lower().endswith(EXTENSIONS))


@contextlib.contextmanager
def stdout_to_stderr():
    """Send the tool's prints (Python and native) to stderr, keeping stdout for our JSON line."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run_cleanvision(files: list[str]) -> list[tuple[str, str, float]]:
    from cleanvision import Imagelab

    imagelab = Imagelab(filepaths=files)
    imagelab.find_issues()
    issues = imagelab.issues
    rows = []
    for kind in CLEANVISION_KINDS:
        flag = f"is_{kind}_issue"
        if flag in issues:
            for path, score in issues.loc[issues[flag], f"{kind}_score"].items():
                rows.append((path, kind, float(score)))
    return rows


def run_fastdup(files: list[str], root: str) -> list[tuple[str, str, float]]:
    import fastdup

    with tempfile.TemporaryDirectory(prefix="fastdup-") as work_dir:
        fd = fastdup.create(work_dir=work_dir, input_dir=os.path.abspath(root))
        fd.run(annotations=files)
        stats = fd.img_stats()
    rows = []
    for path, blur, mean in zip(stats["filename"], stats["blur"], stats["mean"]):
        if blur < FASTDUP_BLUR:
            rows.append((path, "blurry", float(blur)))
        if mean < FASTDUP_DARK:
            rows.append((path, "dark", float(mean)))
        if mean > FASTDUP_BRIGHT:
            rows.append((path, "light", float(mean)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", choices=("cleanvision", "fastdup"), required=True)
    parser.add_argument("--images", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    files = image_files(args.images)
    if not files:
        sys.exit(f"no .jpg/.jpeg/.png files under {args.images}")
    with stdout_to_stderr():
        importlib.import_module(args.tool)
        start = time.perf_counter()
        if args.tool == "cleanvision":
            rows = run_cleanvision(files)
        else:
            rows = run_fastdup(files, args.images)
        seconds = time.perf_counter() - start

    root = os.path.abspath(args.images)
    rows = sorted((os.path.relpath(p, root), kind, score) for p, kind, score in rows)
    with open(args.out, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(("path", "kind", "score"))
        writer.writerows(rows)
    print(json.dumps({"tool": args.tool, "images": len(files), "rows": len(rows),
                      "seconds": round(seconds, 3)}))


if __name__ == "__main__":
    main()
