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

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from hepmva.metrics import roc_auc
from hepmva.nn import MLPClassifier
from hepmva.optim.ga import weight_search_options
from hepmva.optim.minimize import IterationState, MinimizeResult, minimize

__all__ = [
    "METHODS",
    "run_training_methods_study",
    "MethodCurve",
    "TrainingMethodsResult",
    "FlatMLP",
    "compare_training_methods",
]

logger = logging.getLogger(__name__)

METHODS = ("gd", "bfgs", "lbfgs", "ga")


class FlatMLP:
    """An :class:`~hepmva.nn.MLPClassifier` seen as functions of its flat parameter vector.

    Uses the network's flat-parameter interface (``_init_params``, ``_pack``, ``_unpack``,
    ``_loss_grad``) and its forward pass; the network itself is never ``fit``.

    Parameters
    ----------
    n_features : int
        Input dimension.
    hidden_layer_sizes : tuple of int
        Hidden layers.
    activation : str
        Hidden activation.
    alpha : float
        L2 penalty.
    random_state : int
        Seed of the initial weights ``theta_0``.
    """

    def __init__(
        self,
        n_features: int,
        hidden_layer_sizes: Sequence[int] = (16,),
        activation: str = "tanh",
        alpha: float = 1e-4,
        random_state: int = 0,
    ) -> None:
        self.net = MLPClassifier(
            hidden_layer_sizes=tuple(int(h) for h in hidden_layer_sizes), activation=activation,
            alpha=alpha, dtype="float64", loss="cross_entropy", random_state=random_state,
        )
        self.net._init_params(int(n_features), np.random.default_rng(random_state))
        self.net._prepare_math()
        self.net.classes_ = np.array([0, 1])
        self.theta0 = self.net._pack().astype(np.float64)

    @property
    def n_params(self) -> int:
        """Number of parameters (length of ``theta``)."""
        return int(self.theta0.size)

    def loss_grad(
        self, theta: np.ndarray, X: np.ndarray, y: np.ndarray, w: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """``(J(theta), grad J(theta))`` on a whole set (backpropagation)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            J, g = self.net._loss_grad(theta, X, y, w)
        return float(J), np.asarray(g, dtype=np.float64)

    def decision(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Output pre-activation ``z^(L)`` of shape (n_samples,) (forward pass only)."""
        self.net._unpack(theta)
        return np.asarray(self.net._decision(X), dtype=np.float64)

    def loss(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
        """``J(theta)`` by a forward pass only (cross-entropy + the network's L2), for the GA."""
        z = self.decision(theta, X)
        data = float(w @ (np.logaddexp(0.0, z) - y * z) / w.sum())
        J = data + self.net._penalty(X.shape[0])  # the network's own L2 term
        return J if np.isfinite(J) else np.inf


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
    model = FlatMLP(X.shape[1], hidden_layer_sizes, activation, alpha, random_state)
    theta0 = model.theta0
    marks = _checkpoints(budget, n_checkpoints)

    def auc_at(theta: np.ndarray) -> float:
        z = model.decision(theta, X_val)
        if not np.all(np.isfinite(z)):
            return float("nan")
        return float(roc_auc(y_val, z, w_val))

    initial_loss = model.loss(theta0, X, y, w)
    model.loss_grad(theta0, X, y, w)  # warm-up (buffer allocation), so no method pays for it
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
                method, model, X, y, w, auc_at, marks, budget, initial_loss, initial_auc,
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
    method: str, model: FlatMLP, X: np.ndarray, y: np.ndarray, w: np.ndarray,
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
            lambda th: model.loss(th, X, y, w), theta0.copy(), method="ga",
            random_state=ga_rng, **options, **common,
        )
    else:
        options = {}
        if method == "gd":
            options = {"learning_rate": gd_learning_rate, "momentum": gd_momentum}
        elif method == "lbfgs":
            options = {"memory": lbfgs_memory}
        res = minimize(
            lambda th: model.loss_grad(th, X, y, w), theta0.copy(), method=method, jac=True,
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


#: Config keys of the ``training_methods`` section passed on to :func:`compare_training_methods`.
STUDY_KEYS = ("methods", "budget", "hidden_layer_sizes", "activation", "alpha", "gd_learning_rate",
              "gd_momentum", "lbfgs_memory", "ga_pop_size", "ga_weight_range", "ga_init_scale")


def run_training_methods_study(
    feature_tables: Sequence[str | Path],
    *,
    feature_names: Sequence[str],
    training: Mapping[str, Any],
    settings: Mapping[str, Any],
    seed: int = 0,
    summary_path: str | Path,
    plot_path: str | Path,
) -> TrainingMethodsResult:
    """The pipeline stage: the fair training-methods comparison on the study's feature tables.

    Events of fold 0 are the validation set, the other folds the training set; each is a random
    subsample of ``settings["n_train"]`` / ``settings["n_val"]`` events.  Training weights follow
    the study's ``training`` policy (negative weights, class balance), the scaler is fitted on the
    training events; the validation AUC uses the physics weights.

    Parameters
    ----------
    feature_tables : sequence of path
        Per-sample feature tables (parquet).
    feature_names : sequence of str
        Feature columns.
    training : mapping
        The config's ``training`` section (``negative_weights``, ``class_balance``, ``scaler``).
    settings : mapping
        The config's ``training_methods`` section (keys of :data:`STUDY_KEYS`, ``n_train``,
        ``n_val``).
    seed : int
        Master seed (subsamples, initial weights, GA).
    summary_path : path
        JSON output: :meth:`TrainingMethodsResult.to_dict`.
    plot_path : path
        The 2 x 2 comparison figure.

    Returns
    -------
    TrainingMethodsResult
        The comparison.
    """
    from hepmva.pipeline import study_split, write_json
    from hepmva.plotting.methods import plot_training_methods

    split = study_split(feature_tables, feature_names, training, n_train=int(settings.get("n_train", 5000)),
                        n_val=int(settings.get("n_val", 10000)), seed=int(seed), stream=7, study="training_methods")
    options = {k: settings[k] for k in STUDY_KEYS if k in settings}
    if "hidden_layer_sizes" in options:
        options["hidden_layer_sizes"] = tuple(options["hidden_layer_sizes"])
    result = compare_training_methods(
        split.X, split.y, split.w,
        X_val=split.X_val, y_val=split.y_val, sample_weight_val=split.w_val_physics,
        random_state=int(seed), **options,
    )
    out = result.to_dict()
    out["features"] = list(feature_names)
    write_json(out, summary_path)
    plot_training_methods(
        out["curves"], budget=result.budget, path=plot_path,
        title=(f"MLP {list(result.settings['hidden_layer_sizes'])} ({result.n_params} parameters), "
               f"{result.settings['n_train']} training events, {result.budget} loss evaluations each"),
    )
    for row in result.summary():
        logger.info("training_methods %s", json.dumps(row))
    return result
