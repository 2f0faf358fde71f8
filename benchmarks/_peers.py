"""imagededup, run as a peer in its own venv (``make bench-deps`` builds benchmarks/.venv-peers).

Not a benchmark on its own: hashing.py and search.py call it in a subprocess with the peer venv's
Python and read one JSON line back.

imagededup's ``methods/__init__.py`` imports its CNN module and ``utils/__init__.py`` its plotter
and models, so ``from imagededup.methods import PHash`` needs torch, torchvision and matplotlib.
PyPI's torchvision cannot load next to the project's CPU torch, so :func:`imagededup_hashing`
registers those two packages as empty namespaces and imports imagededup's own
``methods/hashing.py``: the PHash encoding and search code that runs is imagededup's, unchanged.

    python benchmarks/_peers.py check
    python benchmarks/_peers.py encode IMAGE_DIR WORKERS OUT.json
    python benchmarks/_peers.py search HASHES.npy THRESHOLD WORKERS OUT.npy
    python benchmarks/_peers.py dedup IMAGE_DIR THRESHOLD WORKERS   # encode + search, end to end
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import types


def imagededup_hashing():
    """imagededup.methods.hashing, without the package __init__ files that need torchvision."""
    spec = importlib.util.find_spec("imagededup")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("imagededup is not installed (run `make bench-deps`)")
    root = list(spec.submodule_search_locations)[0]
    for sub in ("methods", "utils"):
        name = f"imagededup.{sub}"
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__path__ = [os.path.join(root, sub)]
            sys.modules[name] = module
    from imagededup.methods import hashing

    return hashing


def main(argv: list[str]) -> None:
    command = argv[0] if argv else "check"
    hashing = imagededup_hashing()
    if command == "check":
        import imagededup

        print(f"imagededup {imagededup.__version__} PHash importable: {hashing.PHash.__name__}")
    elif command == "encode":
        image_dir, workers, out = argv[1], int(argv[2]), argv[3]
        t = time.perf_counter()
        encoded = hashing.PHash(verbose=False).encode_images(image_dir=image_dir,
                                                             num_enc_workers=workers)
        seconds = time.perf_counter() - t
        with open(out, "w") as fh:
            json.dump({"seconds": seconds, "hashes": encoded}, fh)
    elif command == "search":
        import numpy as np

        hashes = np.load(argv[1])
        threshold, workers, out = int(argv[2]), int(argv[3]), argv[4]
        encoding_map = {str(k): f"{int(h):016x}" for k, h in enumerate(hashes)}
        t = time.perf_counter()
        found = hashing.PHash(verbose=False).find_duplicates(
            encoding_map=encoding_map, max_distance_threshold=threshold,
            num_dist_workers=workers)
        seconds = time.perf_counter() - t
        pairs = sorted({(int(a), int(b)) for a, dups in found.items() for b in dups
                        if int(a) < int(b)})
        np.save(out, np.asarray(pairs, dtype=np.int64).reshape(-1, 2))
        print(json.dumps({"seconds": seconds}))
    elif command == "dedup":
        image_dir, threshold, workers = argv[1], int(argv[2]), int(argv[3])
        phash = hashing.PHash(verbose=False)
        encoded = phash.encode_images(image_dir=image_dir, num_enc_workers=workers)
        found = phash.find_duplicates(encoding_map=encoded, max_distance_threshold=threshold,
                                      num_dist_workers=workers)
        print(json.dumps({"images": len(encoded),
                          "pairs": sum(len(v) for v in found.values()) // 2}))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")  # find_duplicates warns that num_enc_workers is unused
    main(sys.argv[1:])
