"""Hashing throughput: datacheck's scan vs imagehash in a plain loop vs imagededup's PHash.

The images are 640x480 JPEGs (quality 90) made from the 500 BSDS500 photos (481x321) in
../shared/datasets/bsds500: each photo is scaled to cover 640x480 (a little more zoom per
variant), cropped at a variant-dependent offset and, for odd variants, mirrored. They are written
once to benchmarks/_data/bsds640/photo/ (gitignored) and read from the page cache by every
method (a warm-up pass reads them all first).

Measured in one run, best of ``--repeat`` for each:
- ``imagehash.phash(Image.open(p))`` in a loop on one core (full decode): the baseline.
- the same loop with PIL draft mode, one core: shows what draft decoding alone buys.
- ``datacheck.scan(datacheck.load_dataset(root), workers=W)`` with a fresh cache folder each
  time (everything decoded: phash + image properties + thumbnail), then again on the unchanged
  folder (everything from the cache).
- imagededup ``PHash().encode_images(image_dir=..., num_enc_workers=W)`` (in the peer venv).
Then the Hamming distance between draft-decoded and fully decoded phashes on every image.

    make bench-deps                                   # once: the imagededup venv
    .venv/bin/python benchmarks/hashing.py            # 2,000 images, 2 workers, best of 3
    .venv/bin/python benchmarks/hashing.py --count 10000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import imagehash
import numpy as np
from _common import DATA, SHARED, footer, header, peers_available, run_peer, table
from PIL import Image, ImageOps

SOURCE = SHARED / "bsds500"
ROOT = DATA / "bsds640"
FOLDER = ROOT / "photo"
#: Bump when make_jpegs changes, so an old folder is rebuilt.
RECIPE = "v1"


def make_jpegs(count: int) -> list[Path]:
    """``count`` 640x480 JPEGs from the BSDS500 photos (cached in benchmarks/_data)."""
    photos = sorted(SOURCE.glob("*/*.jpg"))
    if not photos:
        print(f"skipped: no BSDS500 photos under {SOURCE} (see shared/datasets/README.md)")
        sys.exit(0)
    stamp = DATA / "bsds640.json"  # outside ROOT: datacheck indexes every file in a tree
    wanted = {"recipe": RECIPE, "count": count, "sources": len(photos)}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return sorted(FOLDER.glob("*.jpg"))
    shutil.rmtree(ROOT, ignore_errors=True)
    FOLDER.mkdir(parents=True)
    made = []
    for k in range(count):
        variant, src = divmod(k, len(photos))
        with Image.open(photos[src]) as img:
            img = img.convert("RGB")
        if variant % 2:
            img = ImageOps.mirror(img)
        zoom = 1.0 + 0.08 * (variant % 4)
        scale = zoom * max(640 / img.width, 480 / img.height)
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
        # crop offset walks across the spare width/height from variant to variant
        fx, fy = ((variant * 0.37) % 1.0, (variant * 0.61) % 1.0)
        left = round((img.width - 640) * fx)
        top = round((img.height - 480) * fy)
        img = img.crop((left, top, left + 640, top + 480))
        path = FOLDER / f"img{k:05d}.jpg"
        img.save(path, "JPEG", quality=90)
        made.append(path)
    stamp.write_text(json.dumps(wanted))
    return made


def best(fn, repeat: int):
    """(best seconds, result of the last call)."""
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def to_int(h: imagehash.ImageHash) -> int:
    return int(str(h), 16)


def bits(a: int, b: int) -> int:
    return bin((a ^ b) & (2**64 - 1)).count("1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="images (default 2000)")
    parser.add_argument("--workers", type=int, default=2, help="datacheck/imagededup workers")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--skip-peers", action="store_true", help="leave imagededup out")
    args = parser.parse_args()

    import datacheck
    from datacheck.features.images import DRAFT_SIDE, decode_file

    header("hashing throughput")
    files = make_jpegs(args.count)
    n = len(files)
    for p in files:  # warm the page cache: every method reads from memory
        p.read_bytes()
    print(f"{n:,} JPEGs of 640x480 (q=90) from {len(list(SOURCE.glob('*/*.jpg')))} BSDS500 "
          f"photos in {FOLDER.relative_to(DATA.parent.parent)}; best of {args.repeat}; "
          f"{args.workers} workers where parallel")
    sys.stdout.flush()

    def plain_loop():
        return [to_int(imagehash.phash(Image.open(p))) for p in files]

    def draft_loop():
        out = []
        for p in files:
            img = Image.open(p)
            img.draft("L", (DRAFT_SIDE, DRAFT_SIDE))
            out.append(to_int(imagehash.phash(img)))
        return out

    rows = []
    loop_s, plain_hashes = best(plain_loop, args.repeat)
    rows.append(("imagehash.phash(Image.open(p)) loop (full decode)", 1, loop_s))
    draft_s, _ = best(draft_loop, args.repeat)
    rows.append((f"same loop, img.draft('L', ({DRAFT_SIDE}, {DRAFT_SIDE})) first (reference)",
                 1, draft_s))

    def datacheck_scan(cache, workers):
        return datacheck.scan(datacheck.load_dataset(ROOT), workers=workers, cache_dir=cache,
                              progress=False)

    cold_times, warm_times = [], []
    scanned = None
    for _ in range(args.repeat):
        cache = Path(tempfile.mkdtemp(prefix="dc-bench-cache-"))
        try:
            t = time.perf_counter()
            scanned = datacheck_scan(cache, args.workers)
            cold_times.append(time.perf_counter() - t)
            assert scanned.attrs["decoded"] == n, scanned.attrs["decoded"]
            t = time.perf_counter()
            again = datacheck_scan(cache, args.workers)
            warm_times.append(time.perf_counter() - t)
            assert again.attrs["decoded"] == 0, again.attrs["decoded"]
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    assert scanned is not None and scanned["problem"].isna().all()
    rows.append((f"datacheck scan, workers={args.workers}, empty cache (decodes all)",
                 args.workers, min(cold_times)))
    cache = Path(tempfile.mkdtemp(prefix="dc-bench-cache-"))
    try:
        one_s, _ = best(lambda: datacheck_scan(cache, 1), 1)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    rows.append(("datacheck scan, workers=1, empty cache (reference)", 1, one_s))
    rows.append((f"datacheck scan, workers={args.workers}, second run (all cached)",
                 args.workers, min(warm_times)))

    peer_hashes = None
    why = "--skip-peers" if args.skip_peers else peers_available()
    if why is None:
        times = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "hashes.json"
                run_peer("encode", str(FOLDER), str(args.workers), str(out))
                result = json.loads(out.read_text())
            times.append(result["seconds"])
            peer_hashes = result["hashes"]
        assert peer_hashes is not None and len(peer_hashes) == n, len(peer_hashes or {})
        rows.append((f"imagededup PHash().encode_images, num_enc_workers={args.workers}",
                     args.workers, min(times)))
    else:
        print(f"imagededup left out: {why}")

    table(["method", "cores", "seconds", "images/s", "vs plain loop"],
          [[name, c, f"{s:.2f}", f"{n / s:,.0f}", f"{loop_s / s:.2f}x"] for name, c, s in rows])
    cold = min(cold_times)
    print(f"datacheck (workers={args.workers}, empty cache) / plain loop: "
          f"{loop_s / cold:.2f}x  (target >= 3x)")
    print(f"second run / first run: {min(warm_times) / cold:.1%} of the time")

    # how far draft decoding moves the hash (datacheck's own decoder, draft on vs off)
    draft_d = [bits(decode_file(str(p)).hash, decode_file(str(p), draft=False).hash)
               for p in files]
    by_path = dict(zip(scanned["path"], scanned["hash"].astype(np.int64), strict=True))
    vs_loop = [bits(int(by_path[f"photo/{p.name}"]), h) for p, h in
               zip(files, plain_hashes, strict=True)]
    rows = [["datacheck draft vs datacheck full decode", *_summary(draft_d)],
            ["datacheck scan vs imagehash.phash(Image.open(p))", *_summary(vs_loop)]]
    if peer_hashes is not None:
        vs_peer = [bits(int(peer_hashes[p.name], 16), h) for p, h in
                   zip(files, plain_hashes, strict=True)]
        rows.append(["imagededup PHash vs imagehash.phash (different DCT/median)",
                     *_summary(vs_peer)])
    print(f"\nphash Hamming distance on the same {n:,} images (bits of 64)")
    table(["hashes compared", "median", "mean", "95th pct", "max", "identical"], rows)
    footer()


def _summary(d: list[int]) -> list[str]:
    return [f"{statistics.median(d):g}", f"{np.mean(d):.2f}", f"{np.percentile(d, 95):g}",
            str(max(d)), f"{np.mean(np.asarray(d) == 0):.0%}"]


if __name__ == "__main__":
    main()
