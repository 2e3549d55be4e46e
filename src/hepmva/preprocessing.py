"""Weight-aware feature transforms, fitted on the training folds only.

Each transform stores plain arrays (``offset_``, ``scale_``) so it can be written to JSON next to
the model and applied as ``(X - offset_) / scale_``. Weights enter as ``|w|`` (a negative weight
must not make a variance negative).
"""

from __future__ import annotations

import numpy as np

__all__ = ["Scaler", "fit_scaler"]


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
        X = np.asarray(X, dtype=np.float64)
        n, d = X.shape
        w = np.ones(n) if sample_weight is None else np.abs(np.asarray(sample_weight, dtype=np.float64))
        if self.method == "standard":
            mean = np.average(X, axis=0, weights=w)
            var = np.average((X - mean) ** 2, axis=0, weights=w)
            self.offset_, self.scale_ = mean, np.sqrt(var)
        elif self.method == "minmax":
            lo, hi = X.min(axis=0), X.max(axis=0)
            self.offset_, self.scale_ = lo, hi - lo
        else:
            self.offset_, self.scale_ = np.zeros(d), np.ones(d)
        # constant features stay finite: leave them centred but unscaled
        self.scale_ = np.where(self.scale_ > 0, self.scale_, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Return ``(X - offset_) / scale_`` as float64 of the same shape."""
        return (np.asarray(X, dtype=np.float64) - self.offset_) / self.scale_

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
