"""Least squares by the normal equations, and the linear discriminant built on it.

The lecture's closed-form solution of ``argmin_w J(w)`` with
``J(w) = sum_i s_i (y_i - x_i . w)^2`` (event weights ``s_i``) is

    w = (X^T S X)^{-1} X^T S y = (S^{1/2} X)^+ S^{1/2} y,

the normal equations ``X^T S X w = X^T S y``.  We never form the inverse: with non-negative
weights the rows are scaled by ``sqrt(s_i)`` and the over-determined system is handed to an
SVD-based least-squares solver (``numpy.linalg.lstsq``, the pseudo-inverse ``X^+`` of the
lecture, exact for rank-deficient ``X``); a ridge term ``lambda ||w||^2`` is added as extra rows
``sqrt(lambda) I`` of the same system.  Negative event weights (NLO generators) make
``X^T S X`` possibly indefinite and ``sqrt(s_i)`` undefined, so then the (symmetric) normal
equations themselves are solved, again by ``lstsq`` (minimum-norm solution when singular).

:class:`LinearDiscriminant` is the least-squares classifier on the class label (TMVA's "LD",
Fisher's discriminant up to normalisation for two classes): regress the target ``+1`` (second
class) / ``-1`` (first class) on the features; the fitted linear function is the discriminant.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple, Self

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

__all__ = ["LeastSquaresResult", "weighted_least_squares", "LinearDiscriminant"]

logger = logging.getLogger(__name__)


class LeastSquaresResult(NamedTuple):
    """Solution of a weighted least-squares problem.

    Attributes
    ----------
    coef : ndarray of shape (n_features,) or (n_features, n_targets)
        The weights ``w`` (without the intercept).
    intercept : float or ndarray of shape (n_targets,)
        The intercept ``b`` (0 when ``fit_intercept=False``).
    rank : int
        Numerical rank of the (weighted, centred) design matrix.
    """

    coef: np.ndarray
    intercept: float | np.ndarray
    rank: int


def weighted_least_squares(
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None = None,
    *,
    fit_intercept: bool = True,
    ridge: float = 0.0,
) -> LeastSquaresResult:
    """Minimise ``sum_i s_i (y_i - x_i . w - b)^2 + ridge ||w||^2`` by the normal equations.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Design matrix.
    y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        Targets.
    sample_weight : ndarray of shape (n_samples,), optional
        Event weights ``s_i`` (default 1).  Negative weights are allowed; the weighted
        normal equations are then solved directly (see module docstring).
    fit_intercept : bool, default True
        Fit ``b``.  The problem is centred on the weighted means, so the intercept is not
        penalised by ``ridge``.
    ridge : float, default 0.0
        Non-negative L2 penalty ``lambda`` on ``w``.

    Returns
    -------
    LeastSquaresResult
        ``coef``, ``intercept`` and the rank of the design matrix.

    Raises
    ------
    ValueError
        On inconsistent shapes, a negative ``ridge``, non-finite input, or a non-positive sum
        of weights with ``fit_intercept=True``.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape ({X.shape[0]},) or ({X.shape[0]}, k), got {y.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise ValueError("X and y must be finite (found NaN or inf)")
    if not np.isfinite(ridge) or ridge < 0:
        raise ValueError(f"ridge must be a finite number >= 0, got {ridge!r}")
    n_samples, n_features = X.shape
    if sample_weight is None:
        s = np.ones(n_samples)
    else:
        s = np.asarray(sample_weight, dtype=np.float64)
        if s.shape != (n_samples,):
            raise ValueError(f"sample_weight must have shape ({n_samples},), got {s.shape}")
        if not np.all(np.isfinite(s)):
            raise ValueError("sample_weight must be finite")

    if fit_intercept:
        s_sum = s.sum()
        if not s_sum > 0:
            raise ValueError(f"sum of sample_weight must be > 0 to fit an intercept, got {s_sum}")
        x_mean = s @ X / s_sum
        y_mean = s @ y / s_sum
        Xc = X - x_mean
        yc = y - y_mean
    else:
        Xc, yc = X, y

    if np.all(s >= 0):
        # Row-scaled over-determined system, solved by SVD: no X^T X is ever formed.
        root_s = np.sqrt(s)
        A = Xc * root_s[:, None]
        b = yc * (root_s[:, None] if yc.ndim == 2 else root_s)
        if ridge > 0:
            A = np.vstack([A, np.sqrt(ridge) * np.eye(n_features)])
            b_pad = np.zeros((n_features,) + yc.shape[1:])
            b = np.concatenate([b, b_pad], axis=0)
        coef, _, rank, _ = np.linalg.lstsq(A, b, rcond=None)
    else:
        # Negative weights: solve the symmetric normal equations X^T S X w = X^T S y.
        A = Xc.T @ (Xc * s[:, None]) + ridge * np.eye(n_features)
        b = Xc.T @ (yc * (s[:, None] if yc.ndim == 2 else s))
        coef, _, rank, _ = np.linalg.lstsq(A, b, rcond=None)

    if fit_intercept:
        intercept = y_mean - x_mean @ coef
    else:
        intercept = np.zeros(y.shape[1]) if y.ndim == 2 else 0.0
    if y.ndim == 1:
        intercept = float(intercept)
    return LeastSquaresResult(coef=coef, intercept=intercept, rank=int(rank))


class LinearDiscriminant(ClassifierMixin, BaseEstimator):
    """Least-squares linear discriminant (TMVA "LD") solved by the normal equations.

    For two classes the target is ``+1`` for ``classes_[1]`` (signal) and ``-1`` for
    ``classes_[0]``; the discriminant is ``y(x) = x . w + b`` with ``(w, b)`` the weighted
    least-squares solution (:func:`weighted_least_squares`).  For more than two classes one
    such regression per class on the one-vs-rest indicator target, predicting the arg-max.

    Parameters
    ----------
    ridge : float, default 0.0
        L2 penalty on ``w`` (the intercept is never penalised).
    fit_intercept : bool, default True
        Fit an intercept ``b``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (n_features,) for two classes, else (n_classes, n_features)
        Discriminant weights ``w``.
    intercept_ : float for two classes, else ndarray of shape (n_classes,)
        Intercept ``b``.
    rank_ : int
        Rank of the centred design matrix.
    n_features_in_ : int
        Number of features seen in ``fit``.
    """

    def __init__(self, ridge: float = 0.0, fit_intercept: bool = True) -> None:
        self.ridge = ridge
        self.fit_intercept = fit_intercept

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        """Solve the normal equations on the class target.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        y : array-like of shape (n_samples,)
            Class labels (at least two distinct values).
        sample_weight : array-like of shape (n_samples,), optional
            Event weights (negative allowed).

        Returns
        -------
        self : LinearDiscriminant
            The fitted estimator.
        """
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=False)
        check_classification_targets(y)
        s = _check_sample_weight(sample_weight, X, dtype=np.float64)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        n_classes = self.classes_.size
        if n_classes < 2:
            raise ValueError(
                f"LinearDiscriminant needs at least 2 classes in y, got 1 class: {self.classes_[0]!r}"
            )
        if n_classes == 2:
            target = np.where(y_index == 1, 1.0, -1.0)
        else:
            target = np.where(y_index[:, None] == np.arange(n_classes)[None, :], 1.0, -1.0)
        result = weighted_least_squares(
            X, target, s, fit_intercept=self.fit_intercept, ridge=float(self.ridge)
        )
        self.coef_ = result.coef if n_classes == 2 else result.coef.T.copy()
        self.intercept_ = result.intercept
        self.rank_ = result.rank
        logger.debug("LinearDiscriminant fitted: rank %d of %d features", self.rank_, X.shape[1])
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Value of the linear discriminant ``x . w + b``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            Discriminant (positive means ``classes_[1]`` for two classes).
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if self.classes_.size == 2:
            return X @ self.coef_ + self.intercept_
        return X @ self.coef_.T + self.intercept_

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        ndarray of shape (n_samples,)
            ``classes_[1]`` where the discriminant is positive (two classes), else the arg-max.
        """
        d = self.decision_function(X)
        if d.ndim == 1:
            return self.classes_[(d > 0).astype(np.intp)]
        return self.classes_[np.argmax(d, axis=1)]

    # -- persistence -------------------------------------------------------------------
    def export_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """Return ``(meta, arrays)``: JSON-able parameters and the fitted arrays (no pickle).

        Returns
        -------
        meta : dict
            ``{"class": "LinearDiscriminant", "params": ..., "rank": ..., "n_features_in": ...}``.
        arrays : dict of str to ndarray
            ``coef``, ``intercept`` and ``classes`` (object labels are stored as strings).
        """
        check_is_fitted(self)
        classes = self.classes_
        if classes.dtype == object:
            classes = classes.astype(str)
        meta = {
            "class": "LinearDiscriminant",
            "params": {"ridge": float(self.ridge), "fit_intercept": bool(self.fit_intercept)},
            "rank": int(self.rank_),
            "n_features_in": int(self.n_features_in_),
        }
        if hasattr(self, "feature_names_in_"):
            meta["feature_names_in"] = [str(f) for f in self.feature_names_in_]
        arrays = {
            "coef": np.asarray(self.coef_),
            "intercept": np.atleast_1d(np.asarray(self.intercept_, dtype=np.float64)),
            "classes": np.asarray(classes),
        }
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> Self:
        """Rebuild a fitted estimator from :meth:`export_state` output.

        Parameters
        ----------
        meta : dict
            Metadata as written by :meth:`export_state`.
        arrays : dict of str to ndarray
            Arrays as written by :meth:`export_state`.

        Returns
        -------
        LinearDiscriminant
            A fitted estimator giving identical outputs.
        """
        for key in ("coef", "intercept", "classes"):
            if key not in arrays:
                raise ValueError(f"LinearDiscriminant state is missing array {key!r}")
        est = cls(**meta.get("params", {}))
        est.classes_ = np.asarray(arrays["classes"])
        est.coef_ = np.asarray(arrays["coef"], dtype=np.float64)
        intercept = np.asarray(arrays["intercept"], dtype=np.float64)
        est.intercept_ = float(intercept[0]) if est.classes_.size == 2 else intercept
        est.rank_ = int(meta.get("rank", est.coef_.shape[-1]))
        est.n_features_in_ = int(meta.get("n_features_in", est.coef_.shape[-1]))
        if "feature_names_in" in meta:
            est.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
        return est
