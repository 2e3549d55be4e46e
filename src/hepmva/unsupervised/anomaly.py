"""Anomaly detection: learn the background alone, score how unlike it an event is.

The model-independent search setting of the lecture: every detector is fitted on background
events only, and the signal plays the anomaly. Every detector has the same interface,
``fit(X, y=None, sample_weight=None)`` and ``anomaly_score(X)``, where a **higher score means
more anomalous** (so the score can be fed to the ROC functions of :mod:`hepmva.metrics`
with signal as the positive class).

=============  ==========================================================  =============
name           score                                                       weights
=============  ==========================================================  =============
``gmm``        ``-log p(x)`` of a :class:`~sklearn.mixture.GaussianMixture`  resampled
``kde``        ``-log p(x)`` of a :class:`~sklearn.neighbors.KernelDensity`  passed
``rbm``        free energy of a :class:`~sklearn.neural_network.BernoulliRBM`  resampled
               on min-max scaled features
``knn``        mean distance to the k nearest training events                resampled
``iforest``    ``-score_samples`` of an :class:`~sklearn.ensemble.IsolationForest`  passed
=============  ==========================================================  =============

Weights: "passed" detectors get the event weights clipped at zero (unit mean); the others,
which have no ``sample_weight``, are fitted on a weighted bootstrap of the training events
(drawn with probability proportional to the clipped weight) whenever the weights are not all
equal, so they learn the weighted density. Cost: every detector draws a seeded uniform
subsample of at most ``max_train`` training events; KDE scoring costs
O(n_train x n_eval), so its default cap is small and the evaluation sample can be capped in
:func:`hepmva.studies.anomaly.run_anomaly` (``max_eval``).

The RBM free energy of a visible vector ``v`` (biases ``b`` visible, ``c`` hidden, weights
``W`` of shape (n_hidden, n_visible)) is ``F(v) = -b . v - sum_j log(1 + exp(c_j + W_j . v))``;
``p(v) ~ exp(-F(v))``, so a large free energy marks an improbable event.
"""

from __future__ import annotations

import logging
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import logsumexp
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity, NearestNeighbors
from sklearn.neural_network import BernoulliRBM
from sklearn.utils.validation import check_is_fitted

from hepmva.checks import (
    check_weights,
    check_X,
    subsample_index,
    weighted_resample_index,
)

__all__ = [
    "ANOMALY_DETECTORS",
    "GMMAnomaly",
    "KDEAnomaly",
    "RBMAnomaly",
    "KNNAnomaly",
    "IsolationForestAnomaly",
    "make_detector",
    "rbm_free_energy",
]

logger = logging.getLogger(__name__)


def rbm_free_energy(
    V: ArrayLike, W: ArrayLike, b: ArrayLike, c: ArrayLike
) -> NDArray[np.float64]:
    """Free energy of a binary RBM, ``F(v) = -b . v - sum_j log(1 + exp(c_j + W_j . v))``.

    Parameters
    ----------
    V : array-like of shape (n_samples, n_visible)
        Visible vectors (values in [0, 1]).
    W : array-like of shape (n_hidden, n_visible)
        Weights (scikit-learn's ``components_``).
    b : array-like of shape (n_visible,)
        Visible biases (``intercept_visible_``).
    c : array-like of shape (n_hidden,)
        Hidden biases (``intercept_hidden_``).

    Returns
    -------
    F : ndarray of shape (n_samples,)
    """
    V = np.asarray(V, dtype=np.float64)
    z = V @ np.asarray(W, dtype=np.float64).T + np.asarray(c, dtype=np.float64)
    return -(V @ np.asarray(b, dtype=np.float64)) - np.logaddexp(0.0, z).sum(axis=1)


