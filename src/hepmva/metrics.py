"""Weighted classifier metrics: ROC, AUC with bootstrap uncertainty, efficiencies.

Every function takes ``y_true`` (1 = signal, 0 = background), a classifier ``score`` (larger
means more signal-like) and optional event weights ``sample_weight``; negative weights are
allowed everywhere. Efficiencies are normalised to the total *net* weight of each class, so a
class whose weights sum to zero (or less) is rejected.

All computations sort the scores once (O(n log n)) and then work on cumulative sums over groups
of tied scores, so they are exact in the presence of ties and fast for millions of events.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "RocCurve",
    "roc_curve",
    "roc_auc",
    "auc_bootstrap",
    "signal_efficiency_at",
]

logger = logging.getLogger(__name__)


class RocCurve(NamedTuple):
    """A weighted ROC curve, one point per distinct score threshold.

    Attributes
    ----------
    eff_s : ndarray of shape (n_thresholds + 1,)
        Signal efficiency of the selection ``score >= threshold``.
    eff_b : ndarray of shape (n_thresholds + 1,)
        Background efficiency of the same selection; runs from 0 to 1 and is
        non-decreasing whenever the background weights are non-negative (with negative
        weights the exact curve may dip locally; it is returned as is).
    thresholds : ndarray of shape (n_thresholds + 1,)
        Decreasing score thresholds; the first is ``+inf`` (nothing selected).
    """

    eff_s: NDArray[np.float64]
    eff_b: NDArray[np.float64]
    thresholds: NDArray[np.float64]


# --------------------------------------------------------------------------------------------
# input checking and the shared sorted-groups core
# --------------------------------------------------------------------------------------------
def _check_inputs(
    y_true: ArrayLike, score: ArrayLike, sample_weight: ArrayLike | None
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64]]:
    """Validate and convert ``(y_true, score, sample_weight)`` to flat numpy arrays.

    Returns
    -------
    y : ndarray of shape (n_samples,), bool (True = signal)
    score : ndarray of shape (n_samples,), float64
    w : ndarray of shape (n_samples,), float64 (ones if ``sample_weight`` is None)
    """
    y_arr = np.asarray(y_true)
    s = np.asarray(score, dtype=np.float64)
    if y_arr.ndim != 1:
        raise ValueError(f"y_true must be 1-dimensional, got shape {y_arr.shape}")
    if s.ndim != 1:
        raise ValueError(f"score must be 1-dimensional, got shape {s.shape}")
    if len(y_arr) != len(s):
        raise ValueError(f"length mismatch: y_true has {len(y_arr)} entries, score has {len(s)}")
    if y_arr.dtype == bool:
        y = y_arr
    else:
        try:
            y_num = y_arr.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"y_true must contain only 0 and 1, got dtype {y_arr.dtype}") from None
        bad = ~np.isin(y_num, (0.0, 1.0))
        if bad.any():
            raise ValueError(
                f"y_true must contain only 0 and 1, got {y_arr[np.flatnonzero(bad)[0]]!r}"
            )
        y = y_num == 1.0
    if np.isnan(s).any():
        raise ValueError(f"score contains {int(np.isnan(s).sum())} NaN value(s)")
    if sample_weight is None:
        w = np.ones(len(s))
    else:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.ndim != 1 or len(w) != len(s):
            raise ValueError(
                f"length mismatch: sample_weight has shape {w.shape}, score has {len(s)} entries"
            )
        if not np.isfinite(w).all():
            raise ValueError("sample_weight contains NaN or infinite values")
    n_sig = int(y.sum())
    if n_sig == 0 or n_sig == len(y):
        raise ValueError(
            f"y_true contains only one class ({n_sig} signal, {len(y) - n_sig} background events)"
        )
    w_s, w_b = float(w[y].sum()), float(w[~y].sum())
    if not w_s > 0.0:
        raise ValueError(f"total signal weight must be positive, got {w_s:g}")
    if not w_b > 0.0:
        raise ValueError(f"total background weight must be positive, got {w_b:g}")
    return y, s, w


class _Groups(NamedTuple):
    """Events sorted by decreasing score, with the boundaries of groups of tied scores."""

    order: NDArray[np.intp]  # argsort giving decreasing score
    starts: NDArray[np.intp]  # index (in sorted order) where each tie group starts
    thresholds: NDArray[np.float64]  # the score of each group, decreasing
    y_sorted: NDArray[np.bool_]
    w_sorted: NDArray[np.float64]


def _sort_groups(y: NDArray[np.bool_], s: NDArray[np.float64], w: NDArray[np.float64]) -> _Groups:
    order = np.argsort(s, kind="stable")[::-1]
    s_sorted = s[order]
    starts = np.concatenate(([0], np.flatnonzero(s_sorted[1:] != s_sorted[:-1]) + 1))
    return _Groups(order, starts, s_sorted[starts], y[order], w[order])


def _class_sums(
    y_sorted: NDArray[np.bool_], w_sorted: NDArray[np.float64], starts: NDArray[np.intp]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Signal and background weight in every tie group (decreasing score order)."""
    w_sig = np.where(y_sorted, w_sorted, 0.0)
    w_bkg = w_sorted - w_sig
    return np.add.reduceat(w_sig, starts), np.add.reduceat(w_bkg, starts)


