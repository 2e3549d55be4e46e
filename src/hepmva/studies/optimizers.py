"""The optimizer study and the learning-rate scan (first-order training of one MLP).

:func:`compare_optimizers`
    The same :class:`hepmva.nn.MLPClassifier` (same architecture, same ``random_state``, hence the
    same initial weights and the same shuffling), the same training and validation events and the
    same budget of epochs, trained once per optimizer. Records the training and validation loss
    per epoch, the wall time and the validation AUC.

:func:`learning_rate_scan`
    One optimizer on a log grid of learning rates spanning several decades, classifying each run
    as the lecture does:

    - ``"diverged"``: :class:`~hepmva.nn.DivergenceError` (non-finite or exploding loss), or a
      final loss above the initial one;
    - ``"too slow"``: smaller than the best rate and the loss came down by less than
      ``slow_fraction`` of the best run's improvement;
    - ``"not converging"``: larger than the best rate, not diverged, but also short of
      ``slow_fraction`` of the best improvement (oscillating);
    - ``"ok"`` otherwise; ``best_learning_rate`` has the lowest final validation (else training) loss.

Both return named results with ``to_dict()`` for JSON. The workflow stage (feature tables in; JSON
summary and two plots out) is :func:`hepmva.stages.optimizer_study.run_optimizer_study`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from hepmva.metrics import roc_auc
from hepmva.nn import DivergenceError, MLPClassifier

__all__ = [
    "BASE_PARAMS",
    "OPTIMIZER_PRESETS",
    "LearningRateScan",
    "OptimizerRun",
    "OptimizerStudy",
    "compare_optimizers",
    "learning_rate_scan",
    "optimizer_params",
]

logger = logging.getLogger(__name__)

#: The network shared by every run (overridable through ``base_params``).
BASE_PARAMS: dict[str, Any] = {
    "hidden_layer_sizes": (32, 32),
    "activation": "relu",
    "alpha": 1e-4,
    "batch_size": 128,
    "tol": 0.0,
    "n_iter_no_change": 10**9,  # fixed budget: never stop early
    "early_stopping": False,
}

#: Optimizer name -> MLPClassifier parameters (with a learning rate that works for standardised
#: inputs). ``gd`` is full-batch gradient descent, ``sgd`` mini-batch without momentum,
#: ``averaged_sgd`` the same with Polyak averaging.
OPTIMIZER_PRESETS: dict[str, dict[str, Any]] = {
    "gd": {"solver": "sgd", "momentum": 0.0, "batch_size": "full", "learning_rate_init": 0.5},
    "sgd": {"solver": "sgd", "momentum": 0.0, "learning_rate_init": 0.05},
    "averaged_sgd": {"solver": "sgd", "momentum": 0.0, "learning_rate_init": 0.05, "averaging": True},
    "momentum": {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": False,
                 "learning_rate_init": 0.01},
    "nesterov": {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": True,
                 "learning_rate_init": 0.01},
    "rmsprop": {"solver": "rmsprop", "learning_rate_init": 1e-3},
    "adagrad": {"solver": "adagrad", "learning_rate_init": 0.02},
    "adam": {"solver": "adam", "learning_rate_init": 1e-3},
}


def optimizer_params(name: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Parameters of preset ``name`` updated with ``overrides``; one-line ValueError if unknown."""
    if name not in OPTIMIZER_PRESETS:
        raise ValueError(f"optimizer {name!r} is not one of {sorted(OPTIMIZER_PRESETS)}")
    return {**OPTIMIZER_PRESETS[name], **dict(overrides or {})}


@dataclass
class OptimizerRun:
    """One training run.

    Attributes
    ----------
    name : str
    params : dict
        MLPClassifier parameters used.
    loss : ndarray of shape (n_epochs,)
        Training loss per epoch.
    val_loss : ndarray of shape (n_epochs,)
        Validation loss per epoch.
    time : ndarray of shape (n_epochs,)
        Wall seconds since the start of training, at the end of each epoch.
    initial_loss : float
        Training loss of the initial weights.
    val_auc : float
        Validation ROC AUC of the final network (NaN when diverged).
    diverged : bool
    message : str
        The divergence message, else "".
    """

    name: str
    params: dict[str, Any]
    loss: np.ndarray
    val_loss: np.ndarray
    time: np.ndarray
    initial_loss: float
    val_auc: float
    diverged: bool
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("loss", "val_loss", "time"):
            d[k] = [float(v) for v in np.asarray(getattr(self, k))]
        d["params"] = _jsonable(self.params)
        for k in ("initial_loss", "val_auc"):
            d[k] = None if not math.isfinite(d[k]) else float(d[k])
        return d


@dataclass
class OptimizerStudy:
    """All optimizers on one network: ``runs[name]`` is an :class:`OptimizerRun`."""

    runs: dict[str, OptimizerRun]
    base_params: dict[str, Any]
    max_iter: int
    random_state: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_params": _jsonable(self.base_params),
            "max_iter": self.max_iter,
            "random_state": self.random_state,
            "runs": {k: r.to_dict() for k, r in self.runs.items()},
        }


