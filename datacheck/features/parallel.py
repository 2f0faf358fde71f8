"""Run per-image work over a local process pool (default) or a Dask cluster, with a progress bar.

``scheduler`` (or the ``DATACHECK_SCHEDULER`` environment variable) is the address of a Dask
distributed scheduler, e.g. ``tcp://10.0.0.5:8786``: the items are sent in tasks of about
``DASK_TASK`` images to its workers, which must be able to read the same paths (a shared file
system).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from threadpoolctl import threadpool_limits
from tqdm import tqdm

from ..errors import BadInputError

T = TypeVar("T")
R = TypeVar("R")

#: Images per Dask task: enough to pay for a round trip, few enough to balance the workers.
DASK_TASK = 256
#: Below this many images a pool costs more to start than it saves.
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
         desc: str = "", progress: bool = True, chunksize: int = 32,
         scheduler: str | None = None, sizes: Sequence[int] | None = None,
         ran: dict | None = None) -> Iterator[R]:
    """``func`` over ``items`` in order, on ``workers`` processes (default: all cores) or on
    the Dask cluster at ``scheduler``. ``sizes``: how many images each item is, for the
    progress bar (default 1 each). ``ran``, if given, is filled with where the work ran:
    ``where`` ("local" or the scheduler's address) and ``workers`` (processes or Dask
    workers)."""
    sizes = sizes if sizes is not None else [1] * len(items)
    ran = {} if ran is None else ran
    scheduler = scheduler or os.environ.get("DATACHECK_SCHEDULER")
    if scheduler:
        yield from _dask_imap(func, items, scheduler, desc, progress, sizes, ran)
        return
    workers = workers or available_cores()
    if workers <= 1 or sum(sizes) < INLINE_BELOW:
        ran.update(where="local", workers=1)
        with threadpool_limits(1), _bar(sum(sizes), desc, progress) as bar:
            for item, size in zip(items, sizes):
                yield func(item)
                bar.update(size)
        return
    ran.update(where="local", workers=workers)
    # the pool forks before the progress bar starts its monitor thread
    context = multiprocessing.get_context(START_METHOD)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_one_blas_thread) as pool:
        results = pool.map(func, items, chunksize=chunksize)
        with _bar(sum(sizes), desc, progress) as bar:
            for result, size in zip(results, sizes):
                yield result
                bar.update(size)


def _one_blas_thread() -> None:
    """Per-image numpy work is small matrices: BLAS threads only contend with the other
    workers (measured: 0.2 ms an image single-threaded, ~6 ms threaded on a busy machine)."""
    threadpool_limits(1)


def _apply(func, chunk):
    with threadpool_limits(1):
        return [func(item) for item in chunk]


def _dask_imap(func, items, scheduler, desc, progress, sizes, ran: dict) -> Iterator:
    try:
        from distributed import Client
    except ImportError:
        raise BadInputError("--scheduler needs Dask: pip install 'datacheck[dask]'") from None
    try:
        client = Client(scheduler, timeout=10)
    except (OSError, TimeoutError) as exc:
        raise BadInputError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
    try:
        ran.update(where=scheduler, workers=len(client.scheduler_info()["workers"]))
        tasks = _tasks(sizes)
        futures = [client.submit(_apply, func, [items[i] for i in task], pure=False)
                   for task in tasks]
        with _bar(sum(sizes), desc, progress) as bar:
            for task, future in zip(tasks, futures):
                yield from future.result()  # in order; later tasks keep running meanwhile
                bar.update(sum(sizes[i] for i in task))
    finally:
        client.close()


def _tasks(sizes: Sequence[int]) -> list[list[int]]:
    """Consecutive items grouped into Dask tasks of about ``DASK_TASK`` images each."""
    tasks, current, total = [], [], 0
    for i, size in enumerate(sizes):
        current.append(i)
        total += size
        if total >= DASK_TASK:
            tasks.append(current)
            current, total = [], 0
    return tasks + ([current] if current else [])


def _bar(total: int, desc: str, progress: bool) -> tqdm:
    """A progress bar on stderr, shown only on a terminal (``disable=None``)."""
    return tqdm(total=total, desc=desc, unit="img", disable=None if progress else True,
                leave=False, dynamic_ncols=True)
