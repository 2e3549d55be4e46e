"""Minimisers of ``J(theta)`` on a flat parameter vector: Newton, BFGS, L-BFGS, gradient descent, GA.

The lecture's second-order family, written from the equations:

* **Newton**: solve ``H(theta_n) Delta theta = -grad J(theta_n)`` and step ``theta_{n+1} =
  theta_n + alpha Delta theta``; the step length ``alpha`` comes from a Wolfe line search
  (damped Newton) and ``H`` is shifted by ``tau I`` until it is positive definite (Cholesky
  succeeds), so the step is always a descent direction.  ``hess`` may be given, or is
  finite-differenced from the gradient.
* **BFGS**: quasi-Newton, ``Delta theta = -B^{-1} grad J``; we keep ``H = B^{-1}`` and update it
  with ``s = theta_{n+1} - theta_n``, ``y = grad_{n+1} - grad_n``, ``rho = 1 / y^T s``::

      H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T

* **L-BFGS**: the same ``H`` applied implicitly from the last ``m`` pairs ``(s, y)`` by the
  two-loop recursion (memory ``O(m n)`` instead of ``O(n^2)``).
* **gd**: batch gradient descent with the lecture's momentum, ``Delta theta <- -eta grad J +
  mu Delta theta`` (for comparisons at equal budget; the full family is in :mod:`hepmva.optim`).
* **ga**: the genetic algorithm of :mod:`hepmva.optim.ga` (needs ``bounds``).

Every method returns the same :class:`MinimizeResult`, whose :class:`History` holds per
iteration (generation) the objective, the cumulative number of objective evaluations and the
wall time, so that one plot compares them all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .linesearch import wolfe_line_search

__all__ = ["History", "IterationState", "MinimizeResult", "minimize", "METHODS"]

logger = logging.getLogger(__name__)

METHODS = ("newton", "bfgs", "lbfgs", "gd", "ga")


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


class _Recorder:
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


class _Problem:
    """Objective, gradient and Hessian with evaluation counting and finite differences."""

    def __init__(
        self,
        fun: Callable[..., Any],
        jac: Callable[[np.ndarray], np.ndarray] | bool | None,
        hess: Callable[[np.ndarray], np.ndarray] | None,
        rec: _Recorder,
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


def _as_bounds(bounds: Any, n: int | None) -> np.ndarray:
    """Bounds as an array of shape (n, 2) with finite low < high."""
    b = np.asarray(bounds, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 2:
        raise ValueError(f"bounds must be a sequence of (low, high) pairs, got shape {b.shape}")
    if n is not None and b.shape[0] != n:
        raise ValueError(f"bounds has {b.shape[0]} pairs but x0 has {n} parameters")
    if not np.all(np.isfinite(b)) or not np.all(b[:, 0] < b[:, 1]):
        raise ValueError("bounds must be finite with low < high for every parameter")
    return b


def minimize(
    fun: Callable[..., Any],
    x0: Sequence[float] | np.ndarray | None,
    *,
    method: str,
    jac: Callable[[np.ndarray], np.ndarray] | bool | None = None,
    hess: Callable[[np.ndarray], np.ndarray] | None = None,
    bounds: Sequence[tuple[float, float]] | np.ndarray | None = None,
    random_state: int | np.random.Generator | None = None,
    maxiter: int | None = None,
    maxfev: int | None = None,
    tol: float = 1e-6,
    callback: Callable[[IterationState], Any] | None = None,
    log_every: int = 10,
    **options: Any,
) -> MinimizeResult:
    """Minimise ``fun`` starting from ``x0`` with one of the lecture's methods.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> float`` with ``x`` an ndarray of shape (n,); with ``jac=True`` it returns
        ``(float, grad)``.  For ``method="ga"`` with ``vectorized=True`` it takes an ndarray of
        shape (pop_size, n) and returns shape (pop_size,).
    x0 : array-like of shape (n,) or None
        Starting point (GA: one member of the initial population; may be None).
    method : {"newton", "bfgs", "lbfgs", "gd", "ga"}
        Algorithm.
    jac : callable or True or None
        Gradient ``jac(x) -> ndarray of shape (n,)``; True if ``fun`` returns it; None for
        forward finite differences (each difference counts as one evaluation).  The GA ignores
        gradients (with ``jac=True`` it uses ``fun(x)[0]``).
    hess : callable or None
        Newton only: ``hess(x) -> ndarray of shape (n, n)``; None to finite-difference the
        gradient.
    bounds : array-like of shape (n, 2) or None
        ``(low, high)`` per parameter; required by (and only supported by) ``"ga"``.
    random_state : int, Generator or None
        Seed for the GA.
    maxiter : int or None
        Maximum iterations (generations).  Default: 100 for Newton, 1000 for BFGS/L-BFGS/GD,
        100 generations for the GA.
    maxfev : int or None
        Budget of objective evaluations; the run stops at the end of the iteration in which
        it is reached (the line search may overshoot it by a few evaluations).
    tol : float, default 1e-6
        Gradient methods: stop when ``max |grad J| <= tol``.  GA: see ``n_gen_no_change``.
    callback : callable or None
        ``callback(state: IterationState)`` after every iteration; returning True stops.
    log_every : int, default 10
        Log progress at INFO every ``log_every`` iterations (DEBUG otherwise).
    **options
        Method options.  ``newton``: ``fd_step``.  ``bfgs``: ``c1, c2`` (Wolfe constants).
        ``lbfgs``: ``memory`` (m, default 10), ``c1, c2``.  ``gd``: ``learning_rate``
        (eta, default 0.1), ``momentum`` (mu, default 0).  ``ga``: see
        :func:`hepmva.optim.ga.genetic_algorithm`.

    Returns
    -------
    MinimizeResult
        The common result record.

    Raises
    ------
    ValueError
        Unknown method or option, missing/unsupported bounds, bad shapes.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "ga":
        from .ga import genetic_algorithm

        if bounds is None:
            raise ValueError("method='ga' needs bounds (a (low, high) pair per parameter)")
        n = None if x0 is None else int(np.asarray(x0).size)
        if jac is True:  # fun returns (value, gradient): the GA only needs the value
            fun_value = fun

            def fun(x: np.ndarray) -> float:
                return fun_value(x)[0]

        return genetic_algorithm(
            fun, _as_bounds(bounds, n), x0=x0, random_state=random_state,
            max_generations=100 if maxiter is None else maxiter, maxfev=maxfev, tol=tol,
            callback=callback, log_every=log_every, **options,
        )
    if bounds is not None:
        raise ValueError(f"bounds are only supported by method='ga', not {method!r}")
    if hess is not None and method != "newton":
        raise ValueError(f"hess is only used by method='newton', not {method!r}")
    if x0 is None:
        raise ValueError(f"method={method!r} needs a starting point x0")
    x = np.array(x0, dtype=np.float64).ravel()
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 must be finite")
    if tol <= 0:
        raise ValueError(f"tol must be > 0, got {tol!r}")
    fd_step = float(options.pop("fd_step", np.sqrt(np.finfo(float).eps)))
    rec = _Recorder(method, callback, log_every)
    problem = _Problem(fun, jac, hess, rec, fd_step)
    maxiter = (100 if method == "newton" else 1000) if maxiter is None else int(maxiter)
    maxfev = np.iinfo(np.int64).max if maxfev is None else int(maxfev)
    if method == "gd":
        return _gradient_descent(problem, x, maxiter, maxfev, tol, **options)
    return _second_order(problem, x, method, maxiter, maxfev, tol, **options)