@dataclass
class LearningRateScan:
    """Learning-rate scan of one optimizer.

    Attributes
    ----------
    optimizer : str
    learning_rates : ndarray of shape (n_rates,)
    runs : list of OptimizerRun
        One per learning rate, in order.
    status : list of str
        ``"too slow"``, ``"ok"``, ``"not converging"`` or ``"diverged"`` per learning rate.
    final_loss : ndarray of shape (n_rates,)
        Last training loss (``inf`` when diverged).
    final_val_loss : ndarray of shape (n_rates,)
        Last validation loss (``inf`` when diverged).
    initial_loss : float
        Training loss of the common initial weights.
    best_learning_rate : float
    """

    optimizer: str
    learning_rates: np.ndarray
    runs: list[OptimizerRun]
    status: list[str]
    final_loss: np.ndarray
    final_val_loss: np.ndarray
    initial_loss: float
    best_learning_rate: float
    slow_fraction: float = 0.5
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def fin(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {
            "optimizer": self.optimizer,
            "learning_rates": [float(v) for v in self.learning_rates],
            "status": list(self.status),
            "final_loss": [fin(v) for v in self.final_loss],
            "final_val_loss": [fin(v) for v in self.final_val_loss],
            "initial_loss": float(self.initial_loss),
            "best_learning_rate": float(self.best_learning_rate),
            "slow_fraction": self.slow_fraction,
            "runs": [r.to_dict() for r in self.runs],
        }


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        if isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def _initial_loss(params: dict[str, Any], X, y, w, random_state: int) -> float:
    """Training loss of the initial weights that ``fit`` with these params starts from."""
    net = MLPClassifier(**{**params, "random_state": random_state, "dtype": "float64"})
    net._init_params(X.shape[1], np.random.default_rng(random_state))
    J, _ = net._loss_grad(net._pack(), X, y, w)
    return float(J)


def _train(
    name: str,
    params: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    X_val: np.ndarray,
    y_val: np.ndarray,
    w_val: np.ndarray | None,
    max_iter: int,
    random_state: int,
    initial_loss: float,
) -> OptimizerRun:
    est = MLPClassifier(**{**params, "max_iter": max_iter, "random_state": random_state})
    logger.info("training %s with %s", name, {k: v for k, v in params.items() if k not in BASE_PARAMS})
    message = ""
    try:
        est.fit(X, y, w, validation_data=(X_val, y_val, w_val))
    except DivergenceError as err:
        message = str(err)
    diverged = bool(est.diverged_)
    val_auc = float("nan")
    if not diverged:
        val_auc = float(roc_auc(y_val, est.predict_proba(X_val)[:, 1], w_val))
    val_loss = list(est.validation_loss_curve_)
    val_loss += [float("inf")] * (len(est.loss_curve_) - len(val_loss))  # diverged last epoch
    return OptimizerRun(
        name=name, params=dict(params), loss=np.asarray(est.loss_curve_, dtype=float),
        val_loss=np.asarray(val_loss, dtype=float), time=np.asarray(est.time_curve_, dtype=float),
        initial_loss=initial_loss, val_auc=val_auc, diverged=diverged, message=message,
    )


def _check_arrays(X, y, sample_weight, X_val, y_val, sample_weight_val) -> tuple:
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    if X.ndim != 2 or len(y) != len(X):
        raise ValueError(f"X must have shape (n_samples, n_features) matching y; got {X.shape}, {y.shape}")
    if X_val is None or y_val is None:
        raise ValueError("X_val and y_val are required (validation loss per epoch)")
    X_val = np.asarray(X_val, dtype=float)
    y_val = np.asarray(y_val)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    w_val = None if sample_weight_val is None else np.asarray(sample_weight_val, dtype=float)
    return X, y, w, X_val, y_val, w_val


def compare_optimizers(
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None = None,
    *,
    X_val: np.ndarray,
    y_val: np.ndarray,
    sample_weight_val: np.ndarray | None = None,
    optimizers: Sequence[str] | Mapping[str, Mapping[str, Any] | None] = ("sgd", "momentum", "adam"),
    max_iter: int = 20,
    base_params: Mapping[str, Any] | None = None,
    random_state: int = 0,
) -> OptimizerStudy:
    """Train the same MLP with every optimizer from the same initial weights, same budget.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training events (already standardised).
    y : ndarray of shape (n_samples,)
        Labels in {0, 1}.
    sample_weight : ndarray of shape (n_samples,), default=None
    X_val, y_val, sample_weight_val : validation events, labels, weights
    optimizers : sequence of names, or mapping name -> parameter overrides
        Names of :data:`OPTIMIZER_PRESETS` (overrides e.g. ``{"sgd": {"learning_rate_init": 0.1}}``).
    max_iter : int
        Epoch budget, the same for all.
    base_params : mapping, default=None
        Updates of :data:`BASE_PARAMS` (the shared network).
    random_state : int
        Seed of the shared initial weights and shuffling.

    Returns
    -------
    OptimizerStudy
    """
    X, y, w, X_val, y_val, w_val = _check_arrays(X, y, sample_weight, X_val, y_val, sample_weight_val)
    if not isinstance(optimizers, Mapping):
        optimizers = {name: None for name in optimizers}
    if not optimizers:
        raise ValueError("optimizers must name at least one optimizer")
    base = {**BASE_PARAMS, **dict(base_params or {})}
    plans = {name: {**base, **optimizer_params(name, ov)} for name, ov in optimizers.items()}
    L0 = _initial_loss(base, X, y, w, random_state)
    runs = {
        name: _train(name, p, X, y, w, X_val, y_val, w_val, max_iter, random_state, L0)
        for name, p in plans.items()
    }
    for name, r in runs.items():
        logger.info("%-14s final loss %.5g  val loss %.5g  val AUC %.4f  %.1f s%s", name,
                    r.loss[-1] if len(r.loss) else float("nan"),
                    r.val_loss[-1] if len(r.val_loss) else float("nan"), r.val_auc,
                    r.time[-1] if len(r.time) else 0.0, "  DIVERGED" if r.diverged else "")
    return OptimizerStudy(runs=runs, base_params=base, max_iter=int(max_iter), random_state=int(random_state))


def learning_rate_scan(
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None = None,
    *,
    X_val: np.ndarray,
    y_val: np.ndarray,
    sample_weight_val: np.ndarray | None = None,
    optimizer: str = "sgd",
    learning_rates: Sequence[float] | np.ndarray = tuple(np.logspace(-4, 2, 7)),
    max_iter: int = 10,
    base_params: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    random_state: int = 0,
    slow_fraction: float = 0.5,
) -> LearningRateScan:
    """Scan the learning rate of one optimizer on a log grid (same network, weights, budget).

    Parameters
    ----------
    X, y, sample_weight, X_val, y_val, sample_weight_val
        As in :func:`compare_optimizers`.
    optimizer : str
        A name of :data:`OPTIMIZER_PRESETS`.
    learning_rates : sequence of float
        Positive rates, e.g. ``np.logspace(-4, 2, 7)``; sorted ascending.
    max_iter : int
        Epoch budget per rate.
    base_params, overrides : mapping
        Updates of the shared network and of the optimizer's preset.
    random_state : int
    slow_fraction : float
        A run that achieved less than this fraction of the best run's loss reduction is
        "too slow" (below the best rate) or "not converging" (above it).

    Returns
    -------
    LearningRateScan
    """
    X, y, w, X_val, y_val, w_val = _check_arrays(X, y, sample_weight, X_val, y_val, sample_weight_val)
    rates = np.sort(np.asarray(learning_rates, dtype=float))
    if rates.size < 2 or not np.all(rates > 0) or not np.all(np.isfinite(rates)):
        raise ValueError(f"learning_rates must be >= 2 positive finite values, got {rates.tolist()}")
    if not 0.0 < slow_fraction < 1.0:
        raise ValueError(f"slow_fraction={slow_fraction} must be in (0, 1)")
    base = {**BASE_PARAMS, **dict(base_params or {})}
    params = {**base, **optimizer_params(optimizer, overrides)}
    L0 = _initial_loss(base, X, y, w, random_state)
    runs = []
    for eta in rates:
        p = {**params, "learning_rate_init": float(eta)}
        runs.append(_train(f"{optimizer} eta={eta:.3g}", p, X, y, w, X_val, y_val, w_val,
                           max_iter, random_state, L0))
    final = np.array([r.loss[-1] if (len(r.loss) and not r.diverged) else np.inf for r in runs])
    final_val = np.array([r.val_loss[-1] if (len(r.val_loss) and not r.diverged) else np.inf
                          for r in runs])
    diverged = np.array([r.diverged for r in runs]) | ~np.isfinite(final) | (final > L0)
    ok = ~diverged
    if not ok.any():
        raise ValueError(f"every learning rate diverged for optimizer {optimizer!r}: {rates.tolist()}")
    crit = np.where(np.isfinite(final_val), final_val, final)
    i_best = int(np.argmin(np.where(ok, crit, np.inf)))
    best_gain = L0 - final[i_best]
    status = []
    for i, r in enumerate(runs):
        if diverged[i]:
            status.append("diverged")
        elif best_gain > 0 and (L0 - final[i]) < slow_fraction * best_gain:
            status.append("too slow" if i < i_best else "not converging")
        else:
            status.append("ok")
    for eta, s, f in zip(rates, status, final):
        logger.info("%s eta=%-9.3g %-15s final loss %.5g", optimizer, eta, s, f)
    return LearningRateScan(
        optimizer=optimizer, learning_rates=rates, runs=runs, status=status, final_loss=final,
        final_val_loss=final_val, initial_loss=L0, best_learning_rate=float(rates[i_best]),
        slow_fraction=slow_fraction,
    )
