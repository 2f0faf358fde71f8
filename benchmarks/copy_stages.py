"""CPU seconds per stage of the copy search (``matching.copies.find_copies``) on a dataset.

The dataset is scanned into ``--cache`` first (decoded once, then read from the cache), then
``find_copies`` runs once under cProfile. Printed: wall and CPU seconds of the scan and of the
copy search (CPU = this process and its children, all threads: numba kernels and OpenCV run
on threads, so CPU time is the figure to compare on a shared machine), the pairs found by kind
and transform, and the cumulative seconds of the stages: the hash and variant searches, the
crowded-mode survivors, the thumbnail checks, the view check and the geometric check on the
files. cProfile adds a little to Python-heavy stages; compare runs of this script only.

    .venv/bin/python benchmarks/copy_stages.py benchmarks/_data/e2e100000 --cache /tmp/c-e2e
    .venv/bin/python benchmarks/copy_stages.py benchmarks/_data/fmnist --cache /tmp/c-fmnist
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import time

from _common import footer, header, table

#: (label, function name as cProfile lists it) of the stages worth a line.
STAGES = [
    ("perceptual-hash and caption searches (hamming_pairs)", "hamming_pairs"),
    ("variant search (hamming_cross)", "hamming_cross"),
    ("crowded small pairs tested as found", "_crowd_survivors"),
    ("thumbnail checks (_verify_thumbs)", "_verify_thumbs"),
    ("view check (view_similarity)", "view_similarity"),
    ("geometric check on the files (_verify_files)", "_verify_files"),
]


def cpu() -> float:
    """CPU seconds of this process and its waited-for children, user + system."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="dataset folder or manifest")
    parser.add_argument("--cache", required=True, help="feature cache folder (reused)")
    args = parser.parse_args()
    from datacheck import options as grouped
    from datacheck.context import AuditContext
    from datacheck.features.scan import feature_config, open_cache, scan_table
    from datacheck.matching.copies import copy_pairs
    from datacheck.sources.dataset import load_dataset

    header(f"copy search stages on {args.root}")
    opts = grouped.resolve({}, {"cache_dir": args.cache})
    wall, used = time.perf_counter(), cpu()
    dataset = load_dataset(args.root)
    store = open_cache(dataset.root, args.cache)
    scanned, decoded = scan_table(dataset, store, opts["scan"], progress=False)
    rows = [["scan", f"{decoded:,} decoded of {len(scanned):,}",
             f"{time.perf_counter() - wall:.1f}", f"{cpu() - used:.1f}"]]
    ctx = AuditContext(dataset, scanned, store, feature_config(opts["scan"].hash), opts,
                       ["duplicates", "leakage"], True, progress=False)
    profile = cProfile.Profile()
    wall, used = time.perf_counter(), cpu()
    pairs = profile.runcall(copy_pairs, ctx)
    rows.append(["find_copies", f"{len(pairs):,} pairs", f"{time.perf_counter() - wall:.1f}",
                 f"{cpu() - used:.1f}"])
    store.close()
    table(["step", "what", "wall s", "CPU s"], rows)
    stats = pstats.Stats(profile).stats
    stages = []
    for label, name in STAGES:
        seconds = sum(entry[3] for (_, _, func), entry in stats.items() if func == name)
        calls = sum(entry[1] for (_, _, func), entry in stats.items() if func == name)
        if calls:
            stages.append([label, calls, f"{seconds:.1f}"])
    print("stages (cumulative wall seconds under cProfile):")
    table(["stage", "calls", "seconds"], stages)
    counts = pairs.groupby(["kind", "transform"]).size().reset_index(name="pairs")
    table(["kind", "transform", "pairs"], counts.values.tolist())
    footer()


if __name__ == "__main__":
    main()
