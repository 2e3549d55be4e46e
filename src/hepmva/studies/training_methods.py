"""The fair comparison of training methods: GA vs gradient descent vs (L-)BFGS on one MLP.

Same network (:class:`hepmva.nn.MLPClassifier`, float64), same initial weights ``theta_0``, same
full training set, same budget of **loss evaluations**, each method run through
:func:`hepmva.optim.minimize` on the flat parameter vector:

- ``gd``: batch gradient descent with momentum (one loss-and-gradient evaluation per step);
- ``bfgs`` / ``lbfgs``: quasi-Newton with a Wolfe line search (one evaluation per trial step);
- ``ga``: the genetic algorithm on the weights, no gradients (one forward pass per individual);
  its first population is ``theta_0`` plus Gaussian noise (``theta_0`` itself included), the
  search box is ``theta_0 +- r`` per weight (:func:`hepmva.optim.ga.weight_search_options`).

A "loss evaluation" is one pass over the training set; a gradient evaluation costs about twice a
forward pass, which is why the curves are also drawn against wall time.  Along each run the
training loss and the validation AUC are recorded at checkpoints (about ``n_checkpoints``, evenly
spaced in log(nfev)); the time spent computing the AUC is *excluded* from the wall time.

TMVA's documentation calls GA training of MLPs "slower and worse"; this study measures it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from hepmva.metrics import roc_auc
from hepmva.nn import MLPClassifier
from hepmva.nn.objective import FlatObjective
from hepmva.optim.ga import weight_search_options
from hepmva.optim.minimize import IterationState, MinimizeResult, minimize

__all__ = [
    "METHODS",
    "MethodCurve",
    "TrainingMethodsResult",
    "compare_training_methods",
]

logger = logging.getLogger(__name__)

METHODS = ("gd", "bfgs", "lbfgs", "ga")


@dataclass
class MethodCurve:
    """Learning curve of one method.

    Attributes
    ----------
    method : str
        Method name.
    nfev : ndarray of shape (n_points,)
        Cumulative loss evaluations at each checkpoint.
    time : ndarray of shape (n_points,)
        Wall time (s) at each checkpoint, AUC bookkeeping excluded.
    loss : ndarray of shape (n_points,)
        Training loss (GA: best individual).
    val_auc : ndarray of shape (n_points,)
        Weighted validation AUC.
    result : MinimizeResult
        The full minimiser record (per-iteration history).
    """

    method: str
    nfev: np.ndarray
    time: np.ndarray
    loss: np.ndarray
    val_auc: np.ndarray
    result: MinimizeResult = field(repr=False)

    @property
    def final_auc(self) -> float:
        """Validation AUC at the end of the run."""
        return float(self.val_auc[-1])

    @property
    def final_loss(self) -> float:
        """Training loss at the end of the run."""
        return float(self.loss[-1])


@dataclass
class TrainingMethodsResult:
    """All curves of :func:`compare_training_methods` plus the setting.

    Attributes
    ----------
    curves : dict of str to MethodCurve
        One per method, in the order run.
    budget : int
        Loss evaluations allowed to every method.
    n_params : int
        Number of network parameters.
    initial_loss, initial_auc : float
        At the common starting point ``theta_0``.
    settings : dict
        Architecture and method options (JSON-able).
    """

    curves: dict[str, MethodCurve]
    budget: int
    n_params: int
    initial_loss: float
    initial_auc: float
    settings: dict[str, Any]

    def summary(self) -> list[dict[str, Any]]:
        """One row per method: final loss/AUC, evaluations, iterations, wall time."""
        rows = []
        for name, c in self.curves.items():
            rows.append({
                "method": name,
                "final_loss": c.final_loss,
                "val_auc": c.final_auc,
                "nfev": int(c.result.nfev),
                "nit": int(c.result.nit),
                "seconds": float(c.time[-1]),
                "message": c.result.message,
            })
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-able copy (curves as lists)."""
        return {
            "budget": self.budget,
            "n_params": self.n_params,
            "initial_loss": self.initial_loss,
            "initial_auc": self.initial_auc,
            "settings": self.settings,
            "summary": self.summary(),
            "curves": {
                name: {
                    "nfev": c.nfev.tolist(), "time": c.time.tolist(), "loss": c.loss.tolist(),
                    "val_auc": c.val_auc.tolist(),
                }
                for name, c in self.curves.items()
            },
        }


def _checkpoints(budget: int, n: int) -> np.ndarray:
    """About ``n`` evaluation counts, evenly spaced in log, from 1 to ``budget``."""
    return np.unique(np.round(np.geomspace(1, max(budget, 1), max(n, 2))).astype(np.int64))


