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
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.linalg import solve_triangular

from .ga import genetic_algorithm
from .linesearch import wolfe_line_search
from .result import History, IterationState, MinimizeResult, Problem, Recorder

__all__ = ["History", "IterationState", "MinimizeResult", "minimize", "METHODS"]  # the records: hepmva.optim.result

logger = logging.getLogger(__name__)

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
        return _minimize_ga(fun, x0, jac=jac, bounds=bounds, random_state=random_state, maxiter=maxiter,
                            maxfev=maxfev, tol=tol, callback=callback, log_every=log_every, **options)
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
    rec = Recorder(method, callback, log_every)
    problem = Problem(fun, jac, hess, rec, fd_step)
    maxiter = (100 if method == "newton" else 1000) if maxiter is None else int(maxiter)
    maxfev = np.iinfo(np.int64).max if maxfev is None else int(maxfev)
    return _GRADIENT_METHODS[method](problem, x, maxiter, maxfev, tol, **options)


def _minimize_ga(fun, x0, *, jac, bounds, random_state, maxiter, maxfev, tol, callback, log_every,
                 **options: Any) -> MinimizeResult:
    """The genetic algorithm of :mod:`hepmva.optim.ga` on the box ``bounds``."""
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


def _check_options(method: str, options: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(options) - allowed
    if unknown:
        raise ValueError(f"unknown option(s) for method={method!r}: {', '.join(sorted(unknown))}")


def _minimize_gd(
    problem: Problem, x: np.ndarray, maxiter: int, maxfev: int, tol: float, **options: Any
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


def _minimize_newton(problem: Problem, x: np.ndarray, maxiter: int, maxfev: int, tol: float,
                     **options: Any) -> MinimizeResult:
    """Damped Newton: ``(H + tau I) p = -grad J`` (:func:`_newton_direction`), Wolfe line search."""
    _check_options("newton", options, _LINE_SEARCH_OPTIONS)
    return _line_search_descent(problem, x, _NewtonDirection(problem), maxiter, maxfev, tol, **options)


def _minimize_bfgs(problem: Problem, x: np.ndarray, maxiter: int, maxfev: int, tol: float,
                   **options: Any) -> MinimizeResult:
    """BFGS: ``p = -H grad J`` with the inverse-Hessian update of :class:`_BFGSInverse`."""
    _check_options("bfgs", options, _LINE_SEARCH_OPTIONS)
    return _line_search_descent(problem, x, _BFGSInverse(x.size), maxiter, maxfev, tol, **options)


def _minimize_lbfgs(problem: Problem, x: np.ndarray, maxiter: int, maxfev: int, tol: float,
                    **options: Any) -> MinimizeResult:
    """L-BFGS: ``p = -H grad J`` from the last ``memory`` pairs (two-loop recursion)."""
    _check_options("lbfgs", options, _LINE_SEARCH_OPTIONS | {"memory"})
    m = int(options.pop("memory", 10))
    if m < 1:
        raise ValueError(f"memory must be >= 1, got {m}")
    return _line_search_descent(problem, x, _LBFGSMemory(m), maxiter, maxfev, tol, **options)


_LINE_SEARCH_OPTIONS = {"c1", "c2", "max_ls_evals"}


class _NewtonDirection:
    """Newton's direction from the (possibly finite-differenced) Hessian; nothing to update."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem

    def direction(self, x: np.ndarray, g: np.ndarray, first: bool) -> tuple[np.ndarray, float]:
        return _newton_direction(self.problem.hessian(x, g), g), 1.0

    def reset(self) -> None:
        pass

    def update(self, s: np.ndarray, y: np.ndarray, sy: float, first: bool) -> None:
        pass


class _BFGSInverse:
    """The BFGS inverse-Hessian approximation ``H = B^{-1}``, starting from the identity."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.H = np.eye(n)

    def direction(self, x: np.ndarray, g: np.ndarray, first: bool) -> tuple[np.ndarray, float]:
        return -(self.H @ g), min(1.0, 1.0 / np.linalg.norm(g)) if first else 1.0

    def reset(self) -> None:
        self.H = np.eye(self.n)

    def update(self, s: np.ndarray, y: np.ndarray, sy: float, first: bool) -> None:
        H = self.H
        if first:
            H *= sy / float(y @ y)  # Nocedal & Wright (6.20)
        rho = 1.0 / sy
        Hy = H @ y
        # the expanded O(n^2) form of the docstring's H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T
        # (H symmetric): no n x n matrix product
        H += rho * ((1.0 + rho * float(y @ Hy)) * np.outer(s, s) - np.outer(Hy, s) - np.outer(s, Hy))


class _LBFGSMemory:
    """The last ``m`` pairs ``(s, y)``; ``H g`` by the two-loop recursion (:func:`_two_loop`)."""

    def __init__(self, m: int) -> None:
        self.m = m
        self.S: list[np.ndarray] = []
        self.Y: list[np.ndarray] = []

    def direction(self, x: np.ndarray, g: np.ndarray, first: bool) -> tuple[np.ndarray, float]:
        return -_two_loop(g, self.S, self.Y), min(1.0, 1.0 / np.linalg.norm(g)) if first else 1.0

    def reset(self) -> None:
        self.S.clear()
        self.Y.clear()

    def update(self, s: np.ndarray, y: np.ndarray, sy: float, first: bool) -> None:
        self.S.append(s)
        self.Y.append(y)
        if len(self.S) > self.m:
            self.S.pop(0)
            self.Y.pop(0)


def _line_search_descent(problem: Problem, x: np.ndarray, curvature, maxiter: int, maxfev: int, tol: float,
                         **options: Any) -> MinimizeResult:
    """The loop Newton, BFGS and L-BFGS share: direction from ``curvature``, Wolfe line search, update."""
    c1 = float(options.get("c1", 1e-4))
    c2 = float(options.get("c2", 0.9))
    max_ls = int(options.get("max_ls_evals", 30))
    rec = problem.rec
    method = rec.method
    f, g = problem.value_grad(x)
    rec.record(0, x, f)
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

        p, alpha0 = curvature.direction(x, g, first)
        if not g @ p < 0:  # lost descent (numerical): restart from steepest descent
            logger.debug("%s: direction not descent, resetting to -grad", method)
            p = -g
            curvature.reset()
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

        sy = float(s @ y)
        if sy > 1e-10 * np.linalg.norm(s) * np.linalg.norm(y):  # curvature condition: update
            curvature.update(s, y, sy, first)
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


#: one function per gradient method (the dispatch of :func:`minimize`, as scipy's ``_minimize.py``)
_GRADIENT_METHODS = {"newton": _minimize_newton, "bfgs": _minimize_bfgs, "lbfgs": _minimize_lbfgs, "gd": _minimize_gd}
METHODS = (*_GRADIENT_METHODS, "ga")
