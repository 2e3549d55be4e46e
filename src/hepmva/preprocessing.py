"""Weight-aware feature transforms, fitted on the training folds only.

Each transform stores plain arrays (``offset_``, ``scale_``) so it can be written to JSON next to
the model and applied as ``(X - offset_) / scale_``. Weights enter as ``|w|`` (a negative weight
must not make a variance negative).
"""

from __future__ import annotations

import numpy as np

__all__ = ["Scaler", "ScalerAccumulator", "fit_scaler"]


class Scaler:
    """Affine per-feature transform ``(X - offset_) / scale_``.

    Parameters
    ----------
    method : {"standard", "minmax", "none"}
        ``standard``: weighted mean 0, weighted standard deviation 1; ``minmax``: [0, 1];
        ``none``: identity.
    """

    METHODS = ("standard", "minmax", "none")

    def __init__(self, method: str = "standard"):
        if method not in self.METHODS:
            raise ValueError(f"training.scaler: unknown method '{method}'; use one of {self.METHODS}")
        self.method = method

    def fit(self, X: np.ndarray, sample_weight: np.ndarray | None = None) -> "Scaler":
        """Fit on ``X`` of shape (n_samples, n_features) with optional weights of shape (n_samples,)."""
        X = np.asarray(X)
        acc = self.accumulator(X.shape[1])
        acc.update(X, sample_weight)
        fitted = acc.finish()
        self.offset_, self.scale_ = fitted.offset_, fitted.scale_
        return self

    def accumulator(self, n_features: int) -> "ScalerAccumulator":
        """A :class:`ScalerAccumulator` fitting this method chunk by chunk (streaming over parts)."""
        return ScalerAccumulator(self.method, n_features)

    def transform(self, X: np.ndarray, dtype=np.float64) -> np.ndarray:
        """Return ``(X - offset_) / scale_`` of the same shape, in ``dtype`` (computed in float64)."""
        return np.asarray((np.asarray(X, dtype=np.float64) - self.offset_) / self.scale_, dtype=dtype)

    def to_dict(self) -> dict:
        """JSON-able representation."""
        return {"method": self.method, "offset": self.offset_.tolist(), "scale": self.scale_.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Scaler":
        """Inverse of :meth:`to_dict`."""
        s = cls(d["method"])
        s.offset_ = np.asarray(d["offset"], dtype=np.float64)
        s.scale_ = np.asarray(d["scale"], dtype=np.float64)
        return s


def fit_scaler(X: np.ndarray, sample_weight: np.ndarray | None = None, method: str = "standard") -> Scaler:
    """Fit and return a :class:`Scaler`."""
    return Scaler(method).fit(X, sample_weight)


class ScalerAccumulator:
    """Fit a :class:`Scaler` over chunks of events (memory one chunk), e.g. the parts of a training set.

    ``standard`` merges the chunks' weighted means and sums of squared deviations (Chan et al.'s pairwise
    update, stable where ``sum w x^2 - (sum w x)^2`` is not); ``minmax`` keeps the running extremes. One
    chunk gives exactly :meth:`Scaler.fit`'s numbers; more chunks agree to rounding.
    """

    def __init__(self, method: str, n_features: int) -> None:
        Scaler(method)  # checks the method
        self.method, self.n_features = method, int(n_features)
        self.w_sum = 0.0
        self.mean = np.zeros(self.n_features)
        self.var = np.zeros(self.n_features)
        self.lo = np.full(self.n_features, np.inf)
        self.hi = np.full(self.n_features, -np.inf)

    def update(self, X: np.ndarray, sample_weight: np.ndarray | None = None) -> None:
        """Add the events ``X`` of shape (n, n_features) with weights of shape (n,) (|w| is used)."""
        X = np.asarray(X, dtype=np.float64)
        if len(X) == 0:
            return
        w = np.ones(len(X)) if sample_weight is None else np.abs(np.asarray(sample_weight, dtype=np.float64))
        if self.method == "minmax":
            self.lo, self.hi = np.minimum(self.lo, X.min(axis=0)), np.maximum(self.hi, X.max(axis=0))
        if self.method != "standard":
            self.w_sum += float(w.sum())
            return
        wb = float(w.sum())
        if not wb > 0:
            return
        mean_b = np.average(X, axis=0, weights=w)
        var_b = np.average((X - mean_b) ** 2, axis=0, weights=w)
        if self.w_sum == 0:
            self.mean, self.var, self.w_sum = mean_b, var_b, wb
            return
        total = self.w_sum + wb
        delta = mean_b - self.mean
        self.var = (self.var * self.w_sum + var_b * wb + delta ** 2 * (self.w_sum * wb / total)) / total
        self.mean = self.mean + delta * (wb / total)
        self.w_sum = total

    def finish(self) -> Scaler:
        """The fitted :class:`Scaler` (constant features: centred but unscaled)."""
        s = Scaler(self.method)
        d = self.n_features
        if self.method == "standard":
            if not self.w_sum > 0:
                raise ValueError("training.scaler: no events with a non-zero weight to fit the standard scaler on")
            s.offset_, s.scale_ = self.mean, np.sqrt(self.var)
        elif self.method == "minmax":
            s.offset_, s.scale_ = self.lo, self.hi - self.lo
        else:
            s.offset_, s.scale_ = np.zeros(d), np.ones(d)
        s.scale_ = np.where(s.scale_ > 0, s.scale_, 1.0)
        return s
