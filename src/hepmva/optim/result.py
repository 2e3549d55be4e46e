"""The one result record of every minimiser, and the bookkeeping they share.

- :class:`MinimizeResult` with its per-iteration :class:`History`, what every method returns;
- :class:`IterationState`, what a ``callback`` sees after each iteration (generation);
- :class:`Recorder` (evaluation counts, history, callback, progress logging) and :class:`Problem`
  (objective, gradient and Hessian with counting and finite differences), used by
  :mod:`hepmva.optim.minimize` and :mod:`hepmva.optim.ga` alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

__all__ = ["History", "MinimizeResult", "IterationState", "Recorder", "Problem"]

logger = logging.getLogger(__name__)


@dataclass
class History:
    """Per-iteration record of a minimisation (index 0 is the starting point).

    Attributes
    ----------
    nit : ndarray of shape (n_records,)
        Iteration (generation) number.
    fun : ndarray of shape (n_records,)
        Objective at the current iterate (GA: best individual so far).
    fun_mean : ndarray of shape (n_records,)
        GA: mean objective of the population; NaN for the other methods.
    nfev : ndarray of shape (n_records,)
        Cumulative number of objective evaluations (a value-and-gradient call counts once).
    time : ndarray of shape (n_records,)
        Cumulative wall time in seconds since the start.
    """

    nit: np.ndarray
    fun: np.ndarray
    fun_mean: np.ndarray
    nfev: np.ndarray
    time: np.ndarray

    def as_dict(self) -> dict[str, list]:
        """JSON-able copy (lists of floats/ints)."""
        return {k: getattr(self, k).tolist() for k in ("nit", "fun", "fun_mean", "nfev", "time")}


@dataclass
class MinimizeResult:
    """Result of :func:`minimize`, the same record for every method.

    Attributes
    ----------
    x : ndarray of shape (n,)
        Solution (GA: best individual found).
    fun : float
        ``J(x)``.
    nit : int
        Iterations (GA: generations).
    nfev : int
        Objective evaluations (a value-and-gradient call counts once; finite-difference
        evaluations are included).
    njev : int
        Gradient evaluations.
    nhev : int
        Hessian evaluations.
    success : bool
        Whether the convergence criterion was met (GA: budget used without failure).
    message : str
        Why it stopped.
    method : str
        Method name.
    history : History
        Per-iteration record.
    jac : ndarray of shape (n,) or None
        Gradient at ``x`` (gradient methods).
    """

    x: np.ndarray
    fun: float
    nit: int
    nfev: int
    njev: int
    nhev: int
    success: bool
    message: str
    method: str
    history: History
    jac: np.ndarray | None = field(default=None, repr=False)


class IterationState(NamedTuple):
    """What the ``callback`` sees after each iteration (generation).

    Attributes
    ----------
    nit : int
        Iteration number.
    x : ndarray of shape (n,)
        Current iterate (GA: best individual); do not modify.
    fun : float
        ``J(x)``.
    nfev : int
        Cumulative objective evaluations.
    time : float
        Wall time since the start in seconds.
    """

    nit: int
    x: np.ndarray
    fun: float
    nfev: int
    time: float


class Recorder:
    """Counts evaluations, keeps the history, calls the callback, logs progress."""

    def __init__(
        self,
        method: str,
        callback: Callable[[IterationState], Any] | None,
        log_every: int,
    ) -> None:
        self.method = method
        self.callback = callback
        self.log_every = max(1, int(log_every))
        self.nfev = 0
        self.njev = 0
        self.nhev = 0
        self.t0 = time.perf_counter()
        self._rows: list[tuple[int, float, float, int, float]] = []

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def record(self, nit: int, x: np.ndarray, fun: float, fun_mean: float = np.nan) -> bool:
        """Store one row; return True if the callback asks to stop."""
        t = self.elapsed()
        self._rows.append((nit, float(fun), float(fun_mean), self.nfev, t))
        level = logging.INFO if nit % self.log_every == 0 else logging.DEBUG
        if logger.isEnabledFor(level):
            extra = f" mean {fun_mean:.6g}" if np.isfinite(fun_mean) else ""
            logger.log(
                level, "%s iter %d: J = %.8g%s, nfev %d, %.2f s", self.method, nit, fun, extra,
                self.nfev, t,
            )
        if self.callback is not None:
            return bool(self.callback(IterationState(nit, x, float(fun), self.nfev, t)))
        return False

    def history(self) -> History:
        if not self._rows:
            cols: list = [[], [], [], [], []]
        else:
            cols = list(zip(*self._rows, strict=True))
        return History(
            nit=np.asarray(cols[0], dtype=np.int64),
            fun=np.asarray(cols[1], dtype=np.float64),
            fun_mean=np.asarray(cols[2], dtype=np.float64),
            nfev=np.asarray(cols[3], dtype=np.int64),
            time=np.asarray(cols[4], dtype=np.float64),
        )

    def result(
        self, x: np.ndarray, fun: float, nit: int, success: bool, message: str,
        jac: np.ndarray | None = None,
    ) -> MinimizeResult:
        logger.info(
            "%s finished: %s (J = %.8g, nit %d, nfev %d, %.2f s)", self.method, message, fun, nit,
            self.nfev, self.elapsed(),
        )
        return MinimizeResult(
            x=np.asarray(x, dtype=np.float64).copy(), fun=float(fun), nit=int(nit),
            nfev=self.nfev, njev=self.njev, nhev=self.nhev, success=bool(success),
            message=message, method=self.method, history=self.history(),
            jac=None if jac is None else np.asarray(jac, dtype=np.float64).copy(),
        )


class Problem:
    """Objective, gradient and Hessian with evaluation counting and finite differences."""

    def __init__(
        self,
        fun: Callable[..., Any],
        jac: Callable[[np.ndarray], np.ndarray] | bool | None,
        hess: Callable[[np.ndarray], np.ndarray] | None,
        rec: Recorder,
        fd_step: float,
    ) -> None:
        self.fun = fun
        self.jac = jac
        self.hess = hess
        self.rec = rec
        self.fd_step = fd_step

    def value(self, x: np.ndarray) -> float:
        self.rec.nfev += 1
        out = self.fun(x)
        if self.jac is True:
            out = out[0]
        return float(out)

    def value_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        if self.jac is True:
            self.rec.nfev += 1
            self.rec.njev += 1
            f, g = self.fun(x)
            return float(f), np.asarray(g, dtype=np.float64).reshape(x.shape)
        if callable(self.jac):
            self.rec.nfev += 1
            self.rec.njev += 1
            return float(self.fun(x)), np.asarray(self.jac(x), dtype=np.float64).reshape(x.shape)
        # forward differences, each counted as an objective evaluation
        f = self.value(x)
        g = np.empty_like(x)
        for i in range(x.size):
            h = self.fd_step * max(1.0, abs(x[i]))
            xh = x.copy()
            xh[i] += h
            g[i] = (self.value(xh) - f) / h
        return f, g

    def hessian(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        if self.hess is not None:
            self.rec.nhev += 1
            return np.asarray(self.hess(x), dtype=np.float64)
        # forward differences of the gradient, symmetrised
        n = x.size
        H = np.empty((n, n))
        for i in range(n):
            h = np.sqrt(self.fd_step) * max(1.0, abs(x[i]))
            xh = x.copy()
            xh[i] += h
            H[:, i] = (self.value_grad(xh)[1] - g) / h
        return 0.5 * (H + H.T)
