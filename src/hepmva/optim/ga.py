"""A real-valued genetic algorithm (the lecture's evolutionary minimiser; TMVA's GA).

One generation:

1. **selection**: each parent is the fittest of ``tournament_size`` individuals drawn at random;
2. **crossover** (probability ``crossover_prob`` per pair): simulated binary crossover
   (SBX, distribution index ``eta_c``; children spread around the parents like one-point
   crossover on binary strings) or blend crossover (BLX-alpha: children uniform in the
   parents' box widened by ``alpha`` on each side);
3. **mutation**: each gene with probability ``mutation_prob`` gets Gaussian noise of standard
   deviation ``sigma_t * (high - low)``; ``sigma_t`` shrinks geometrically from
   ``mutation_scale`` to ``mutation_scale_final`` over the run (explore first, refine last);
4. **elitism**: the ``elitism`` best individuals pass unchanged; children are clipped to bounds.

Fitness is ``fun`` (lower is better).  With ``vectorized=True`` the whole batch of children is
evaluated in one call ``fun(P)`` on an ndarray of shape (n_children, n); otherwise one call per
child.  The history records, per generation, the best objective so far and the population mean.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from .result import IterationState, MinimizeResult, Recorder

__all__ = ["genetic_algorithm", "random_search", "weight_search_options"]

logger = logging.getLogger(__name__)

CROSSOVERS = ("sbx", "blend")


def _evaluate(
    fun: Callable[[np.ndarray], Any], P: np.ndarray, vectorized: bool, rec: Recorder
) -> np.ndarray:
    """Objective of every row of ``P`` (non-finite values count as +inf)."""
    if P.shape[0] == 0:
        return np.empty(0)
    if vectorized:
        f = np.asarray(fun(P), dtype=np.float64).reshape(-1)
        if f.shape[0] != P.shape[0]:
            raise ValueError(
                f"vectorized fun must return shape ({P.shape[0]},), got {np.shape(f)}"
            )
    else:
        f = np.array([float(fun(p)) for p in P])
    rec.nfev += P.shape[0]
    return np.where(np.isfinite(f), f, np.inf)


def _tournament(f: np.ndarray, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` parents, each the fittest of ``k`` random individuals."""
    contenders = rng.integers(0, f.size, size=(n, k))
    return contenders[np.arange(n), np.argmin(f[contenders], axis=1)]


