"""Linear dimensionality reduction with event weights: PCA.

:class:`WeightedPCA`
    Principal components of the weighted, centred data. With non-negative weights they come
    from the thin SVD of ``diag(sqrt(w)) (X - mu)``: if ``sqrt(w) (X - mu) = U S V^T`` then
    the weighted covariance is ``V S^2 V^T / (V1 - V2 / V1)`` (``V1 = sum w``,
    ``V2 = sum w^2``: the unbiased "reliability weights" normalisation of ``numpy.cov`` with
    ``aweights``, which is ``n - 1`` for unit weights, as in scikit-learn's PCA). When some
    weights are negative the square root does not exist and the symmetric eigen-decomposition
    of the weighted covariance is used instead (eigenvalues may then be negative; they are
    kept, sorted in decreasing order).

:class:`FisherDiscriminant` (supervised) lives in :mod:`hepmva.linear` beside the linear discriminant;
it is re-exported here.

WeightedPCA stores its state as ``(meta, arrays)`` through ``export_state`` / ``from_state``.
"""

from __future__ import annotations

import logging
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hepmva.checks import check_weights
from hepmva.estimator import BaseEstimator, TransformerMixin, check_is_fitted, validate_data
from hepmva.linear import FisherDiscriminant, weighted_covariance

__all__ = ["WeightedPCA", "FisherDiscriminant", "weighted_covariance"]  # the last two live in hepmva.linear

logger = logging.getLogger(__name__)


def _sign_flip(components: NDArray[np.float64]) -> NDArray[np.float64]:
    """Make the largest-magnitude loading of every component positive (deterministic sign)."""
    idx = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(len(components)), idx])
    signs[signs == 0] = 1.0
    return components * signs[:, None]


class WeightedPCA(TransformerMixin, BaseEstimator):
    """Principal component analysis of weighted events (in-house, via SVD).

    Parameters
    ----------
    n_components : int or None, default None
        Number of components kept (None: all, ``min(n_samples, n_features)``).

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Weighted mean.
    components_ : ndarray of shape (n_components, n_features)
        Principal axes (loadings), rows of unit norm, sorted by decreasing variance; the
        largest-magnitude loading of each row is positive.
    explained_variance_ : ndarray of shape (n_components,)
        Weighted variance along each axis.
    explained_variance_ratio_ : ndarray of shape (n_components,)
        Fraction of the total weighted variance.
    singular_values_ : ndarray of shape (n_components,)
        Singular values of ``sqrt(w) (X - mean_)`` (NaN with negative weights).
    n_components_ : int
    n_features_in_ : int
    """

    def __init__(self, n_components: int | None = None) -> None:
        self.n_components = n_components

    def fit(self, X: ArrayLike, y: ArrayLike | None = None, sample_weight: ArrayLike | None = None) -> Self:
        """Fit the principal axes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Event weights (negative allowed: then the covariance eigen-decomposition is used).

        Returns
        -------
        self
        """
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        n, d = X.shape
        w = check_weights(sample_weight, n)
        k_max = min(n, d)
        k = k_max if self.n_components is None else int(self.n_components)
        if not 1 <= k <= k_max:
            raise ValueError(f"n_components must be in [1, {k_max}], got {self.n_components!r}")
        V1, V2 = w.sum(), np.dot(w, w)
        if not V1 > 0:
            raise ValueError(f"sample_weight must have a positive sum (not zero or negative), got {V1}")
        denom = V1 - V2 / V1
        if not denom > 0:
            raise ValueError("sample_weight: too few effective events for PCA (V1 - V2/V1 <= 0)")
        mu = w @ X / V1
        Xc = X - mu
        if np.all(w >= 0):
            _, S, Vt = np.linalg.svd(Xc * np.sqrt(w)[:, None], full_matrices=False)
            variance = S**2 / denom
            singular = S
        else:
            logger.info("WeightedPCA: negative weights, using the covariance eigen-decomposition")
            cov = (Xc.T * w) @ Xc / denom
            evals, evecs = np.linalg.eigh(cov)
            order = np.argsort(evals)[::-1]
            variance, Vt = evals[order], evecs[:, order].T
            singular = np.full(len(variance), np.nan)
        total = np.sum(np.diag((Xc.T * w) @ Xc)) / denom
        self.mean_ = mu
        self.components_ = _sign_flip(Vt[:k])
        self.explained_variance_ = variance[:k]
        self.explained_variance_ratio_ = variance[:k] / total if total > 0 else np.full(k, np.nan)
        self.singular_values_ = singular[:k]
        self.n_components_ = k
        return self

    def transform(self, X: ArrayLike) -> NDArray[np.float64]:
        """Project onto the principal axes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self, "components_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return (X - self.mean_) @ self.components_.T

    def inverse_transform(self, Z: ArrayLike) -> NDArray[np.float64]:
        """Map projections back to feature space.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_components)

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self, "components_")
        return np.asarray(Z, dtype=np.float64) @ self.components_ + self.mean_

    def export_state(self) -> tuple[dict[str, Any], dict[str, NDArray[np.float64]]]:
        """``(meta, arrays)``: JSON-able parameters and the fitted arrays."""
        check_is_fitted(self, "components_")
        meta = {"class": type(self).__name__, "params": self.get_params(), "n_features_in": int(self.n_features_in_)}
        arrays = {
            "mean": self.mean_,
            "components": self.components_,
            "explained_variance": self.explained_variance_,
            "explained_variance_ratio": self.explained_variance_ratio_,
            "singular_values": self.singular_values_,
        }
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, NDArray[np.float64]]) -> Self:
        """Rebuild a fitted instance from :meth:`export_state` output."""
        obj = cls(**meta["params"])
        obj.mean_ = np.asarray(arrays["mean"], dtype=np.float64)
        obj.components_ = np.asarray(arrays["components"], dtype=np.float64)
        obj.explained_variance_ = np.asarray(arrays["explained_variance"], dtype=np.float64)
        obj.explained_variance_ratio_ = np.asarray(arrays["explained_variance_ratio"], dtype=np.float64)
        obj.singular_values_ = np.asarray(arrays["singular_values"], dtype=np.float64)
        obj.n_components_ = int(obj.components_.shape[0])
        obj.n_features_in_ = int(meta["n_features_in"])
        return obj
