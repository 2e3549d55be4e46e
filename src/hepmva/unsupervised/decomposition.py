"""Linear dimensionality reduction with event weights: PCA and Fisher's discriminant.

:class:`WeightedPCA`
    Principal components of the weighted, centred data. With non-negative weights they come
    from the thin SVD of ``diag(sqrt(w)) (X - mu)``: if ``sqrt(w) (X - mu) = U S V^T`` then
    the weighted covariance is ``V S^2 V^T / (V1 - V2 / V1)`` (``V1 = sum w``,
    ``V2 = sum w^2``: the unbiased "reliability weights" normalisation of ``numpy.cov`` with
    ``aweights``, which is ``n - 1`` for unit weights, as in scikit-learn's PCA). When some
    weights are negative the square root does not exist and the symmetric eigen-decomposition
    of the weighted covariance is used instead (eigenvalues may then be negative; they are
    kept, sorted in decreasing order).

:class:`FisherDiscriminant`
    Fisher's linear discriminant for two classes, a scikit-learn classifier:
    ``a = Sigma_W^{-1} (mu_S - mu_B)`` with ``Sigma_W`` the weighted pooled within-class
    covariance. Under the equal-covariance Gaussian model the class posterior is
    ``sigmoid(a . x + b)`` with ``b = -a . (mu_S + mu_B) / 2 + log(W_S / W_B)``, which is what
    :meth:`~FisherDiscriminant.predict_proba` returns (the same coefficients as scikit-learn's
    ``LinearDiscriminantAnalysis`` for unit weights).

Both store their state as ``(meta, arrays)`` through ``export_state`` / ``from_state``.
"""

from __future__ import annotations

import logging
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["WeightedPCA", "FisherDiscriminant", "weighted_covariance"]

logger = logging.getLogger(__name__)


def _sign_flip(components: NDArray[np.float64]) -> NDArray[np.float64]:
    """Make the largest-magnitude loading of every component positive (deterministic sign)."""
    idx = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(len(components)), idx])
    signs[signs == 0] = 1.0
    return components * signs[:, None]


def _check_sample_weight(sample_weight: ArrayLike | None, n: int) -> NDArray[np.float64]:
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("sample_weight contains NaN or inf")
    return w


