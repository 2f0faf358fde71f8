"""Run per-image work over a local process pool, with a progress bar."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")

#: Below this many items a pool costs more to start than it saves.
INLINE_BELOW = 64


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity and cgroup pinning)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def imap(func: Callable[[T], R], items: Sequence[T], *, workers: int | None = None,
         desc: str = "", progress: bool = True, chunksize: int = 32) -> Iterator[R]:
    """``func`` over ``items`` in order, on ``workers`` processes (default: all cores)."""
    workers = workers or available_cores()
    bar = tqdm(total=len(items), desc=desc, unit="img", disable=None if progress else True,
               leave=False, dynamic_ncols=True)
    try:
        if workers <= 1 or len(items) < INLINE_BELOW:
            for item in items:
                yield func(item)
                bar.update()
            return
        context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            for result in pool.map(func, items, chunksize=chunksize):
                yield result
                bar.update()
    finally:
        bar.close()