def _sbx(
    a: np.ndarray, b: np.ndarray, eta_c: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated binary crossover of parent rows ``a``, ``b`` (each gene with probability 1/2)."""
    u = rng.random(a.shape)
    beta = np.where(
        u <= 0.5, (2.0 * u) ** (1.0 / (eta_c + 1.0)), (0.5 / (1.0 - u)) ** (1.0 / (eta_c + 1.0))
    )
    beta = np.where(rng.random(a.shape) < 0.5, beta, 1.0)  # gene-wise: half the genes cross
    c1 = 0.5 * ((1.0 + beta) * a + (1.0 - beta) * b)
    c2 = 0.5 * ((1.0 - beta) * a + (1.0 + beta) * b)
    return c1, c2


def _blend(
    a: np.ndarray, b: np.ndarray, alpha: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """BLX-alpha crossover: children uniform in [min - alpha d, max + alpha d], d = |a - b|."""
    lo = np.minimum(a, b)
    d = np.abs(a - b)
    lo = lo - alpha * d
    width = (1.0 + 2.0 * alpha) * d
    return lo + rng.random(a.shape) * width, lo + rng.random(a.shape) * width


def genetic_algorithm(
    fun: Callable[[np.ndarray], Any],
    bounds: np.ndarray,
    *,
    x0: Any = None,
    random_state: int | np.random.Generator | None = None,
    max_generations: int = 100,
    maxfev: int | None = None,
    tol: float = 0.0,
    callback: Callable[[IterationState], Any] | None = None,
    log_every: int = 10,
    pop_size: int = 50,
    tournament_size: int = 3,
    crossover: str = "sbx",
    crossover_prob: float = 0.9,
    eta_c: float = 15.0,
    blend_alpha: float = 0.5,
    mutation_prob: float | None = None,
    mutation_scale: float = 0.1,
    mutation_scale_final: float = 1e-4,
    elitism: int = 2,
    vectorized: bool = False,
    n_gen_no_change: int | None = None,
    initial_population: np.ndarray | None = None,
) -> MinimizeResult:
    """Minimise ``fun`` inside ``bounds`` with a real-valued genetic algorithm.

    Usually called as ``hepmva.optim.minimize(fun, x0, method="ga", bounds=..., ...)``.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> float`` with ``x`` of shape (n,); with ``vectorized=True``
        ``fun(P) -> ndarray of shape (m,)`` for ``P`` of shape (m, n).
    bounds : ndarray of shape (n, 2)
        ``(low, high)`` for every parameter (the search box).
    x0 : array-like of shape (n,) or None
        Optional individual seeded into the initial population.
    random_state : int, Generator or None
        Seed (``np.random.default_rng``).
    max_generations : int, default 100
        Number of generations (``nit``).
    maxfev : int or None
        Budget of objective evaluations (``pop_size`` for the first generation, then
        ``pop_size - elitism`` per generation); the last generation is trimmed to fit exactly.
    tol : float, default 0.0
        With ``n_gen_no_change``: stop when the best objective improved by less than ``tol``
        over that many generations.
    callback : callable or None
        ``callback(IterationState)`` per generation (best individual); True stops.
    log_every : int, default 10
        INFO log every ``log_every`` generations.
    pop_size : int, default 50
        Population size.
    tournament_size : int, default 3
        Individuals per selection tournament (selection pressure).
    crossover : {"sbx", "blend"}, default "sbx"
        Crossover operator.
    crossover_prob : float, default 0.9
        Probability that a pair of parents is crossed (else copied).
    eta_c : float, default 15
        SBX distribution index (larger: children closer to the parents).
    blend_alpha : float, default 0.5
        BLX-alpha widening.
    mutation_prob : float or None
        Per-gene mutation probability; default ``1 / n``.
    mutation_scale, mutation_scale_final : float
        Gaussian mutation standard deviation, as a fraction of ``high - low``, at the first and
        the last generation (geometric interpolation in between).
    elitism : int, default 2
        Number of best individuals copied unchanged to the next generation.
    vectorized : bool, default False
        Evaluate the batch of children in one call.
    n_gen_no_change : int or None
        Early stop patience (see ``tol``); None disables.
    initial_population : ndarray of shape (pop_size, n) or None
        Explicit first generation (clipped to bounds); default uniform in the box.

    Returns
    -------
    MinimizeResult
        ``x``/``fun`` of the best individual ever seen; ``nit`` generations; ``history.fun`` best
        so far and ``history.fun_mean`` population mean per generation.  ``success`` is True
        unless stopped by the callback (the GA has no convergence certificate).
    """
    bounds = np.asarray(bounds, dtype=np.float64)
    n = bounds.shape[0]
    low, high = bounds[:, 0], bounds[:, 1]
    span = high - low
    if crossover not in CROSSOVERS:
        raise ValueError(f"unknown crossover {crossover!r}; choose one of {', '.join(CROSSOVERS)}")
    if pop_size < 2:
        raise ValueError(f"pop_size must be >= 2, got {pop_size}")
    if not 0 <= elitism < pop_size:
        raise ValueError(f"elitism must be in [0, pop_size), got {elitism}")
    if tournament_size < 1:
        raise ValueError(f"tournament_size must be >= 1, got {tournament_size}")
    if not 0 <= crossover_prob <= 1:
        raise ValueError(f"crossover_prob must be in [0, 1], got {crossover_prob}")
    if max_generations < 0:
        raise ValueError(f"max_generations must be >= 0, got {max_generations}")
    if not (0 < mutation_scale_final <= mutation_scale):
        raise ValueError(
            "need 0 < mutation_scale_final <= mutation_scale, got "
            f"{mutation_scale_final} and {mutation_scale}"
        )
    p_mut = 1.0 / n if mutation_prob is None else float(mutation_prob)
    if not 0 <= p_mut <= 1:
        raise ValueError(f"mutation_prob must be in [0, 1], got {mutation_prob}")
    rng = np.random.default_rng(random_state)
    rec = Recorder("ga", callback, log_every)
    budget = np.iinfo(np.int64).max if maxfev is None else int(maxfev)
    if budget < 1:
        raise ValueError(f"maxfev must be >= 1, got {maxfev}")

    # number of generations actually possible, for the mutation-scale schedule
    n_children = pop_size - elitism
    n_gen = max_generations
    if maxfev is not None:
        n_gen = min(n_gen, max(0, -(-(budget - pop_size) // n_children)))
    log_ratio = np.log(mutation_scale_final / mutation_scale)

    if initial_population is not None:
        P = np.clip(np.asarray(initial_population, dtype=np.float64), low, high)
        if P.shape != (pop_size, n):
            raise ValueError(f"initial_population must have shape ({pop_size}, {n}), got {P.shape}")
    else:
        P = low + rng.random((pop_size, n)) * span
    if x0 is not None:
        x0 = np.asarray(x0, dtype=np.float64).reshape(-1)
        if x0.size != n:
            raise ValueError(f"x0 has {x0.size} parameters but bounds has {n}")
        P[0] = np.clip(x0, low, high)
    P = P[: min(pop_size, budget)]
    f = _evaluate(fun, P, vectorized, rec)
    i_best = int(np.argmin(f))
    x_best, f_best = P[i_best].copy(), float(f[i_best])
    finite = np.isfinite(f)
    stop = rec.record(0, x_best, f_best, float(f[finite].mean()) if finite.any() else np.inf)
    best_hist = [f_best]
    gen = 0
    message = "maximum number of generations reached"
    while not stop:
        if gen >= max_generations:
            break
        room = budget - rec.nfev
        if room <= 0:
            message = "evaluation budget (maxfev) used"
            break
        gen += 1
        sigma = mutation_scale * np.exp(log_ratio * min(1.0, (gen - 1) / max(1, n_gen - 1)))
        order = np.argsort(f, kind="stable")
        elite = P[order[:elitism]]
        f_elite = f[order[:elitism]]
        m = min(n_children, room)
        n_pairs = (m + 1) // 2
        parents = _tournament(f, 2 * n_pairs, tournament_size, rng)
        a, b = P[parents[:n_pairs]], P[parents[n_pairs:]]
        if crossover == "sbx":
            c1, c2 = _sbx(a, b, eta_c, rng)
        else:
            c1, c2 = _blend(a, b, blend_alpha, rng)
        keep = rng.random(n_pairs) >= crossover_prob  # pairs copied without crossover
        c1[keep], c2[keep] = a[keep], b[keep]
        C = np.concatenate([c1, c2])[:m]
        mutate = rng.random(C.shape) < p_mut
        C = C + mutate * rng.normal(size=C.shape) * (sigma * span)
        np.clip(C, low, high, out=C)
        f_c = _evaluate(fun, C, vectorized, rec)
        P = np.concatenate([elite, C])
        f = np.concatenate([f_elite, f_c])
        i_best = int(np.argmin(f))
        if f[i_best] < f_best:
            x_best, f_best = P[i_best].copy(), float(f[i_best])
        finite = np.isfinite(f)
        stop = rec.record(gen, x_best, f_best, float(f[finite].mean()) if finite.any() else np.inf)
        best_hist.append(f_best)
        if (
            n_gen_no_change is not None
            and len(best_hist) > n_gen_no_change
            and best_hist[-1 - n_gen_no_change] - f_best < tol
        ):
            message = f"best objective improved by < tol over {n_gen_no_change} generations"
            break
    if stop:
        return rec.result(x_best, f_best, gen, False, "stopped by callback")
    if rec.nfev >= budget and message.startswith("maximum") and gen < max_generations:
        message = "evaluation budget (maxfev) used"
    return rec.result(x_best, f_best, gen, True, message)


def random_search(
    fun: Callable[[np.ndarray], Any],
    bounds: np.ndarray,
    n_evals: int,
    *,
    random_state: int | np.random.Generator | None = None,
    vectorized: bool = False,
) -> MinimizeResult:
    """Best of ``n_evals`` points drawn uniformly in ``bounds`` (the GA's baseline).

    Parameters
    ----------
    fun : callable
        Objective, as for :func:`genetic_algorithm`.
    bounds : ndarray of shape (n, 2)
        Search box.
    n_evals : int
        Number of evaluations.
    random_state : int, Generator or None
        Seed.
    vectorized : bool, default False
        Evaluate all points in one call.

    Returns
    -------
    MinimizeResult
        Best point; ``history`` holds the best-so-far after every evaluation batch of 100.
    """
    bounds = np.asarray(bounds, dtype=np.float64)
    rng = np.random.default_rng(random_state)
    rec = Recorder("random", None, 10**9)
    low, high = bounds[:, 0], bounds[:, 1]
    x_best, f_best = None, np.inf
    done = 0
    while done < n_evals:
        k = min(100, n_evals - done)
        P = low + rng.random((k, low.size)) * (high - low)
        f = _evaluate(fun, P, vectorized, rec)
        i = int(np.argmin(f))
        if x_best is None or f[i] < f_best:
            x_best, f_best = P[i].copy(), float(f[i])
        done += k
        rec.record(done // 100, x_best, f_best, float(np.mean(f)))
    return rec.result(x_best, f_best, done, True, "evaluations used")


def weight_search_options(
    theta0: np.ndarray,
    rng: np.random.Generator,
    *,
    pop_size: int = 50,
    radius: float = 3.0,
    init_scale: float = 0.5,
) -> dict[str, Any]:
    """``minimize(method="ga")`` options for searching network weights around ``theta0``.

    Used for training an MLP by the GA (TMVA's MLP with the GA trainer): the search box is
    ``theta0 +- radius`` per weight; the first population is ``theta0 + init_scale * N(0, 1)``
    with ``theta0`` itself as first member (so the GA starts where gradient methods start);
    mutation acts on 10% of the genes with a scale shrinking from 5% to 0.1% of the box
    (tuned on a toy: the generic defaults are far worse for ~100 weights).

    Parameters
    ----------
    theta0 : ndarray of shape (n_params,)
        Initial weights.
    rng : Generator
        Random generator for the first population (also pass it as ``random_state``).
    pop_size : int, default 50
        Population size.
    radius : float, default 3.0
        Half-width of the search box.
    init_scale : float, default 0.5
        Spread of the first population around ``theta0``.

    Returns
    -------
    dict
        ``bounds``, ``pop_size``, ``initial_population`` and the mutation settings.
    """
    theta0 = np.asarray(theta0, dtype=np.float64).ravel()
    population = theta0 + float(init_scale) * rng.normal(size=(int(pop_size), theta0.size))
    population[0] = theta0
    return {
        "bounds": np.column_stack([theta0 - radius, theta0 + radius]),
        "pop_size": int(pop_size),
        "initial_population": population,
        "mutation_prob": 0.1,
        "mutation_scale": 0.05,
        "mutation_scale_final": 1e-3,
    }
