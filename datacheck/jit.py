"""numba kernels that import numba on their first call, not at import time.

Importing numba takes ~0.6 s, which commands that run no kernel (``--help``, a re-audit from
the cache) need not pay. A module writes ``@kernel(nogil=True)`` where it would write
``@numba.njit(cache=True, nogil=True)``, and ``prange`` from here where it would write
``numba.prange``. The first call of any kernel imports numba and rebinds, in every module that
defines kernels, each kernel name (its own, and those it imported from another such module)
to its numba dispatcher and ``prange`` to ``numba.prange``: numba then compiles each kernel
with the other kernels it calls as dispatchers, as if numba had been imported from the start.
"""

from __future__ import annotations

import functools
import sys
import threading

#: A plain ``range`` until numba is imported (kernels run only after that).
prange = range
#: The globals of every module that defines a kernel.
_modules: dict[str, dict] = {}
_lock = threading.Lock()
_numba = None


class Kernel:
    """A function that becomes ``numba.njit(cache=True, **options)(func)`` when first called."""

    def __init__(self, func, options: dict):
        functools.update_wrapper(self, func)
        self.func, self.options = func, options
        self._dispatcher = None

    @property
    def dispatcher(self):
        if self._dispatcher is None:
            self._dispatcher = _import_numba().njit(cache=True, **self.options)(self.func)
        return self._dispatcher

    def __call__(self, *args, **kwargs):
        _bind()
        return self.dispatcher(*args, **kwargs)


def kernel(**options):
    """Decorator: ``numba.njit(cache=True, **options)``, compiled on first call (see above)."""
    def wrap(func):
        if _numba is not None:  # a module imported after the first kernel ran
            return _numba.njit(cache=True, **options)(func)
        _modules[func.__module__] = sys.modules[func.__module__].__dict__
        return Kernel(func, options)
    return wrap


def load() -> None:
    """Import numba and bind the kernels now: before forking workers that will all run
    kernels, so that they share one import instead of each paying for its own."""
    _bind()


def _import_numba():
    global _numba
    if _numba is None:
        import numba
        _numba = numba
    return _numba


def _bind() -> None:
    """Import numba and rebind every kernel module's kernels and ``prange`` (once)."""
    if _numba is not None and not _modules:
        return
    with _lock:
        numba = _import_numba()
        for names in _modules.values():
            for name, value in list(names.items()):
                if isinstance(value, Kernel):
                    names[name] = value.dispatcher
                elif value is range and name == "prange":
                    names[name] = numba.prange
        _modules.clear()
        globals()["prange"] = numba.prange
