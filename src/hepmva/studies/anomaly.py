"""Anomaly detection judged: a detector fitted on the background of the training events, scored on the rest.

:func:`run_anomaly` fits one detector of :mod:`hepmva.unsupervised.anomaly` and measures it (weighted
AUC with signal as the anomaly, ROC curve, optional bootstrap uncertainty) in an :class:`AnomalyResult`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hepmva.checks import check_weights, check_X, check_y, subsample_index
from hepmva.metrics import RocCurve, auc_bootstrap, roc_auc, roc_curve
from hepmva.unsupervised.anomaly import make_detector

__all__ = ["AnomalyResult", "run_anomaly"]

logger = logging.getLogger(__name__)


@dataclass
class AnomalyResult:
    """Outcome of :func:`run_anomaly`.

    Attributes
    ----------
    method : str
    score : ndarray of shape (n_eval,)
        Anomaly scores of the evaluation events (higher = more anomalous).
    eval_index : ndarray of shape (n_eval,)
        Indices (into the input arrays) of the evaluation events.
    auc : float
        Weighted AUC with signal as the anomaly.
    auc_std : float
        Bootstrap standard deviation of the AUC (NaN if not computed).
    roc : RocCurve
        Weighted ROC curve (signal efficiency vs background efficiency).
    n_train : int
        Background events the detector was fitted on.
    fit_seconds, score_seconds : float
    params : dict
    """

    method: str
    score: NDArray[np.float64]
    eval_index: NDArray[np.int64]
    auc: float
    auc_std: float
    roc: RocCurve
    n_train: int
    fit_seconds: float
    score_seconds: float
    params: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Scalar summary, JSON-able (for the results table)."""
        return {
            "method": self.method,
            "auc": self.auc,
            "auc_std": self.auc_std,
            "n_train": self.n_train,
            "n_eval": int(len(self.eval_index)),
            "fit_seconds": self.fit_seconds,
            "score_seconds": self.score_seconds,
        }


def run_anomaly(
    X: ArrayLike,
    y: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    train_mask: ArrayLike,
    method: str = "gmm",
    params: dict[str, Any] | None = None,
    max_eval: int | None = None,
    n_bootstrap: int = 0,
    random_state: int = 0,
) -> AnomalyResult:
    """Fit a detector on the background of the training events, score the others.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Scaled features.
    y : array-like of shape (n_samples,)
        Truth, 1 = signal (the anomaly), 0 = background.
    sample_weight : array-like of shape (n_samples,), optional
        Event weights (negative allowed in the evaluation; clipped in the fit).
    train_mask : array-like of bool, shape (n_samples,)
        Events available for training (only their background is used); the evaluation
        uses the complement, so no evaluated event was seen in training.
    method : str, default "gmm"
        One of :data:`ANOMALY_DETECTORS`.
    params : dict, optional
        Detector parameters.
    max_eval : int or None, default None
        Cap on the evaluation events (seeded uniform subsample).
    n_bootstrap : int, default 0
        Bootstrap replicates for the AUC uncertainty (0: not computed).
    random_state : int, default 0

    Returns
    -------
    AnomalyResult
    """
    X = check_X(X)
    n = X.shape[0]
    y = check_y(y, n)
    w = check_weights(sample_weight, n)
    train = np.asarray(train_mask)
    if train.shape != (n,) or train.dtype != bool:
        raise ValueError(f"train_mask must be a boolean array of shape ({n},)")
    fit_idx = np.flatnonzero(train & (y == 0))
    if len(fit_idx) == 0:
        raise ValueError("train_mask selects no background event to train on")
    rng = np.random.default_rng(random_state)
    eval_all = np.flatnonzero(~train)
    eval_index = eval_all[subsample_index(len(eval_all), max_eval, rng)]

    detector = make_detector(method, params, random_state)
    t0 = time.perf_counter()
    detector.fit(X[fit_idx], sample_weight=w[fit_idx])
    t1 = time.perf_counter()
    score = detector.anomaly_score(X[eval_index])
    t2 = time.perf_counter()

    y_eval, w_eval = y[eval_index], w[eval_index]
    if n_bootstrap:
        auc, auc_std = auc_bootstrap(y_eval, score, w_eval, n_bootstrap=n_bootstrap, random_state=random_state)
    else:
        auc, auc_std = roc_auc(y_eval, score, w_eval), float("nan")
    result = AnomalyResult(
        method=method,
        score=score,
        eval_index=eval_index,
        auc=float(auc),
        auc_std=float(auc_std),
        roc=roc_curve(y_eval, score, w_eval),
        n_train=detector.n_train_,
        fit_seconds=t1 - t0,
        score_seconds=t2 - t1,
        params=detector.get_params(),
    )
    logger.info(
        "anomaly %s: AUC %.3f (fit %.1f s on %d, score %.1f s on %d)",
        method, result.auc, result.fit_seconds, result.n_train, result.score_seconds, len(eval_index),
    )
    return result