def _check_options(method: str, options: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(options) - allowed
    if unknown:
        raise ValueError(f"unknown option(s) for method={method!r}: {', '.join(sorted(unknown))}")


def _gradient_descent(
    problem: _Problem, x: np.ndarray, maxiter: int, maxfev: int, tol: float, **options: Any
) -> MinimizeResult:
    """Batch gradient descent with momentum: ``Delta <- -eta grad + mu Delta``; ``x += Delta``."""
    _check_options("gd", options, {"learning_rate", "momentum"})
    eta = float(options.get("learning_rate", 0.1))
    mu = float(options.get("momentum", 0.0))
    if not eta > 0:
        raise ValueError(f"learning_rate must be > 0, got {eta!r}")
    if not 0 <= mu < 1:
        raise ValueError(f"momentum must be in [0, 1), got {mu!r}")
    rec = problem.rec
    f, g = problem.value_grad(x)
    rec.record(0, x, f)
    delta = np.zeros_like(x)
    nit = 0
    while True:
        if not np.isfinite(f) or not np.all(np.isfinite(g)):
            return rec.result(x, f, nit, False, "diverged: objective or gradient not finite")
        if np.max(np.abs(g)) <= tol:
            return rec.result(x, f, nit, True, "gradient norm below tol", g)
        if nit >= maxiter:
            return rec.result(x, f, nit, False, "maximum number of iterations reached", g)
        if rec.nfev >= maxfev:
            return rec.result(x, f, nit, False, "evaluation budget (maxfev) used", g)
        delta *= mu
        delta -= eta * g
        x = x + delta
        f, g = problem.value_grad(x)
        nit += 1
        if rec.record(nit, x, f):
            return rec.result(x, f, nit, False, "stopped by callback", g)


def _second_order(
    problem: _Problem, x: np.ndarray, method: str, maxiter: int, maxfev: int, tol: float,
    **options: Any,
) -> MinimizeResult:
    """Newton, BFGS and L-BFGS: direction from (approximate) curvature, Wolfe line search."""
    allowed = {"c1", "c2", "max_ls_evals"} | ({"memory"} if method == "lbfgs" else set())
    _check_options(method, options, allowed)
    c1 = float(options.get("c1", 1e-4))
    c2 = float(options.get("c2", 0.9))
    max_ls = int(options.get("max_ls_evals", 30))
    m = int(options.get("memory", 10))
    if method == "lbfgs" and m < 1:
        raise ValueError(f"memory must be >= 1, got {m}")
    rec = problem.rec
    n = x.size
    f, g = problem.value_grad(x)
    rec.record(0, x, f)
    H = np.eye(n) if method == "bfgs" else None  # inverse-Hessian approximation
    pairs_s: list[np.ndarray] = []
    pairs_y: list[np.ndarray] = []
    nit = 0
    first = True
    while True:
        if not np.isfinite(f) or not np.all(np.isfinite(g)):
            return rec.result(x, f, nit, False, "objective or gradient not finite")
        if np.max(np.abs(g)) <= tol:
            return rec.result(x, f, nit, True, "gradient norm below tol", g)
        if nit >= maxiter:
            return rec.result(x, f, nit, False, "maximum number of iterations reached", g)
        if rec.nfev >= maxfev:
            return rec.result(x, f, nit, False, "evaluation budget (maxfev) used", g)

        # --- search direction ------------------------------------------------------
        if method == "newton":
            p = _newton_direction(problem.hessian(x, g), g)
            alpha0 = 1.0
        elif method == "bfgs":
            p = -(H @ g)
            alpha0 = min(1.0, 1.0 / np.linalg.norm(g)) if first else 1.0
        else:
            p = -_two_loop(g, pairs_s, pairs_y)
            alpha0 = min(1.0, 1.0 / np.linalg.norm(g)) if first else 1.0
        if not g @ p < 0:  # lost descent (numerical): restart from steepest descent
            logger.debug("%s: direction not descent, resetting to -grad", method)
            p = -g
            H = np.eye(n) if method == "bfgs" else H
            pairs_s.clear()
            pairs_y.clear()
            alpha0 = min(1.0, 1.0 / np.linalg.norm(g))

        ls = wolfe_line_search(
            problem.value_grad, x, p, f, g, alpha0=alpha0, c1=c1, c2=c2, max_evals=max_ls
        )
        if ls.alpha == 0.0:
            return rec.result(
                x, f, nit, False, "line search failed: no decrease along the direction", g
            )
        s = ls.alpha * p
        x_new = x + s
        y = ls.grad - g
        x, f_old, f, g = x_new, f, ls.fun, ls.grad
        nit += 1

        # --- curvature update ---------------------------------------------------------
        sy = float(s @ y)
        if sy > 1e-10 * np.linalg.norm(s) * np.linalg.norm(y):
            if method == "bfgs":
                if first:
                    H *= sy / float(y @ y)  # Nocedal & Wright (6.20)
                rho = 1.0 / sy
                Hy = H @ y
                H += rho * ((1.0 + rho * float(y @ Hy)) * np.outer(s, s)
                            - np.outer(Hy, s) - np.outer(s, Hy))
            elif method == "lbfgs":
                pairs_s.append(s)
                pairs_y.append(y)
                if len(pairs_s) > m:
                    pairs_s.pop(0)
                    pairs_y.pop(0)
        first = False
        if rec.record(nit, x, f):
            return rec.result(x, f, nit, False, "stopped by callback", g)
        if not ls.success and abs(f_old - f) <= 1e-15 * max(1.0, abs(f)):
            return rec.result(
                x, f, nit, np.max(np.abs(g)) <= tol,
                "line search failed: precision loss (no further decrease)", g,
            )


def _newton_direction(H: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Solve ``(H + tau I) p = -g`` with the smallest ``tau >= 0`` making it positive definite."""
    n = g.size
    diag_min = float(np.min(np.diag(H)))
    tau = 0.0 if diag_min > 0 else -diag_min + 1e-3
    scale = max(1e-8, 1e-3 * float(np.max(np.abs(np.diag(H)))))
    for _ in range(60):
        try:
            L = np.linalg.cholesky(H + tau * np.eye(n))
        except np.linalg.LinAlgError:
            tau = max(2.0 * tau, scale)
            continue
        z = _solve_triangular(L, -g, lower=True)
        return _solve_triangular(L.T, z, lower=False)
    return -g


def _solve_triangular(L: np.ndarray, b: np.ndarray, lower: bool) -> np.ndarray:
    from scipy.linalg import solve_triangular

    return solve_triangular(L, b, lower=lower, check_finite=False)


def _two_loop(g: np.ndarray, S: list[np.ndarray], Y: list[np.ndarray]) -> np.ndarray:
    """L-BFGS two-loop recursion: return ``H g`` from the stored pairs (newest last)."""
    q = g.copy()
    if not S:
        return q
    rho = [1.0 / float(y @ s) for s, y in zip(S, Y, strict=True)]
    a = [0.0] * len(S)
    for i in range(len(S) - 1, -1, -1):
        a[i] = rho[i] * float(S[i] @ q)
        q -= a[i] * Y[i]
    gamma = float(S[-1] @ Y[-1]) / float(Y[-1] @ Y[-1])
    r = gamma * q
    for i in range(len(S)):
        b = rho[i] * float(Y[i] @ r)
        r += S[i] * (a[i] - b)
    return r