def _auc_from_sums(S_g: NDArray[np.float64], B_g: NDArray[np.float64]) -> float:
    """Weighted P(score_S > score_B) + 0.5 P(tie) from per-group class weights."""
    W_S, W_B = S_g.sum(), B_g.sum()
    S_above = np.cumsum(S_g) - S_g  # signal weight strictly above each group
    return float(np.dot(B_g, S_above + 0.5 * S_g) / (W_S * W_B))


# --------------------------------------------------------------------------------------------
# ROC, AUC, efficiencies
# --------------------------------------------------------------------------------------------
def roc_curve(
    y_true: ArrayLike, score: ArrayLike, sample_weight: ArrayLike | None = None
) -> RocCurve:
    """Weighted ROC curve of the selection ``score >= threshold``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 (or True) for signal, 0 for background.
    score : array-like of shape (n_samples,)
        Classifier output, larger = more signal-like. NaN is rejected; +-inf is allowed.
    sample_weight : array-like of shape (n_samples,), optional
        Event weights (negative allowed). Default: unit weights.

    Returns
    -------
    RocCurve
        ``(eff_s, eff_b, thresholds)``, one point per distinct score plus the origin
        (``threshold = +inf``); tied scores form a single point, so the curve between two
        points is the straight line of a random tie-break. Efficiencies are cumulative class
        weights divided by the net class totals; the last point is (1, 1).

    Raises
    ------
    ValueError
        On a length mismatch, a single class, NaN scores or non-positive class weight.
    """
    y, s, w = _check_inputs(y_true, score, sample_weight)
    g = _sort_groups(y, s, w)
    S_g, B_g = _class_sums(g.y_sorted, g.w_sorted, g.starts)
    cum_s, cum_b = np.cumsum(S_g), np.cumsum(B_g)
    eff_s = np.concatenate(([0.0], cum_s / cum_s[-1]))
    eff_b = np.concatenate(([0.0], cum_b / cum_b[-1]))
    thresholds = np.concatenate(([np.inf], g.thresholds))
    return RocCurve(eff_s, eff_b, thresholds)