class _AnomalyDetector(BaseEstimator):
    """Shared fit logic: cap the training sample, then pass or resample the weights."""

    _supports_weight: bool = False

    def fit(self, X: ArrayLike, y: ArrayLike | None = None, sample_weight: ArrayLike | None = None) -> Self:
        """Fit the background model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Background events (scaled features).
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Event weights (negative ones are clipped to zero for the density estimate).

        Returns
        -------
        self
        """
        X = check_X(X)
        w = check_weights(sample_weight, X.shape[0])
        rng = np.random.default_rng(self.random_state)
        idx = subsample_index(X.shape[0], self.max_train, rng)
        X, w = X[idx], w[idx]
        w_fit: NDArray[np.float64] | None = None
        uniform = np.allclose(w, w[0], rtol=1e-9, atol=0.0) and w[0] > 0
        if self._supports_weight:
            if not uniform:
                w_fit = np.clip(w, 0.0, None)
                if not w_fit.sum() > 0:
                    raise ValueError("sample_weight: no training event has a positive weight")
                w_fit = w_fit / w_fit.mean()
        elif not uniform:
            X = X[weighted_resample_index(w, len(w), rng)]
        self.n_train_ = int(X.shape[0])
        self.n_features_in_ = int(X.shape[1])
        self._fit(X, w_fit, rng)
        return self

    def anomaly_score(self, X: ArrayLike) -> NDArray[np.float64]:
        """Anomaly score, higher = less background-like.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        score : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "n_train_")
        X = check_X(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the detector was fitted on {self.n_features_in_}")
        return self._score(X)

    def _fit(self, X: NDArray[np.float64], w: NDArray[np.float64] | None, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _score(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        raise NotImplementedError


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))


class GMMAnomaly(_AnomalyDetector):
    """Gaussian-mixture density of the background; score ``-log p(x)``.

    Parameters
    ----------
    n_components : int, default 8
    covariance_type : str, default "full"
    max_train : int or None, default 50000
    random_state : int, default 0
    """

    def __init__(self, n_components: int = 8, covariance_type: str = "full", max_train: int | None = 50_000, random_state: int = 0) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.max_train = max_train
        self.random_state = random_state

    def _fit(self, X, w, rng):
        self.model_ = GaussianMixture(
            n_components=self.n_components, covariance_type=self.covariance_type, random_state=_seed(rng)
        ).fit(X)

    def _score(self, X):
        return -self.model_.score_samples(X)


class KDEAnomaly(_AnomalyDetector):
    """Kernel density estimate of the background; score ``-log p(x)``.

    Parameters
    ----------
    bandwidth : float or {"scott", "silverman"}, default "scott"
    kernel : str, default "gaussian"
    rtol : float, default 1e-4
        Relative tolerance of the tree sum (speed).
    max_train : int or None, default 3000
        Scoring costs O(max_train x n_eval): keep it small.
    random_state : int, default 0
    """

    _supports_weight = True

    def __init__(self, bandwidth: float | str = "scott", kernel: str = "gaussian", rtol: float = 1e-4, max_train: int | None = 3_000, random_state: int = 0) -> None:
        self.bandwidth = bandwidth
        self.kernel = kernel
        self.rtol = rtol
        self.max_train = max_train
        self.random_state = random_state

    def _fit(self, X, w, rng):
        self.model_ = KernelDensity(bandwidth=self.bandwidth, kernel=self.kernel, rtol=self.rtol).fit(X, sample_weight=w)
        self._X_train = X
        self._w_train = np.ones(len(X)) if w is None else w

    def _score(self, X):
        with np.errstate(divide="ignore"):
            log_p = self.model_.score_samples(X)
        far = ~np.isfinite(log_p)
        if np.any(far) and self.kernel == "gaussian":
            log_p[far] = self._gaussian_tail_log_density(X[far])
        return -log_p

    def _gaussian_tail_log_density(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Log density from the nearest training events, where the tree sum underflows to 0."""
        k = min(20, len(self._X_train))
        dist, idx = NearestNeighbors(n_neighbors=k).fit(self._X_train).kneighbors(X)
        h = float(self.model_.bandwidth_)
        d = self._X_train.shape[1]
        w = self._w_train
        with np.errstate(divide="ignore"):
            log_terms = -0.5 * (dist / h) ** 2 + np.log(w[idx])
        log_norm = np.log(w.sum()) + 0.5 * d * np.log(2.0 * np.pi * h**2)
        return logsumexp(log_terms, axis=1) - log_norm


