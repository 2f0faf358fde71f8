"""Run per-image work over a local process pool, with a progress bar."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")

#: Below this many items a pool costs more to start than it saves.
INLINE_BELOW = 64
#: fork starts workers in milliseconds with every module already imported; forkserver and
#: spawn re-import numpy, PIL and scipy in each worker (~1 s on 2 cores).
START_METHOD = os.environ.get("DATACHECK_START_METHOD",
                              "fork" if sys.platform == "linux" else "spawn")


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
    if workers <= 1 or len(items) < INLINE_BELOW:
        with _bar(len(items), desc, progress) as bar:
            for item in items:
                yield func(item)
                bar.update()
        return
    # the pool forks before the progress bar starts its monitor thread
    context = multiprocessing.get_context(START_METHOD)
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        results = pool.map(func, items, chunksize=chunksize)
        with _bar(len(items), desc, progress) as bar:
            for result in results:
                yield result
                bar.update()


def _bar(total: int, desc: str, progress: bool) -> tqdm:
    """A progress bar on stderr, shown only on a terminal (``disable=None``)."""
    return tqdm(total=total, desc=desc, unit="img", disable=None if progress else True,
                leave=False, dynamic_ncols=True)