def roc_auc(y_true: ArrayLike, score: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
    """Weighted area under the ROC curve.

    Defined as the weighted probability that a signal event scores higher than a background
    event, ties counting one half:

        AUC = sum_{i in S, j in B} w_i w_j ([s_i > s_j] + 0.5 [s_i = s_j]) / (W_S W_B),

    which equals the trapezoidal area under :func:`roc_curve` (also with negative weights).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 for signal, 0 for background.
    score : array-like of shape (n_samples,)
        Classifier output, larger = more signal-like.
    sample_weight : array-like of shape (n_samples,), optional
        Event weights (negative allowed).

    Returns
    -------
    float
    """
    y, s, w = _check_inputs(y_true, score, sample_weight)
    g = _sort_groups(y, s, w)
    return _auc_from_sums(*_class_sums(g.y_sorted, g.w_sorted, g.starts))


def auc_bootstrap(
    y_true: ArrayLike,
    score: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    n_bootstrap: int = 200,
    random_state: int | np.random.Generator | None = 0,
) -> tuple[float, float]:
    """Weighted AUC and its bootstrap standard deviation.

    Uses the Poisson bootstrap: each replicate multiplies every event weight by an independent
    Poisson(1) count, the large-sample equivalent of resampling events with replacement
    (as in the ATLAS/CMS ``BootstrapGenerator``). Because the scores are sorted only once and
    every replicate is a re-weighting, a replicate costs O(n) instead of O(n log n).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 for signal, 0 for background.
    score : array-like of shape (n_samples,)
        Classifier output.
    sample_weight : array-like of shape (n_samples,), optional
        Event weights (negative allowed).
    n_bootstrap : int, default 200
        Number of replicates (>= 2).
    random_state : int, Generator or None, default 0
        Seed for ``np.random.default_rng``.

    Returns
    -------
    auc : float
        The AUC of the full sample (:func:`roc_auc`).
    std : float
        Standard deviation (ddof=1) of the replicate AUCs; replicates in which a class has
        non-positive total weight are skipped.
    """
    if int(n_bootstrap) != n_bootstrap or n_bootstrap < 2:
        raise ValueError(f"n_bootstrap must be an integer >= 2, got {n_bootstrap!r}")
    y, s, w = _check_inputs(y_true, score, sample_weight)
    g = _sort_groups(y, s, w)
    auc = _auc_from_sums(*_class_sums(g.y_sorted, g.w_sorted, g.starts))
    rng = np.random.default_rng(random_state)
    aucs = np.full(int(n_bootstrap), np.nan)
    for b in range(int(n_bootstrap)):
        counts = rng.poisson(1.0, size=len(w))
        S_g, B_g = _class_sums(g.y_sorted, g.w_sorted * counts, g.starts)
        if S_g.sum() > 0 and B_g.sum() > 0:
            aucs[b] = _auc_from_sums(S_g, B_g)
    valid = aucs[np.isfinite(aucs)]
    if len(valid) < 2:
        raise ValueError(
            f"auc_bootstrap: only {len(valid)} of {n_bootstrap} replicates had both classes"
        )
    logger.debug("auc_bootstrap: %d/%d valid replicates", len(valid), n_bootstrap)
    return auc, float(np.std(valid, ddof=1))


def _first_crossing(x: NDArray[np.float64], y: NDArray[np.float64], target: float) -> float:
    """y linearly interpolated where the polyline (x, y) first reaches ``x >= target``."""
    running = np.maximum.accumulate(x)
    i = int(np.searchsorted(running, target, side="left"))
    if i >= len(x):
        return float(y[-1])
    if i == 0 or x[i] == x[i - 1]:
        return float(y[i])
    # x[i - 1] <= running[i - 1] < target <= x[i], so the segment brackets the target
    t = (target - x[i - 1]) / (x[i] - x[i - 1])
    return float(y[i - 1] + t * (y[i] - y[i - 1]))


def signal_efficiency_at(
    y_true: ArrayLike,
    score: ArrayLike,
    sample_weight: ArrayLike | None = None,
    eff_b: float | tuple[float, ...] | list[float] = (0.01, 0.1, 0.3),
) -> dict[float, float]:
    """Signal efficiency at given background efficiencies, interpolated on the ROC curve.

    The ROC points are joined by straight lines (random tie-break between thresholds); the
    returned value is the signal efficiency where the curve first reaches the requested
    background efficiency.

    Parameters
    ----------
    y_true, score, sample_weight
        As in :func:`roc_curve`.
    eff_b : float or sequence of float, default (0.01, 0.1, 0.3)
        Target background efficiencies in [0, 1].

    Returns
    -------
    dict
        ``{eff_b_target: eff_s}``.
    """
    targets = np.atleast_1d(np.asarray(eff_b, dtype=np.float64))
    if targets.ndim != 1 or not np.all((targets >= 0) & (targets <= 1)):
        raise ValueError(f"eff_b targets must lie in [0, 1], got {eff_b!r}")
    roc = roc_curve(y_true, score, sample_weight)
    return {float(t): _first_crossing(roc.eff_b, roc.eff_s, float(t)) for t in targets}