def weighted_covariance(X: ArrayLike, sample_weight: ArrayLike | None = None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Weighted mean and unbiased ("reliability weights") covariance.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    sample_weight : array-like of shape (n_samples,), optional
        Event weights (negative allowed, positive sum required).

    Returns
    -------
    mu : ndarray of shape (n_features,)
    cov : ndarray of shape (n_features, n_features)
        ``sum_i w_i (x_i - mu)(x_i - mu)^T / (V1 - V2 / V1)``; equals
        ``numpy.cov(X.T, aweights=w)`` for non-negative weights.
    """
    X = np.asarray(X, dtype=np.float64)
    w = _check_sample_weight(sample_weight, X.shape[0])
    V1, V2 = w.sum(), np.dot(w, w)
    if not V1 > 0:
        raise ValueError(f"sample_weight must have a positive sum, got {V1}")
    mu = w @ X / V1
    Xc = X - mu
    denom = V1 - V2 / V1
    if not denom > 0:
        raise ValueError("sample_weight: too few effective events for a covariance (V1 - V2/V1 <= 0)")
    return mu, (Xc.T * w) @ Xc / denom


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
        w = _check_sample_weight(sample_weight, n)
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


class FisherDiscriminant(ClassifierMixin, BaseEstimator):
    """Fisher's linear discriminant for two classes, with event weights (in-house).

    Parameters
    ----------
    reg : float, default 0.0
        Ridge regularisation: ``Sigma_W + reg * (trace(Sigma_W) / n_features) * I`` is
        inverted (0 = plain Fisher).
    use_priors : bool, default True
        Add ``log(W_S / W_B)`` to the intercept (the Bayes posterior); False puts the cut at
        the midpoint of the projected class means.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two class labels (the second is the "signal" class).
    means_ : ndarray of shape (2, n_features)
        Weighted class means.
    covariance_ : ndarray of shape (n_features, n_features)
        Weighted pooled within-class covariance ``sum_k W_k Sigma_k / sum_k W_k``.
    coef_ : ndarray of shape (1, n_features)
        Discriminant direction ``a = Sigma_W^{-1} (mu_1 - mu_0)``.
    intercept_ : ndarray of shape (1,)
    priors_ : ndarray of shape (2,)
        Weighted class fractions.
    n_features_in_ : int
    """

    def __init__(self, reg: float = 0.0, use_priors: bool = True) -> None:
        self.reg = reg
        self.use_priors = use_priors

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> Self:
        """Fit the discriminant direction.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Two classes (for the workflow: 1 = signal, 0 = background).
        sample_weight : array-like of shape (n_samples,), optional
            Event weights (negative allowed; each class needs a positive total).

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        check_classification_targets(y)
        if float(self.reg) < 0:
            raise ValueError(f"reg must be >= 0, got {self.reg!r}")
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        if y_type != "binary":
            raise ValueError(f"Only binary classification is supported. The type of the target is {y_type}.")
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) != 2:
            raise ValueError(f"FisherDiscriminant needs exactly 2 classes in y, got {len(self.classes_)}")
        w = _check_sample_weight(sample_weight, X.shape[0])
        d = X.shape[1]
        means = np.empty((2, d))
        W = np.empty(2)
        scatter = np.zeros((d, d))
        for k in range(2):
            mask = y_idx == k
            wk, Xk = w[mask], X[mask]
            W[k] = wk.sum()
            if not W[k] > 0:
                raise ValueError(
                    f"sample_weight: class {self.classes_[k]!r} has total weight {W[k]} (zero or negative)"
                )
            means[k] = wk @ Xk / W[k]
            Xc = Xk - means[k]
            scatter += (Xc.T * wk) @ Xc
        cov = scatter / W.sum()
        A = cov + float(self.reg) * (np.trace(cov) / d) * np.eye(d)
        delta = means[1] - means[0]
        a, *_ = np.linalg.lstsq(A, delta, rcond=None)
        b = -0.5 * a @ (means[0] + means[1])
        if self.use_priors:
            b += np.log(W[1] / W[0])
        self.means_ = means
        self.covariance_ = cov
        self.priors_ = W / W.sum()
        self.coef_ = a[None, :]
        self.intercept_ = np.array([b])
        return self

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """Fisher projection plus intercept (the log posterior odds of the second class).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        t : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_[0] + self.intercept_[0]

    def project(self, X: ArrayLike) -> NDArray[np.float64]:
        """Projection onto the unit-norm Fisher direction (no intercept).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        t : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        a = self.coef_[0]
        norm = np.linalg.norm(a)
        return X @ (a / norm if norm > 0 else a)

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Class probabilities under the equal-covariance Gaussian model.

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
        """
        check_is_fitted(self, "coef_")
        p1 = expit(self.decision_function(X))
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Most probable class.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "coef_")
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def export_state(self) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
        """``(meta, arrays)``: JSON-able parameters and the fitted arrays."""
        check_is_fitted(self, "coef_")
        meta = {
            "class": type(self).__name__,
            "params": self.get_params(),
            "classes": self.classes_.tolist(),
            "n_features_in": int(self.n_features_in_),
        }
        arrays = {
            "coef": self.coef_,
            "intercept": self.intercept_,
            "means": self.means_,
            "covariance": self.covariance_,
            "priors": self.priors_,
        }
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> Self:
        """Rebuild a fitted instance from :meth:`export_state` output."""
        obj = cls(**meta["params"])
        obj.classes_ = np.asarray(meta["classes"])
        obj.n_features_in_ = int(meta["n_features_in"])
        obj.coef_ = np.asarray(arrays["coef"], dtype=np.float64)
        obj.intercept_ = np.asarray(arrays["intercept"], dtype=np.float64)
        obj.means_ = np.asarray(arrays["means"], dtype=np.float64)
        obj.covariance_ = np.asarray(arrays["covariance"], dtype=np.float64)
        obj.priors_ = np.asarray(arrays["priors"], dtype=np.float64)
        return obj
