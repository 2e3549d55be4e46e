"""Line search satisfying the strong Wolfe conditions (Nocedal & Wright, Algorithms 3.5 and 3.6).

Along a descent direction ``p`` from ``x`` the step length ``alpha`` is accepted when

    phi(alpha) <= phi(0) + c1 alpha phi'(0)          (sufficient decrease, Armijo)
    |phi'(alpha)| <= c2 |phi'(0)|                      (strong curvature condition)

with ``phi(alpha) = J(x + alpha p)``.  The curvature condition guarantees ``s^T y > 0`` for the
BFGS update, so the quasi-Newton matrix stays positive definite.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = ["LineSearchResult", "wolfe_line_search"]

logger = logging.getLogger(__name__)


class LineSearchResult(NamedTuple):
    """Outcome of :func:`wolfe_line_search`.

    Attributes
    ----------
    alpha : float
        Accepted step length (the best one tried if ``success`` is False).
    fun : float
        ``J(x + alpha p)``.
    grad : ndarray of shape (n,)
        Gradient at ``x + alpha p``.
    n_evals : int
        Number of (value, gradient) evaluations made.
    success : bool
        Whether both strong Wolfe conditions hold.
    """

    alpha: float
    fun: float
    grad: np.ndarray
    n_evals: int
    success: bool


def _cubic_min(a: float, fa: float, da: float, b: float, fb: float, db: float) -> float | None:
    """Minimiser of the cubic interpolating (a, fa, da) and (b, fb, db), or None."""
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    disc = d1 * d1 - da * db
    if disc < 0:
        return None
    d2 = np.copysign(np.sqrt(disc), b - a)
    denom = db - da + 2.0 * d2
    if denom == 0:
        return None
    t = b - (b - a) * (db + d2 - d1) / denom
    return float(t) if np.isfinite(t) else None


def wolfe_line_search(
    fun_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x: np.ndarray,
    p: np.ndarray,
    f0: float,
    g0: np.ndarray,
    *,
    alpha0: float = 1.0,
    c1: float = 1e-4,
    c2: float = 0.9,
    alpha_max: float = 1e10,
    max_evals: int = 30,
) -> LineSearchResult:
    """Find a step ``alpha`` along ``p`` satisfying the strong Wolfe conditions.

    Parameters
    ----------
    fun_grad : callable
        ``fun_grad(x) -> (J(x), grad J(x))`` with ``grad`` an ndarray of shape (n,).
    x : ndarray of shape (n,)
        Current point.
    p : ndarray of shape (n,)
        Search direction; must be a descent direction (``g0 . p < 0``).
    f0 : float
        ``J(x)``.
    g0 : ndarray of shape (n,)
        ``grad J(x)``.
    alpha0 : float, default 1.0
        First trial step (1 is the natural Newton / quasi-Newton step).
    c1, c2 : float
        Wolfe constants, ``0 < c1 < c2 < 1``.
    alpha_max : float
        Largest step allowed.
    max_evals : int
        Budget of evaluations for this search.

    Returns
    -------
    LineSearchResult
        The accepted step, its value and gradient, evaluations used and success flag.
    """
    if not 0 < c1 < c2 < 1:
        raise ValueError(f"Wolfe constants must satisfy 0 < c1 < c2 < 1, got c1={c1}, c2={c2}")
    dphi0 = float(g0 @ p)
    if not dphi0 < 0:
        raise ValueError(f"p is not a descent direction (grad . p = {dphi0})")
    n_evals = 0
    best = (0.0, f0, g0)  # best (alpha, f, g) seen, returned on failure

    def phi(alpha: float) -> tuple[float, float, np.ndarray]:
        nonlocal n_evals, best
        n_evals += 1
        f, g = fun_grad(x + alpha * p)
        f = float(f)
        if np.isfinite(f) and f < best[1]:
            best = (alpha, f, g)
        return f, float(g @ p) if np.all(np.isfinite(g)) else np.nan, g

    def zoom(a_lo, f_lo, d_lo, g_lo, a_hi, f_hi, d_hi):
        while n_evals < max_evals:
            a_j = _cubic_min(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi)
            lo, hi = min(a_lo, a_hi), max(a_lo, a_hi)
            width = hi - lo
            if a_j is None or not (lo + 0.1 * width <= a_j <= hi - 0.1 * width):
                a_j = 0.5 * (a_lo + a_hi)  # bisection safeguard
            f_j, d_j, g_j = phi(a_j)
            if not np.isfinite(f_j) or f_j > f0 + c1 * a_j * dphi0 or f_j >= f_lo:
                a_hi, f_hi, d_hi = a_j, f_j, d_j
                if not np.isfinite(f_j):
                    f_hi, d_hi = np.inf, np.nan
            else:
                if abs(d_j) <= -c2 * dphi0:
                    return LineSearchResult(a_j, f_j, g_j, n_evals, True)
                if d_j * (a_hi - a_lo) >= 0:
                    a_hi, f_hi, d_hi = a_lo, f_lo, d_lo
                a_lo, f_lo, d_lo, g_lo = a_j, f_j, d_j, g_j
            if abs(a_hi - a_lo) <= 1e-14 * max(1.0, abs(a_lo)):
                break
            if not np.isfinite(f_hi) or not np.isfinite(d_hi):
                # cubic needs finite data at both ends: bisect until it is finite
                f_hi, d_hi = np.inf, np.nan
        return None

    a_prev, f_prev, d_prev, g_prev = 0.0, f0, dphi0, g0
    alpha = float(alpha0)
    result = None
    for i in range(max_evals):
        f_a, d_a, g_a = phi(alpha)
        if not np.isfinite(f_a) or not np.isfinite(d_a):
            # overflow: shrink the step and try again (the model says nothing here)
            alpha = a_prev + 0.1 * (alpha - a_prev)
            if n_evals >= max_evals:
                break
            continue
        if f_a > f0 + c1 * alpha * dphi0 or (i > 0 and f_a >= f_prev):
            result = zoom(a_prev, f_prev, d_prev, g_prev, alpha, f_a, d_a)
            break
        if abs(d_a) <= -c2 * dphi0:
            result = LineSearchResult(alpha, f_a, g_a, n_evals, True)
            break
        if d_a >= 0:
            result = zoom(alpha, f_a, d_a, g_a, a_prev, f_prev, d_prev)
            break
        a_prev, f_prev, d_prev, g_prev = alpha, f_a, d_a, g_a
        alpha = min(2.0 * alpha, alpha_max)
        if n_evals >= max_evals:
            break
    if result is not None:
        return result
    alpha_b, f_b, g_b = best
    logger.debug("Wolfe line search failed after %d evaluations; best alpha %g", n_evals, alpha_b)
    return LineSearchResult(alpha_b, f_b, g_b, n_evals, False)
