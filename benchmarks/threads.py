"""How torch's CPU threads cope with a busy machine: one epoch of the label-noise
cross-validation (5 folds, whitened net, 2,000 CIFAR-10 photos) timed as it is.

    OMP_WAIT_POLICY=ACTIVE .venv/bin/python benchmarks/threads.py
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/threads.py   # what the CLI sets
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/threads.py

Run each on an idle machine and again while another process keeps one core busy (e.g.
``python -c "while True: pass" &``). Uses benchmarks/_data/reaudit200 (``reaudit.py`` makes it).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, header, load  # noqa: E402


def main() -> None:
    import torch

    from datacheck.learning.models import cross_val_probs

    header("torch CPU threads: one cross-validation epoch")
    files = sorted((DATA / "reaudit200").glob("*/*/*.jpg"))
    if not files:
        sys.exit("run benchmarks/reaudit.py once first (it builds benchmarks/_data/reaudit200)")
    x = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    labels = [f.parent.name for f in files]
    started, cpu = time.perf_counter(), time.process_time()
    cross_val_probs(x, labels, folds=5, epochs=1, progress=False)
    print(f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')} threads "
          f"{torch.get_num_threads()}: {len(x):,} images, 1 epoch x 5 folds: "
          f"{time.perf_counter() - started:.1f} s wall, {time.process_time() - cpu:.1f} CPU s; "
          f"load after {load()}")


if __name__ == "__main__":
    main()