def compare_training_methods(
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None = None,
    *,
    X_val: np.ndarray,
    y_val: np.ndarray,
    sample_weight_val: np.ndarray | None = None,
    methods: Sequence[str] = METHODS,
    budget: int = 2000,
    hidden_layer_sizes: Sequence[int] = (16,),
    activation: str = "tanh",
    alpha: float = 1e-4,
    gd_learning_rate: float = 0.5,
    gd_momentum: float = 0.9,
    lbfgs_memory: int = 10,
    ga_pop_size: int = 50,
    ga_weight_range: float = 3.0,
    ga_init_scale: float = 0.5,
    ga_options: dict[str, Any] | None = None,
    n_checkpoints: int = 60,
    random_state: int = 0,
) -> TrainingMethodsResult:
    """Train the same MLP from the same ``theta_0`` with each method at equal budget.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training features (already preprocessed).
    y : ndarray of shape (n_samples,)
        Labels in {0, 1} (1 = signal).
    sample_weight : ndarray of shape (n_samples,), optional
        Training event weights.
    X_val : ndarray of shape (n_val, n_features)
        Validation features (for the AUC).
    y_val : ndarray of shape (n_val,)
        Validation labels in {0, 1}.
    sample_weight_val : ndarray of shape (n_val,), optional
        Validation event weights.
    methods : sequence of {"gd", "bfgs", "lbfgs", "ga"}
        Methods to compare.
    budget : int, default 2000
        Loss evaluations (passes over the training set) allowed to every method.
    hidden_layer_sizes, activation, alpha
        The network (float64, cross-entropy).
    gd_learning_rate, gd_momentum : float
        Batch gradient descent step ``eta`` and momentum ``mu``.
    lbfgs_memory : int
        L-BFGS memory ``m``.
    ga_pop_size : int
        GA population size.
    ga_weight_range : float
        GA search box ``theta_0 +- r`` for every weight.
    ga_init_scale : float
        The first population is ``theta_0 + ga_init_scale * N(0, 1)`` (``theta_0`` itself is
        its first member), so the GA starts where the gradient methods start.
    ga_options : dict, optional
        Further :func:`hepmva.optim.ga.genetic_algorithm` options, overriding those of
        :func:`hepmva.optim.ga.weight_search_options`.
    n_checkpoints : int
        About how many (log-spaced) points of each curve carry an AUC.
    random_state : int
        Seed of ``theta_0`` and of the GA.

    Returns
    -------
    TrainingMethodsResult
        Curves (loss, AUC vs evaluations and wall time) and a summary per method.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown training method(s) {unknown}; choose from {list(METHODS)}")
    if int(budget) < 2:
        raise ValueError(f"budget must be >= 2 loss evaluations, got {budget!r}")
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    X_val = np.ascontiguousarray(X_val, dtype=np.float64)
    y_val = np.asarray(y_val, dtype=np.float64).ravel()
    w = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    w_val = (np.ones_like(y_val) if sample_weight_val is None
             else np.asarray(sample_weight_val, dtype=np.float64))
    if X.shape[0] != y.size or w.size != y.size:
        raise ValueError(f"X, y, sample_weight lengths differ: {X.shape[0]}, {y.size}, {w.size}")
    if X_val.shape[0] != y_val.size or w_val.size != y_val.size:
        raise ValueError("X_val, y_val, sample_weight_val lengths differ")
    if not set(np.unique(y)) <= {0.0, 1.0} or not set(np.unique(y_val)) <= {0.0, 1.0}:
        raise ValueError("y and y_val must be labels in {0, 1}")
    budget = int(budget)
    net = MLPClassifier(hidden_layer_sizes=tuple(int(h) for h in hidden_layer_sizes), activation=activation,
                        alpha=alpha, dtype="float64", loss="cross_entropy", random_state=random_state)
    model = FlatObjective.initial(net, X, y, w, random_state=random_state)
    theta0 = model.theta0
    marks = _checkpoints(budget, n_checkpoints)

    def auc_at(theta: np.ndarray) -> float:
        z = model.decision(theta, X_val)
        if not np.all(np.isfinite(z)):
            return float("nan")
        return float(roc_auc(y_val, z, w_val))

    initial_loss = model.value(theta0)
    model.value_and_grad(theta0)  # warm-up (buffer allocation), so no method pays for it
    initial_auc = auc_at(theta0)
    logger.info(
        "training-methods study: %d parameters, %d training events, budget %d evaluations; "
        "initial loss %.5f, AUC %.4f", model.n_params, X.shape[0], budget, initial_loss, initial_auc,
    )
    settings = {
        "hidden_layer_sizes": [int(h) for h in hidden_layer_sizes], "activation": activation,
        "alpha": alpha, "gd_learning_rate": gd_learning_rate, "gd_momentum": gd_momentum,
        "lbfgs_memory": lbfgs_memory, "ga_pop_size": ga_pop_size,
        "ga_weight_range": ga_weight_range, "ga_init_scale": ga_init_scale,
        "ga_options": {k: v for k, v in dict(ga_options or {}).items()}, "n_train": int(X.shape[0]),
        "n_val": int(X_val.shape[0]), "random_state": random_state,
    }

    curves: dict[str, MethodCurve] = {}
    # one BLAS thread for every method: comparable wall times on a shared node
    with threadpool_limits(limits=1, user_api="blas"):
        for method in methods:
            curves[method] = _run_method(
                method, model, auc_at, marks, budget, initial_loss, initial_auc,
                gd_learning_rate=gd_learning_rate, gd_momentum=gd_momentum,
                lbfgs_memory=lbfgs_memory, ga_pop_size=ga_pop_size,
                ga_weight_range=ga_weight_range, ga_init_scale=ga_init_scale,
                ga_options=ga_options, random_state=random_state,
            )
    return TrainingMethodsResult(
        curves=curves, budget=budget, n_params=model.n_params, initial_loss=initial_loss,
        initial_auc=initial_auc, settings=settings,
    )


def _run_method(
    method: str, model: FlatObjective,
    auc_at: Any, marks: np.ndarray, budget: int, initial_loss: float, initial_auc: float,
    *, gd_learning_rate: float, gd_momentum: float, lbfgs_memory: int, ga_pop_size: int,
    ga_weight_range: float, ga_init_scale: float, ga_options: dict[str, Any] | None,
    random_state: int,
) -> MethodCurve:
    """Run one method from ``model.theta0`` with AUC checkpoints; see compare_training_methods."""
    theta0 = model.theta0
    rows: list[tuple[int, float, float, float]] = [(0, 0.0, initial_loss, initial_auc)]
    overhead = [0.0]
    next_mark = [0]

    def callback(state: IterationState) -> None:
        # AUC only when a checkpoint was passed; its cost is not charged to the method
        if state.nfev < marks[min(next_mark[0], marks.size - 1)] and state.nfev < budget:
            return
        t0 = time.perf_counter()
        auc = auc_at(state.x)
        rows.append((state.nfev, state.time - overhead[0], state.fun, auc))
        while next_mark[0] < marks.size and marks[next_mark[0]] <= state.nfev:
            next_mark[0] += 1
        overhead[0] += time.perf_counter() - t0

    common: dict[str, Any] = {"maxfev": budget, "maxiter": 10**9, "callback": callback,
                              "log_every": 50}
    if method == "ga":
        ga_rng = np.random.default_rng(random_state)
        options = weight_search_options(
            theta0, ga_rng, pop_size=int(ga_pop_size), radius=float(ga_weight_range),
            init_scale=float(ga_init_scale),
        )
        options.update(dict(ga_options or {}))
        res = minimize(
            model.value, theta0.copy(), method="ga",
            random_state=ga_rng, **options, **common,
        )
    else:
        options = {}
        if method == "gd":
            options = {"learning_rate": gd_learning_rate, "momentum": gd_momentum}
        elif method == "lbfgs":
            options = {"memory": lbfgs_memory}
        res = minimize(
            model.value_and_grad, theta0.copy(), method=method, jac=True,
            tol=1e-8, **options, **common,
        )
    if rows[-1][0] != res.nfev:  # make sure the end point is on the curve
        t_end = float(res.history.time[-1]) - overhead[0] if res.history.time.size else 0.0
        rows.append((res.nfev, t_end, res.fun, auc_at(res.x)))
    cols = list(zip(*rows, strict=True))
    curve = MethodCurve(
        method=method, nfev=np.asarray(cols[0], dtype=np.int64),
        time=np.maximum.accumulate(np.asarray(cols[1], dtype=np.float64)),
        loss=np.asarray(cols[2], dtype=np.float64), val_auc=np.asarray(cols[3], dtype=np.float64),
        result=res,
    )
    logger.info(
        "%s: loss %.5f, validation AUC %.4f after %d evaluations (%d iterations) in %.2f s",
        method, curve.final_loss, curve.final_auc, res.nfev, res.nit, curve.time[-1],
    )
    return curve
