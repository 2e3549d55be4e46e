"""Input checks and capped subsampling, shared by every layer above (foundations).

One definition each: array checks (``check_X``, ``check_y``, ``check_weights``), the uniform capped
subsample (``subsample_index``: the SVM / k-NN caps, the training cap, the learning-curve and
study subsamples) and the weighted resample of density estimators.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["check_X", "check_y", "check_weights", "subsample_index", "weighted_resample_index"]


def check_X(X: ArrayLike, name: str = "X") -> NDArray[np.float64]:
    """Return ``X`` as a finite float64 array of shape (n_samples, n_features).

    Raises
    ------
    ValueError
        If ``X`` is not 2-dimensional, is empty or holds NaN/inf.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or inf")
    return X


def check_y(y: ArrayLike, n_samples: int) -> NDArray[np.int64]:
    """Return binary truth labels ``y`` (1 = signal, 0 = background) as int64.

    Raises
    ------
    ValueError
        On a length mismatch or values other than 0 and 1.
    """
    y_arr = np.asarray(y)
    if y_arr.shape != (n_samples,):
        raise ValueError(f"y must have shape ({n_samples},), got {y_arr.shape}")
    y_int = y_arr.astype(np.int64)
    if not np.all((y_int == 0) | (y_int == 1)) or not np.all(y_int == y_arr):
        raise ValueError("y must contain only 0 (background) and 1 (signal)")
    return y_int


def check_weights(w: ArrayLike | None, n_samples: int, name: str = "sample_weight") -> NDArray[np.float64]:
    """Return event weights of shape (n_samples,); unit weights if ``w`` is None.

    Negative weights are allowed; NaN/inf and a length mismatch are rejected.
    """
    if w is None:
        return np.ones(n_samples)
    w_arr = np.asarray(w, dtype=np.float64)
    if w_arr.shape != (n_samples,):
        raise ValueError(f"{name} must have shape ({n_samples},), got {w_arr.shape}")
    if not np.all(np.isfinite(w_arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return w_arr


def subsample_index(
    n_samples: int, max_samples: int | None, rng: np.random.Generator
) -> NDArray[np.int64]:
    """Sorted indices of a uniform subsample without replacement of at most ``max_samples``.

    Returns ``arange(n_samples)`` when ``max_samples`` is None or not smaller than
    ``n_samples``.
    """
    if max_samples is not None and int(max_samples) < 1:
        raise ValueError(f"max_samples must be a positive integer or None, got {max_samples!r}")
    if max_samples is None or n_samples <= int(max_samples):
        return np.arange(n_samples)
    return np.sort(rng.choice(n_samples, size=int(max_samples), replace=False))


def weighted_resample_index(
    w: NDArray[np.float64], n_draw: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    """Indices drawn with replacement with probability proportional to ``max(w, 0)``.

    The resampled events are distributed as the weighted sample, which lets estimators that
    do not accept event weights (Gaussian mixture, RBM, k-NN) learn the weighted density.
    Negative weights are clipped to zero (the documented policy for density estimates).

    Raises
    ------
    ValueError
        If no event has a positive weight.
    """
    p = np.clip(w, 0.0, None)
    total = p.sum()
    if not total > 0:
        raise ValueError("sample_weight: no event has a positive weight")
    return rng.choice(len(w), size=int(n_draw), replace=True, p=p / total)