class RBMAnomaly(_AnomalyDetector):
    """Bernoulli RBM on min-max scaled features; score = free energy.

    Parameters
    ----------
    n_components : int, default 32
        Hidden units.
    learning_rate : float, default 0.05
    batch_size : int, default 64
    n_iter : int, default 20
    max_train : int or None, default 20000
    random_state : int, default 0

    Attributes
    ----------
    x_min_, x_scale_ : ndarray of shape (n_features,)
        Min-max scaling fitted on the training events; scaled values are clipped to [0, 1].
    model_ : BernoulliRBM
    """

    def __init__(self, n_components: int = 32, learning_rate: float = 0.05, batch_size: int = 64, n_iter: int = 20, max_train: int | None = 20_000, random_state: int = 0) -> None:
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.max_train = max_train
        self.random_state = random_state

    def _minmax(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.clip((X - self.x_min_) / self.x_scale_, 0.0, 1.0)

    def _fit(self, X, w, rng):
        self.x_min_ = X.min(axis=0)
        span = X.max(axis=0) - self.x_min_
        self.x_scale_ = np.where(span > 0, span, 1.0)
        self.model_ = BernoulliRBM(
            n_components=self.n_components,
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            n_iter=self.n_iter,
            random_state=_seed(rng),
        ).fit(self._minmax(X))

    def _score(self, X):
        m = self.model_
        return rbm_free_energy(self._minmax(X), m.components_, m.intercept_visible_, m.intercept_hidden_)


class KNNAnomaly(_AnomalyDetector):
    """Mean Euclidean distance to the ``n_neighbors`` nearest background training events.

    Parameters
    ----------
    n_neighbors : int, default 10
    max_train : int or None, default 20000
    random_state : int, default 0
    """

    def __init__(self, n_neighbors: int = 10, max_train: int | None = 20_000, random_state: int = 0) -> None:
        self.n_neighbors = n_neighbors
        self.max_train = max_train
        self.random_state = random_state

    def _fit(self, X, w, rng):
        if not 1 <= int(self.n_neighbors) <= len(X):
            raise ValueError(f"n_neighbors must be in [1, {len(X)}], got {self.n_neighbors!r}")
        self.model_ = NearestNeighbors(n_neighbors=int(self.n_neighbors)).fit(X)

    def _score(self, X):
        dist, _ = self.model_.kneighbors(X)
        return dist.mean(axis=1)


class IsolationForestAnomaly(_AnomalyDetector):
    """Isolation forest; score ``-score_samples`` (short isolation paths = anomalous).

    Parameters
    ----------
    n_estimators : int, default 200
    max_samples : int, float or "auto", default "auto"
        Events per tree (scikit-learn's meaning).
    max_train : int or None, default None
    random_state : int, default 0
    """

    _supports_weight = True

    def __init__(self, n_estimators: int = 200, max_samples: int | float | str = "auto", max_train: int | None = None, random_state: int = 0) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_train = max_train
        self.random_state = random_state

    def _fit(self, X, w, rng):
        self.model_ = IsolationForest(
            n_estimators=self.n_estimators, max_samples=self.max_samples, random_state=_seed(rng)
        ).fit(X, sample_weight=w)

    def _score(self, X):
        return -self.model_.score_samples(X)


#: config name -> detector class
ANOMALY_DETECTORS: dict[str, type[_AnomalyDetector]] = {
    "gmm": GMMAnomaly,
    "kde": KDEAnomaly,
    "rbm": RBMAnomaly,
    "knn": KNNAnomaly,
    "iforest": IsolationForestAnomaly,
}


def make_detector(method: str, params: dict[str, Any] | None = None, random_state: int = 0) -> _AnomalyDetector:
    """Construct the detector ``method`` with ``params`` (defaults for the rest).

    Raises
    ------
    ValueError
        On an unknown method or parameter (named in the message).
    """
    if method not in ANOMALY_DETECTORS:
        raise ValueError(f"unknown anomaly method {method!r}; choose from {sorted(ANOMALY_DETECTORS)}")
    cls = ANOMALY_DETECTORS[method]
    kwargs = dict(params or {})
    valid = cls().get_params()
    for key in kwargs:
        if key not in valid:
            raise ValueError(f"anomaly.{method}: unknown parameter {key!r}")
    kwargs.setdefault("random_state", random_state)
    return cls(**kwargs)
