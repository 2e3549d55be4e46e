"""Compiled elementwise kernels: plain Python loops that numba compiles on first use.

A few elementwise steps of the in-house learners (relu in place, ``delta *= g'(z)``, Adam's update,
the output unit's loss and error) are single loops over arrays; numpy spends one pass (and one
temporary) per arithmetic operation on them, a compiled loop spends one pass in all.
:func:`kernel` marks such a loop: the function stays ordinary Python (readable beside the formula it
implements, and runnable as it is for a reference), and :meth:`Kernel.compiled` returns numba's
compiled version (``cache=True``: compiled once per machine and kept in numba's on-disk cache;
``error_model="numpy"``: a division by zero gives inf/nan as in numpy instead of raising, which also
lets the loop vectorise; no ``fastmath``: IEEE arithmetic, the same rounding as numpy's
operation-by-operation evaluation).

numba is imported only when a kernel is first compiled: importing it and setting up its compiler
costs about 1.3 CPU seconds per process, which a short training does not earn back (see
``MLPClassifier(kernels=...)``).
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Any, Callable

__all__ = ["Kernel", "kernel", "numba_available"]


@functools.cache
def numba_available() -> bool:
    """Whether numba can be imported (without importing it)."""
    return importlib.util.find_spec("numba") is not None


class Kernel:
    """A Python loop compiled by numba on first use (see :func:`kernel`).

    Calling the kernel calls the compiled function; hot loops fetch :meth:`compiled` once and call
    that (no per-call indirection).
    """

    def __init__(self, py_func: Callable[..., Any]) -> None:
        self.py_func = py_func
        self._compiled: Callable[..., Any] | None = None
        functools.update_wrapper(self, py_func)

    def compiled(self) -> Callable[..., Any]:
        """The numba-compiled function (compiled, or loaded from the cache, at the first call)."""
        if self._compiled is None:
            import numba

            self._compiled = numba.njit(cache=True, nogil=True, error_model="numpy")(self.py_func)
        return self._compiled

    def __call__(self, *args: Any) -> Any:
        return self.compiled()(*args)

    def __reduce__(self) -> str:
        # pickled (and deep-copied) by reference, as the module-level function it decorates
        return self.__qualname__


def kernel(py_func: Callable[..., Any]) -> Kernel:
    """Decorator: ``py_func`` is a loop over arrays to be compiled by numba when first needed."""
    return Kernel(py_func)
