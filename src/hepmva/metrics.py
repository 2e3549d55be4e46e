"""Weighted classifier metrics: ROC, AUC, efficiencies, TMVA figures of merit, overtraining
tests, cut scan and permutation importance.

Every function takes ``y_true`` (1 = signal, 0 = background), a classifier ``score`` (larger
means more signal-like) and optional event weights ``sample_weight``; negative weights are
allowed everywhere. Efficiencies are normalised to the total *net* weight of each class, so a
class whose weights sum to zero (or less) is rejected.

All computations sort the scores once (O(n log n)) and then work on cumulative sums over groups
of tied scores, so they are exact in the presence of ties and fast for millions of events.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hepmva.checks import subsample_index
from hepmva.kolmogorov import kstwo_sf
from hepmva.logs import Progress

__all__ = [
    "RocCurve",
    "roc_curve",
    "roc_auc",
    "auc_bootstrap",
    "poisson1_counts",
    "stable_argsort",
    "RejectionCurve",
    "rejection_curve",
    "signal_efficiency_at",
    "separation",
    "discrimination_significance",
    "TwoSampleTest",
    "effective_sample_size",
    "ks_2samp_weighted",
    "anderson_2samp_weighted",
    "overtraining_tests",
    "asimov_significance",
    "format_pvalue",
    "OptimalCut",
    "CutScan",
    "cut_scan",
    "PermutationImportance",
    "permutation_importance",
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
# Poisson(1) counts of the bootstrap
# --------------------------------------------------------------------------------------------
def _poisson1_tables() -> tuple[NDArray[np.uint8], NDArray[np.float64]]:
    """The 2^16-cell inverse-CDF table of Poisson(1) and the CDF itself.

    Cell ``c`` covers the uniforms in ``[c, c + 1) / 2^16``; it holds the count k when the whole cell lies
    in ``[F(k - 1), F(k))`` (F the Poisson(1) CDF) and 255 when a CDF step falls inside it (a dozen cells).
    """
    k = np.arange(40)
    log_pmf = -1.0 - np.cumsum(np.log(np.maximum(k, 1)))  # log(e^-1 / k!)
    cdf = np.cumsum(np.exp(log_pmf))
    cdf[-1] = 1.0  # the mass beyond 39 (< 1e-47) folded into the last count
    lo = np.searchsorted(cdf, np.arange(65536) / 65536.0, side="right")
    hi = np.searchsorted(cdf, np.nextafter(np.arange(1, 65537) / 65536.0, 0.0), side="right")
    return np.where(lo == hi, lo, 255).astype(np.uint8), cdf


_POISSON1_TABLE, _POISSON1_CDF = _poisson1_tables()


def poisson1_counts(rng: np.random.Generator, n: int) -> NDArray[np.uint8]:
    """``n`` independent Poisson(1) counts, by inversion of the CDF, ~8x faster than ``rng.poisson(1.0, n)``.

    A 16-bit uniform picks a cell of :data:`_POISSON1_TABLE`; the few cells that a CDF step cuts (2 in 10^4
    events) are resolved exactly with a second, double-precision uniform. The counts are Poisson(1) to the
    precision of a double (the bootstrap's multiplicities), only from a cheaper random stream than numpy's
    ``poisson`` (70 % of a replica's time): a different seed-to-value map, the same distribution.
    """
    cell = rng.integers(0, 65536, size=int(n), dtype=np.uint16)
    counts = _POISSON1_TABLE[cell]
    cut = np.flatnonzero(counts == 255)
    if cut.size:
        u = (cell[cut] + rng.random(cut.size)) / 65536.0
        counts[cut] = np.searchsorted(_POISSON1_CDF, u, side="right")
    return counts


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


def stable_argsort(x: NDArray) -> tuple[NDArray[np.intp], NDArray]:
    """``np.argsort(x, kind="stable")`` (equal values keep their order of appearance) and ``x`` in that order.

    numpy's stable sort of floats is a merge sort; its default sort is vectorised (SIMD) and 3-4x faster on a
    few 100 000 scores, but leaves equal values in no particular order. So: one default sort of the values, and
    where values repeat (a BDT's scores do), one more of the integer keys (tie group, position), which are
    distinct: the result is the stable order exactly, and every sum over it has the stable sort's bits.
    """
    x = np.asarray(x)
    n = len(x)
    if n > 2**31 or (x.dtype.kind == "f" and np.isnan(x).any()):  # keys overflow / NaNs are not one tie group
        order = np.argsort(x, kind="stable")
        return order, x[order]
    order = np.argsort(x)
    x_sorted = x[order]
    tied = x_sorted[1:] == x_sorted[:-1]
    if tied.any():
        group = np.zeros(n, dtype=np.int64)
        np.cumsum(~tied, out=group[1:])
        order = order[np.argsort(group * n + order)]
        x_sorted = x[order]  # the same values, but -0.0 and 0.0 (equal) in their stable order
    return order, x_sorted


def _sort_groups(y: NDArray[np.bool_], s: NDArray[np.float64], w: NDArray[np.float64]) -> _Groups:
    order, s_sorted = stable_argsort(s)
    order, s_sorted = order[::-1], s_sorted[::-1]
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


class _ReplicaAUC:
    """The weighted AUC of one bootstrap replica (event weights times counts) in a few passes over the events.

    With the events sorted by decreasing score once, the replica's AUC is

        sum_{j in B} c_j w_j (S_above(j) + S_tied(j) / 2) / (W_S W_B),

    where S_above(j) and S_above(j) + S_tied(j) are the replica's cumulative signal weight at fixed positions
    among the signal events: the number of signal events in the tie groups above background event j (``a``)
    and up to the end of its group (``b``), found once. A replica is then one cumulative sum over the signal
    and one gather and dot product over the background (the same number as :func:`_auc_from_sums` on the
    re-weighted per-group sums, to rounding).
    """

    def __init__(self, g: _Groups) -> None:
        sig = g.y_sorted
        self.w_s, self.w_b = g.w_sorted[sig], g.w_sorted[~sig]
        n_sig_before = np.cumsum(sig) - sig  # signal events before each event (sorted order)
        group = np.repeat(np.arange(len(g.starts)), np.diff(np.append(g.starts, len(sig))))
        sig_until_group_end = np.cumsum(sig)[np.append(g.starts[1:], len(sig)) - 1][group]
        sig_before_group = n_sig_before[g.starts][group]
        self.a, self.b = sig_before_group[~sig], sig_until_group_end[~sig]
        self.ties = not np.array_equal(self.a, self.b)

    def draw(self, rng: np.random.Generator) -> float:
        """The AUC of a new replica: Poisson(1) counts for the signal and for the background events."""
        return self(poisson1_counts(rng, len(self.w_s)), poisson1_counts(rng, len(self.w_b)))

    def __call__(self, c_s: NDArray, c_b: NDArray) -> float:
        """The AUC with the signal events' weights (decreasing score) times ``c_s``, the background's times ``c_b``."""
        cum = np.empty(len(self.w_s) + 1)
        cum[0] = 0.0
        np.cumsum(self.w_s * c_s, out=cum[1:])
        wb = self.w_b * c_b
        W_S, W_B = cum[-1], wb.sum()
        if not (W_S > 0 and W_B > 0):
            return float("nan")
        num = np.dot(wb, cum[self.a])
        if self.ties:
            num = 0.5 * (num + np.dot(wb, cum[self.b]))
        return float(num / (W_S * W_B))


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
        Number of replicates; 0 or 1 skip the bootstrap (``std`` is NaN).
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
    if int(n_bootstrap) != n_bootstrap or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be a non-negative integer, got {n_bootstrap!r}")
    y, s, w = _check_inputs(y_true, score, sample_weight)
    g = _sort_groups(y, s, w)
    auc = _auc_from_sums(*_class_sums(g.y_sorted, g.w_sorted, g.starts))
    if n_bootstrap < 2:
        return auc, float("nan")
    rng = np.random.default_rng(random_state)
    replica = _ReplicaAUC(g)
    aucs = np.full(int(n_bootstrap), np.nan)
    progress = Progress(logger, f"AUC bootstrap ({len(w)} events)", total=int(n_bootstrap), unit="replicas")
    for b in range(int(n_bootstrap)):
        aucs[b] = replica.draw(rng)
        progress.update(1)
    progress.done()
    valid = aucs[np.isfinite(aucs)]
    if len(valid) < 2:
        raise ValueError(
            f"auc_bootstrap: only {len(valid)} of {n_bootstrap} replicates had both classes"
        )
    logger.debug("auc_bootstrap: %d/%d valid replicates", len(valid), n_bootstrap)
    return auc, float(np.std(valid, ddof=1))


class RejectionCurve(NamedTuple):
    """Background rejection ``1 / eff_B`` on a grid of signal efficiencies, as a ROC plot draws it.

    Attributes
    ----------
    eff_s : ndarray of shape (n_grid,)
        Signal efficiencies (the grid).
    rejection : ndarray of shape (n_grid,)
        ``1 / eff_B`` of the selection reaching ``eff_s``; NaN below ``eff_s_min``.
    lo, hi : ndarray of shape (n_grid,) or None
        16 % and 84 % quantiles of the rejection over Poisson-bootstrap replicates (None without).
    eff_s_min : float
        Smallest signal efficiency at which at least ``min_b_events`` background MC events pass:
        the curve is not drawn below it (its rejection would rest on a handful of events).
    auc : float
        Weighted AUC (:func:`roc_auc`).
    """

    eff_s: NDArray[np.float64]
    rejection: NDArray[np.float64]
    lo: NDArray[np.float64] | None
    hi: NDArray[np.float64] | None
    eff_s_min: float
    auc: float


def _rejection_on_grid(S_g: NDArray, B_g: NDArray, grid: NDArray) -> NDArray[np.float64]:
    """1 / eff_B interpolated at the signal efficiencies ``grid`` from per-group class weights."""
    eff_s = np.concatenate(([0.0], np.maximum.accumulate(np.cumsum(S_g)) / S_g.sum()))
    eff_b = np.concatenate(([0.0], np.cumsum(B_g) / B_g.sum()))
    # the first point reaching each target efficiency and the one before it (as _first_crossing)
    i = np.clip(np.searchsorted(eff_s, grid, side="left"), 1, len(eff_s) - 1)
    x0, x1 = eff_s[i - 1], eff_s[i]
    t = np.clip((grid - x0) / np.where(x1 > x0, x1 - x0, 1.0), 0.0, 1.0)
    eff_b = eff_b[i - 1] + t * (eff_b[i] - eff_b[i - 1])
    with np.errstate(divide="ignore"):
        return np.where(eff_b > 0, 1.0 / np.where(eff_b > 0, eff_b, 1.0), np.inf)


def _rejection_from_groups(S_g: NDArray, B_g: NDArray, N_g: NDArray, grid: NDArray,
                           min_b_events: int) -> tuple[NDArray[np.float64], float]:
    """Rejection on ``grid`` (NaN below ``eff_s_min``) and ``eff_s_min`` from per-group class weights and
    background MC events ``N_g`` (groups in decreasing score order: tie groups, or histogram bins)."""
    enough = np.cumsum(N_g) >= min_b_events
    cum_eff_s = np.maximum.accumulate(np.cumsum(S_g)) / S_g.sum()
    eff_s_min = float(cum_eff_s[np.argmax(enough)]) if enough.any() else 1.0
    rej = _rejection_on_grid(S_g, B_g, grid)
    rej[grid < eff_s_min] = np.nan
    return rej, eff_s_min


def rejection_curve(
    y_true: ArrayLike,
    score: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    eff_s: ArrayLike | None = None,
    min_b_events: int = 10,
    n_bootstrap: int = 0,
    random_state: int | np.random.Generator | None = 0,
    label: str = "",
) -> RejectionCurve:
    """Background rejection against signal efficiency, cut where the background MC runs out, with
    an optional Poisson-bootstrap band (as :func:`auc_bootstrap`: one sort, O(n) per replicate).

    Parameters
    ----------
    y_true, score, sample_weight : array-like of shape (n_samples,)
    eff_s : array-like, optional
        Signal-efficiency grid (default 400 points in (0, 1]).
    min_b_events : int, default 10
        Below the signal efficiency where fewer background MC events than this pass, the rejection
        is NaN (not drawn).
    n_bootstrap : int, default 0
        Replicates for the band (0: no band).
    random_state : int, Generator or None
    label : str
        Name used in the progress log of a long bootstrap.

    Returns
    -------
    RejectionCurve
    """
    y, s, w = _check_inputs(y_true, score, sample_weight)
    grid = np.linspace(0.0025, 1.0, 400) if eff_s is None else np.asarray(eff_s, dtype=np.float64)
    g = _sort_groups(y, s, w)
    S_g, B_g = _class_sums(g.y_sorted, g.w_sorted, g.starts)
    rej, eff_s_min = _rejection_from_groups(S_g, B_g, np.add.reduceat((~g.y_sorted).astype(np.int64), g.starts),
                                            grid, min_b_events)
    lo = hi = None
    if n_bootstrap >= 2:
        rng = np.random.default_rng(random_state)
        w_sig = np.where(g.y_sorted, g.w_sorted, 0.0)
        w_bkg = g.w_sorted - w_sig
        reps = np.full((int(n_bootstrap), len(grid)), np.nan)
        progress = Progress(logger, f"ROC bootstrap {label}".strip(), total=int(n_bootstrap), unit="replicas")
        for k in range(int(n_bootstrap)):
            counts = poisson1_counts(rng, len(w))
            Sk, Bk = np.add.reduceat(w_sig * counts, g.starts), np.add.reduceat(w_bkg * counts, g.starts)
            if Sk.sum() > 0 and Bk.sum() > 0:
                reps[k] = _rejection_on_grid(Sk, Bk, grid)
            progress.update(1)
        progress.done()
        with warnings.catch_warnings():  # grid points where every replicate is empty: NaN, as intended
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanquantile(np.where(np.isinf(reps), np.nan, reps), [0.16, 0.84], axis=0)
        lo[grid < eff_s_min], hi[grid < eff_s_min] = np.nan, np.nan
    return RejectionCurve(grid, rej, lo, hi, eff_s_min, _auc_from_sums(S_g, B_g))


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


# --------------------------------------------------------------------------------------------
# TMVA figures of merit: separation and discrimination significance
# --------------------------------------------------------------------------------------------
def separation(
    y_true: ArrayLike,
    score: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    bins: int = 40,
    score_range: tuple[float, float] | None = None,
) -> float:
    """TMVA's separation <S^2> of the signal and background score distributions.

        <S^2> = 1/2 * sum_bins (p_S - p_B)^2 / (p_S + p_B),

    with ``p_S``, ``p_B`` the weighted fractions of each class per bin (``TMVA::Tools::
    GetSeparation`` on the MVA-output histograms; TMVA's default is 40 bins over the range of
    the scores). 0 for identical shapes, 1 for non-overlapping ones. Bins where
    ``p_S + p_B <= 0`` (possible with negative weights) are skipped, as in TMVA.

    Parameters
    ----------
    y_true, score, sample_weight
        As in :func:`roc_curve`; scores must be finite.
    bins : int, default 40
        Number of equal-width bins.
    score_range : (float, float), optional
        Histogram range; default ``(score.min(), score.max())``.

    Returns
    -------
    float
    """
    y, s, w = _check_inputs(y_true, score, sample_weight)
    if not np.isfinite(s).all():
        raise ValueError("separation: score must be finite (got +-inf)")
    if int(bins) != bins or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    lo, hi = (float(s.min()), float(s.max())) if score_range is None else map(float, score_range)
    if hi <= lo:  # all scores equal: one bin holds everything, separation 0
        return 0.0
    h_s, edges = np.histogram(s[y], bins=int(bins), range=(lo, hi), weights=w[y])
    h_b, _ = np.histogram(s[~y], bins=edges, weights=w[~y])
    p_s, p_b = h_s / w[y].sum(), h_b / w[~y].sum()
    tot = p_s + p_b
    ok = tot > 0
    return float(0.5 * np.sum((p_s[ok] - p_b[ok]) ** 2 / tot[ok]))


def discrimination_significance(
    y_true: ArrayLike, score: ArrayLike, sample_weight: ArrayLike | None = None
) -> float:
    """TMVA's discrimination significance of the score.

        |<x>_S - <x>_B| / sqrt(rms_S^2 + rms_B^2),

    with weighted means and weighted standard deviations (``MethodBase::GetSignificance``).

    Parameters
    ----------
    y_true, score, sample_weight
        As in :func:`roc_curve`; scores must be finite.

    Returns
    -------
    float
    """
    y, s, w = _check_inputs(y_true, score, sample_weight)
    if not np.isfinite(s).all():
        raise ValueError("discrimination_significance: score must be finite (got +-inf)")
    mean_s = np.average(s[y], weights=w[y])
    mean_b = np.average(s[~y], weights=w[~y])
    var_s = max(np.average((s[y] - mean_s) ** 2, weights=w[y]), 0.0)
    var_b = max(np.average((s[~y] - mean_b) ** 2, weights=w[~y]), 0.0)
    rms = np.sqrt(var_s + var_b)
    return float(abs(mean_s - mean_b) / rms) if rms > 0 else 0.0


# --------------------------------------------------------------------------------------------
# unbinned weighted two-sample tests (overtraining checks)
# --------------------------------------------------------------------------------------------
class TwoSampleTest(NamedTuple):
    """Result of a weighted two-sample test.

    Attributes
    ----------
    statistic : float
        KS: the maximum distance D of the weighted ECDFs. AD: the standardised k-sample
        Anderson-Darling statistic of Scholz & Stephens (as ``scipy.stats.anderson_ksamp``).
    pvalue : float
        p-value of the null hypothesis "both samples come from the same distribution".
    n_eff_1, n_eff_2 : float
        Kish effective sample sizes ``(sum w)^2 / sum w^2`` used for the p-value.
    """

    statistic: float
    pvalue: float
    n_eff_1: float
    n_eff_2: float


def effective_sample_size(sample_weight: ArrayLike) -> float:
    """Kish effective sample size ``(sum w)^2 / sum w^2`` (equals n for equal weights)."""
    w = np.asarray(sample_weight, dtype=np.float64)
    sw2 = float(np.dot(w, w))
    return float(w.sum() ** 2 / sw2) if sw2 > 0 else 0.0


def _check_sample(name: str, x: ArrayLike, w: ArrayLike | None) -> tuple[NDArray, NDArray]:
    x_arr = np.asarray(x, dtype=np.float64)
    if x_arr.ndim != 1 or len(x_arr) < 2:
        raise ValueError(f"{name} must be 1-dimensional with >= 2 entries, got shape {x_arr.shape}")
    if np.isnan(x_arr).any():
        raise ValueError(f"{name} contains NaN values")
    if w is None:
        w_arr = np.ones(len(x_arr))
    else:
        w_arr = np.asarray(w, dtype=np.float64)
        if w_arr.shape != x_arr.shape:
            raise ValueError(
                f"length mismatch: weights of {name} have shape {w_arr.shape}, "
                f"{name} has {x_arr.shape}"
            )
        if not np.isfinite(w_arr).all():
            raise ValueError(f"weights of {name} contain NaN or infinite values")
    if not w_arr.sum() > 0:
        raise ValueError(f"total weight of {name} must be positive, got {w_arr.sum():g}")
    return x_arr, w_arr


def _pooled_fractions(
    x1: NDArray, w1: NDArray, x2: NDArray, w2: NDArray
) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Weighted fractions of each sample below and at every distinct pooled value.

    Returns ``(below_1, at_1, below_2, at_2)``, each of shape (n_distinct,), in increasing
    order of the distinct values; each sample's weights are normalised to sum to one.
    """
    z = np.concatenate((x1, x2))
    is_2 = np.concatenate((np.zeros(len(x1), bool), np.ones(len(x2), bool)))
    wn = np.concatenate((w1 / w1.sum(), w2 / w2.sum()))
    order, z_sorted = stable_argsort(z)
    is_2, wn = is_2[order], wn[order]
    starts = np.concatenate(([0], np.flatnonzero(z_sorted[1:] != z_sorted[:-1]) + 1))
    w2n = np.where(is_2, wn, 0.0)
    at_1 = np.add.reduceat(wn - w2n, starts)
    at_2 = np.add.reduceat(w2n, starts)
    return np.cumsum(at_1) - at_1, at_1, np.cumsum(at_2) - at_2, at_2


def _uniform(w: NDArray) -> bool:
    return bool(np.all(w == w[0]))


def ks_2samp_weighted(
    x1: ArrayLike,
    x2: ArrayLike,
    w1: ArrayLike | None = None,
    w2: ArrayLike | None = None,
) -> TwoSampleTest:
    """Unbinned weighted two-sample Kolmogorov-Smirnov test (two-sided).

    The statistic is ``D = max_x |F_1(x) - F_2(x)|`` over the pooled values, where ``F_i`` is the
    weighted empirical CDF of sample ``i`` (weights normalised to the net sample weight;
    negative weights allowed). The p-value is Smirnov's asymptotic distribution evaluated with
    the Kish effective sample sizes ``n_i = (sum w)^2 / sum w^2``: ``kstwo.sf(D, round(n_1 n_2 /
    (n_1 + n_2)))``, exactly scipy's ``method='asymp'``. When each sample has equal weights the
    test *is* ``scipy.stats.ks_2samp`` (exact p-values for samples up to 10 000 events).

    Parameters
    ----------
    x1 : array-like of shape (n_1,)
    x2 : array-like of shape (n_2,)
    w1 : array-like of shape (n_1,), optional
    w2 : array-like of shape (n_2,), optional

    Returns
    -------
    TwoSampleTest
    """
    x1, w1 = _check_sample("x1", x1, w1)
    x2, w2 = _check_sample("x2", x2, w2)
    n1, n2 = effective_sample_size(w1), effective_sample_size(w2)
    fractions = _pooled_fractions(x1, w1, x2, w2)
    if _uniform(w1) and _uniform(w2) and max(len(x1), len(x2)) <= _KS_EXACT_MAX_N:
        from scipy import stats  # scipy's exact p-value (its method='auto' below 10 000 events a sample)

        below_1, at_1, below_2, at_2 = fractions
        with warnings.catch_warnings():  # scipy warns when it falls back from exact to asymp
            warnings.simplefilter("ignore", RuntimeWarning)
            p = float(stats.ks_2samp(x1, x2).pvalue)
        return TwoSampleTest(float(np.max(np.abs((below_1 + at_1) - (below_2 + at_2)))), p, n1, n2)
    return _ks_from_fractions(*fractions, n1, n2)


#: ``scipy.stats.ks_2samp``'s exact p-values (``method='auto'``) for equal-weight samples up to this size; above it
#: scipy, and this module, use the asymptotic ``kstwo.sf(D, round(n1 n2 / (n1 + n2)))``
_KS_EXACT_MAX_N = 10_000


def _ks_from_fractions(below_1: NDArray, at_1: NDArray, below_2: NDArray, at_2: NDArray, n1: float,
                       n2: float) -> TwoSampleTest:
    """The KS test from each sample's weighted fractions below / at the distinct pooled values (or
    histogram bins), with the asymptotic p-value at the Kish sizes ``n1``, ``n2``."""
    d = float(np.max(np.abs((below_1 + at_1) - (below_2 + at_2))))
    en = n1 * n2 / (n1 + n2)
    p = kstwo_sf(d, max(int(np.round(en)), 1))  # scipy.stats.kstwo.sf without importing scipy.stats
    return TwoSampleTest(d, p, n1, n2)


# Scholz & Stephens (1987), table 2: interpolation of the critical values (as scipy)
_AD_B0 = np.array([0.675, 1.281, 1.645, 1.96, 2.326, 2.573, 3.085])
_AD_B1 = np.array([-0.245, 0.25, 0.678, 1.149, 1.822, 2.364, 3.615])
_AD_B2 = np.array([-0.105, -0.305, -0.362, -0.391, -0.396, -0.345, -0.154])
_AD_SIG = np.array([0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.001])


def anderson_2samp_weighted(
    x1: ArrayLike,
    x2: ArrayLike,
    w1: ArrayLike | None = None,
    w2: ArrayLike | None = None,
) -> TwoSampleTest:
    """Unbinned weighted two-sample Anderson-Darling test (Scholz & Stephens, midrank version).

    Scholz & Stephens' statistic ``A2akN`` (their eq. 7, ties handled by midranks) is written
    in terms of counts: ``M_ij`` (sample ``i`` below the distinct value ``z_j``, ties counting
    half), ``l_j`` (pooled ties at ``z_j``), ``B_j`` (pooled midrank count), ``n_i`` and
    ``N = n_1 + n_2``. The weighted version replaces every count of sample ``i`` by its
    Kish effective size ``n_i = (sum w)^2 / sum w^2`` times the corresponding weighted
    fraction of that sample, then standardises with the same mean and variance (evaluated at
    ``N`` rounded to an integer) and maps the standardised statistic to a p-value with
    Scholz & Stephens' interpolation table. For equal weights this is exactly
    ``scipy.stats.anderson_ksamp([x1, x2], variant='midrank')``. As in scipy, p-values are
    only tabulated in [0.001, 0.25]: values outside are returned clipped to that interval.
    Terms with a non-positive denominator (possible with negative weights) are skipped.

    Parameters
    ----------
    x1 : array-like of shape (n_1,)
    x2 : array-like of shape (n_2,)
    w1 : array-like of shape (n_1,), optional
    w2 : array-like of shape (n_2,), optional

    Returns
    -------
    TwoSampleTest
        ``statistic`` is the standardised statistic (scipy's ``statistic``).
    """
    x1, w1 = _check_sample("x1", x1, w1)
    x2, w2 = _check_sample("x2", x2, w2)
    n = np.array([effective_sample_size(w1), effective_sample_size(w2)])
    return _ad_from_fractions(n, *_pooled_fractions(x1, w1, x2, w2))


_AD_CHUNK = 1 << 20


def _ad_sums(N: int) -> tuple[float, float]:
    """Scholz & Stephens' ``h = sum_{i<N} 1/i`` and ``g = sum_{i<=N-2} sum_{i<j<N} 1/((N-i) j)`` (as scipy:
    ``hs_cs = cumsum(1 / arange(N-1, 1, -1))``, ``h = hs_cs[-1] + 1``, ``g = sum(hs_cs / arange(2, N))``),
    summed in chunks: memory bounded whatever ``N`` (the binned path's N is the number of events)."""
    carry, g = 0.0, 0.0
    for start in range(0, N - 2, _AD_CHUNK):
        stop = min(start + _AD_CHUNK, N - 2)
        hs_cs = carry + np.cumsum(1.0 / np.arange(N - 1 - start, N - 1 - stop, -1, dtype=np.float64))
        g += float((hs_cs / np.arange(start + 2, stop + 2, dtype=np.float64)).sum())
        carry = float(hs_cs[-1])
    return carry + 1.0, g


def _ad_from_fractions(n: NDArray, below_1: NDArray, at_1: NDArray, below_2: NDArray,
                       at_2: NDArray) -> TwoSampleTest:
    """The AD test of :func:`anderson_2samp_weighted` from the samples' Kish sizes ``n`` (shape (2,)) and
    weighted fractions below / at the distinct pooled values (or histogram bins, each a tie group)."""
    N = float(n.sum())
    N_int = int(np.round(N))
    if N_int < 4:
        raise ValueError(f"anderson_2samp_weighted needs >= 4 effective events, got {N:g}")
    l_j = n[0] * at_1 + n[1] * at_2
    B_j = n[0] * below_1 + n[1] * below_2 + l_j / 2.0
    denom = B_j * (N - B_j) - N * l_j / 4.0
    ok = denom > 0
    A2akN = 0.0
    for n_i, below, at in ((n[0], below_1, at_1), (n[1], below_2, at_2)):
        M_ij = n_i * (below + at / 2.0)
        inner = l_j[ok] / N * (N * M_ij[ok] - B_j[ok] * n_i) ** 2 / denom[ok]
        A2akN += inner.sum() / n_i
    A2akN *= (N - 1.0) / N
    # mean (k - 1) and variance of A2akN (Scholz & Stephens eq. 4), k = 2 samples
    k = 2
    H = float((1.0 / n).sum())
    h, g = _ad_sums(N_int)
    a = (4 * g - 6) * (k - 1) + (10 - 6 * g) * H
    b = (2 * g - 4) * k**2 + 8 * h * k + (2 * g - 14 * h - 4) * H - 8 * h + 4 * g - 6
    c = (6 * h + 2 * g - 2) * k**2 + (4 * h - 4 * g + 6) * k + (2 * h - 6) * H + 4 * h
    d = (2 * h + 6) * k**2 - 4 * h * k
    sigmasq = (a * N**3 + b * N**2 + c * N + d) / ((N - 1.0) * (N - 2.0) * (N - 3.0))
    m = k - 1
    A2 = float((A2akN - m) / np.sqrt(sigmasq))
    critical = _AD_B0 + _AD_B1 / np.sqrt(m) + _AD_B2 / m
    if A2 < critical.min():
        p = float(_AD_SIG.max())
    elif A2 > critical.max():
        p = float(_AD_SIG.min())
    else:
        pf = np.polyfit(critical, np.log(_AD_SIG), 2)
        p = float(np.exp(np.polyval(pf, A2)))
    return TwoSampleTest(A2, p, float(n[0]), float(n[1]))


def overtraining_tests(
    y_train: ArrayLike,
    score_train: ArrayLike,
    y_test: ArrayLike,
    score_test: ArrayLike,
    w_train: ArrayLike | None = None,
    w_test: ArrayLike | None = None,
) -> dict[str, TwoSampleTest]:
    """KS and AD tests of train vs test score distributions, separately for S and B.

    Parameters
    ----------
    y_train, score_train, w_train : array-like of shape (n_train,)
        Labels, scores and weights of the training events (scored by the model trained on them).
    y_test, score_test, w_test : array-like of shape (n_test,)
        The same for the held-out events.

    Returns
    -------
    dict
        Keys ``ks_signal``, ``ks_background``, ``ad_signal``, ``ad_background``.
    """
    y_tr, s_tr, w_tr = _check_inputs(y_train, score_train, w_train)
    y_te, s_te, w_te = _check_inputs(y_test, score_test, w_test)
    out: dict[str, TwoSampleTest] = {}
    for label, cls_tr, cls_te in (("signal", y_tr, y_te), ("background", ~y_tr, ~y_te)):
        x1, w1 = _check_sample("x1", s_tr[cls_tr], w_tr[cls_tr])
        x2, w2 = _check_sample("x2", s_te[cls_te], w_te[cls_te])
        n = np.array([effective_sample_size(w1), effective_sample_size(w2)])
        fractions = _pooled_fractions(x1, w1, x2, w2)  # one sort of the pooled scores for both tests
        if _uniform(w1) and _uniform(w2):
            out[f"ks_{label}"] = ks_2samp_weighted(x1, x2, w1, w2)  # scipy's exact p-value
        else:
            out[f"ks_{label}"] = _ks_from_fractions(*fractions, float(n[0]), float(n[1]))
        out[f"ad_{label}"] = _ad_from_fractions(n, *fractions)
    return out


# --------------------------------------------------------------------------------------------
# cut scan with luminosity-normalised yields
# --------------------------------------------------------------------------------------------
def asimov_significance(s: ArrayLike, b: ArrayLike, rel_unc_b: float = 0.0) -> NDArray[np.float64]:
    """Median discovery significance for a counting experiment (Asimov data set), optionally with a
    relative background uncertainty.

    Without uncertainty (``rel_unc_b = 0``)::

        Z = sqrt(2 ((s + b) ln(1 + s/b) - s)),

    Cowan, Cranmer, Gross, Vitells, EPJC 71 (2011) 1554, eq. 97; tends to ``s/sqrt(b)`` for ``s << b``.
    With an absolute background uncertainty ``sigma = rel_unc_b * b`` (the background constrained by an
    auxiliary measurement; Cowan's "Discovery sensitivity for a counting experiment with background
    uncertainty", as in the ATLAS note ATL-PHYS-PUB-2020-025 "Formulae for estimating significance")::

        Z = sqrt(2 ((s + b) ln[(s + b)(b + sigma^2) / (b^2 + (s + b) sigma^2)]
                    - (b^2 / sigma^2) ln[1 + sigma^2 s / (b (b + sigma^2))])),

    which tends to the first formula as ``sigma -> 0`` and to ``s / sqrt(b + sigma^2)`` for ``s << b``.
    NaN where ``b <= 0`` or ``s + b <= 0``.

    Parameters
    ----------
    s, b : array-like (broadcastable)
        Expected signal and background yields.
    rel_unc_b : float, default 0
        Relative uncertainty of the background yield (0.1 = 10 %).

    Returns
    -------
    ndarray
    """
    if not (np.isfinite(rel_unc_b) and rel_unc_b >= 0):
        raise ValueError(f"asimov_significance: rel_unc_b must be a finite number >= 0, got {rel_unc_b!r}")
    s_arr = np.asarray(s, dtype=np.float64)
    b_arr = np.asarray(b, dtype=np.float64)
    ok = (b_arr > 0) & (s_arr + b_arr > 0)
    b_safe = np.where(ok, b_arr, 1.0)
    s_safe = np.where(ok, s_arr, 0.0)
    if rel_unc_b == 0:
        q = 2.0 * ((s_safe + b_safe) * np.log1p(s_safe / b_safe) - s_safe)
    else:
        var = (rel_unc_b * b_safe) ** 2
        # (s+b)(b+var) / (b^2 + (s+b) var) = 1 + s b / (b^2 + (s+b) var): log1p keeps small s exact
        t1 = (s_safe + b_safe) * np.log1p(s_safe * b_safe / (b_safe**2 + (s_safe + b_safe) * var))
        t2 = b_safe**2 / var * np.log1p(var * s_safe / (b_safe * (b_safe + var)))
        q = 2.0 * (t1 - t2)
    return np.where(ok, np.sqrt(np.maximum(q, 0.0)), np.nan)


def format_pvalue(p: float, test: str = "ks") -> str:
    """A p-value as the summary and the plots print it.

    The Anderson-Darling p-value (``test="ad"``) is interpolated in scipy's table and known only in
    [0.001, 0.25]: outside, it is printed as ``">= 0.25"`` or ``"<= 0.001"``; every other p-value as
    ``f"{p:.3g}"``. NaN gives ``""``.
    """
    if p is None or not np.isfinite(p):
        return ""
    if test == "ad" and p >= 0.25:
        return ">= 0.25"
    if test == "ad" and p <= 0.001:
        return "<= 0.001"
    return f"{p:.3g}"


class OptimalCut(NamedTuple):
    """The cut maximising the Asimov significance.

    Attributes
    ----------
    threshold : float
        Select events with ``score >= threshold``.
    s, b : float
        Expected signal and background yields after the cut.
    z_asimov : float
        Asimov significance at the cut.
    s_over_sqrt_s_plus_b : float
        ``s / sqrt(s + b)`` at the cut.
    eff_s, eff_b : float
        Signal and background efficiencies of the cut.
    z_asimov_sys : float
        Asimov significance at the cut with the scan's relative background uncertainty
        (equal to ``z_asimov`` when that is 0).
    """

    threshold: float
    s: float
    b: float
    z_asimov: float
    s_over_sqrt_s_plus_b: float
    eff_s: float
    eff_b: float
    z_asimov_sys: float = float("nan")


class CutScan(NamedTuple):
    """Yields and significances of the selection ``score >= threshold``.

    Attributes
    ----------
    thresholds : ndarray of shape (n_cuts,)
        Cut values, decreasing.
    s, b : ndarray of shape (n_cuts,)
        Expected (weighted) signal and background yields passing the cut.
    n_b_events : ndarray of shape (n_cuts,)
        Number of (unweighted) background MC events passing.
    s_over_sqrt_s_plus_b : ndarray of shape (n_cuts,)
    z_asimov : ndarray of shape (n_cuts,)
        NaN where ``b <= 0``.
    best : OptimalCut
        Maximum of ``z_asimov`` among cuts with at least ``min_b_events`` background events
        (all fields NaN if no cut qualifies).
    z_asimov_sys : ndarray of shape (n_cuts,)
        Asimov significance with the relative background uncertainty ``rel_unc_b``.
    best_sys : OptimalCut
        Maximum of ``z_asimov_sys`` among the same cuts.
    rel_unc_b : float
        The relative background uncertainty used.
    """

    thresholds: NDArray[np.float64]
    s: NDArray[np.float64]
    b: NDArray[np.float64]
    n_b_events: NDArray[np.int64]
    s_over_sqrt_s_plus_b: NDArray[np.float64]
    z_asimov: NDArray[np.float64]
    best: OptimalCut
    z_asimov_sys: NDArray[np.float64] | None = None
    best_sys: OptimalCut | None = None
    rel_unc_b: float = 0.0


def cut_scan(
    y_true: ArrayLike,
    score: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    thresholds: ArrayLike | None = None,
    min_b_events: int = 10,
    rel_unc_b: float = 0.0,
) -> CutScan:
    """Scan a lower cut on the score with luminosity-normalised yields.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 for signal, 0 for background.
    score : array-like of shape (n_samples,)
        Classifier output (out-of-fold for an unbiased estimate).
    sample_weight : array-like of shape (n_samples,), optional
        Event weights normalised to the luminosity (expected yields: generator weight x
        cross-section x luminosity / sum of weights); unit weights count events.
    thresholds : array-like of shape (n_cuts,), optional
        Cut values to evaluate; default every distinct score.
    min_b_events : int, default 10
        The optimum is searched only among cuts keeping at least this many background MC
        events, so that it is not an artefact of a statistically empty tail.
    rel_unc_b : float, default 0
        Relative background uncertainty for ``z_asimov_sys`` and ``best_sys``
        (:func:`asimov_significance`).

    Returns
    -------
    CutScan
    """
    y, s, w = _check_inputs(y_true, score, sample_weight)
    g = _sort_groups(y, s, w)
    S_g, B_g = _class_sums(g.y_sorted, g.w_sorted, g.starts)
    N_g = np.add.reduceat((~g.y_sorted).astype(np.int64), g.starts)
    cum_s, cum_b, cum_n = np.cumsum(S_g), np.cumsum(B_g), np.cumsum(N_g)
    if thresholds is None:
        thr = g.thresholds
        S, B, n_b = cum_s, cum_b, cum_n
    else:
        thr = np.sort(np.asarray(thresholds, dtype=np.float64).ravel())[::-1]
        if np.isnan(thr).any():
            raise ValueError("thresholds contain NaN")
        # number of tie groups with score >= t (g.thresholds is decreasing)
        n_pass = len(g.thresholds) - np.searchsorted(g.thresholds[::-1], thr, side="left")
        S = np.concatenate(([0.0], cum_s))[n_pass]
        B = np.concatenate(([0.0], cum_b))[n_pass]
        n_b = np.concatenate(([0], cum_n))[n_pass]
    return _scan(np.asarray(thr, np.float64), np.asarray(S, np.float64), np.asarray(B, np.float64),
                 np.asarray(n_b, np.int64), cum_s[-1], cum_b[-1], min_b_events=min_b_events, rel_unc_b=rel_unc_b)


def _scan(thr: NDArray, S: NDArray, B: NDArray, n_b: NDArray, S_tot: float, B_tot: float, *, min_b_events: int,
          rel_unc_b: float) -> CutScan:
    """The cut scan from the yields ``S``, ``B`` and background MC events ``n_b`` passing each threshold
    ``thr`` (decreasing), and the total yields (for the efficiencies)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sb = np.where(S + B > 0, S / np.sqrt(np.where(S + B > 0, S + B, 1.0)), np.nan)
    z = asimov_significance(S, B)
    z_sys = asimov_significance(S, B, rel_unc_b) if rel_unc_b else z

    def optimum(values: NDArray[np.float64]) -> OptimalCut:
        eligible = (n_b >= min_b_events) & np.isfinite(values)
        if not eligible.any():
            return OptimalCut(*([np.nan] * 8))
        i = int(np.nanargmax(np.where(eligible, values, -np.inf)))
        return OptimalCut(float(thr[i]), float(S[i]), float(B[i]), float(z[i]), float(sb[i]),
                          float(S[i] / S_tot), float(B[i] / B_tot), float(z_sys[i]))

    best, best_sys = optimum(z), optimum(z_sys)
    if not np.isfinite(best.threshold):
        logger.warning("cut_scan: no cut keeps >= %d background events", min_b_events)
    return CutScan(thr, S, B, np.asarray(n_b, np.int64), sb, z, best, z_sys, best_sys, float(rel_unc_b))


# --------------------------------------------------------------------------------------------
# permutation importance
# --------------------------------------------------------------------------------------------
class PermutationImportance(NamedTuple):
    """Weighted-AUC drop when one feature is shuffled.

    Attributes
    ----------
    baseline_auc : float
        AUC of the unpermuted inputs.
    importances_mean : ndarray of shape (n_features,)
        Mean AUC drop over the repeats.
    importances_std : ndarray of shape (n_features,)
        Standard deviation (ddof=0) of the drop over the repeats.
    importances : ndarray of shape (n_features, n_repeats)
        Every AUC drop.
    feature_names : list of str
    """

    baseline_auc: float
    importances_mean: NDArray[np.float64]
    importances_std: NDArray[np.float64]
    importances: NDArray[np.float64]
    feature_names: list[str]


def permutation_importance(
    score_fn: Callable[[NDArray[np.float64]], ArrayLike],
    X: ArrayLike,
    y_true: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    n_repeats: int = 5,
    max_samples: int | None = None,
    feature_names: list[str] | None = None,
    random_state: int | np.random.Generator | None = 0,
) -> PermutationImportance:
    """Permutation importance: the drop of the weighted AUC when a feature is shuffled.

    Parameters
    ----------
    score_fn : callable
        ``score_fn(X) -> ndarray of shape (n_samples,)``, e.g. ``lambda X: model.predict_proba(X)[:, 1]``.
    X : array-like of shape (n_samples, n_features)
        Held-out inputs (score them with a model that did not train on them).
    y_true : array-like of shape (n_samples,)
    sample_weight : array-like of shape (n_samples,), optional
        Event weights (negative allowed).
    n_repeats : int, default 5
        Shuffles per feature.
    max_samples : int, optional
        Evaluate on a random subsample of this many events (without replacement) to bound
        the cost; all events by default.
    feature_names : list of str, optional
        Default ``["x0", "x1", ...]``.
    random_state : int, Generator or None, default 0

    Returns
    -------
    PermutationImportance
    """
    X_arr = np.asarray(X, dtype=np.float64)
    if X_arr.ndim != 2:
        raise ValueError(f"X must be 2-dimensional, got shape {X_arr.shape}")
    y, _, w = _check_inputs(y_true, np.zeros(len(np.asarray(y_true))), sample_weight)
    if len(y) != len(X_arr):
        raise ValueError(f"length mismatch: X has {len(X_arr)} rows, y_true has {len(y)}")
    if int(n_repeats) != n_repeats or n_repeats < 1:
        raise ValueError(f"n_repeats must be a positive integer, got {n_repeats!r}")
    n_features = X_arr.shape[1]
    names = [f"x{j}" for j in range(n_features)] if feature_names is None else list(feature_names)
    if len(names) != n_features:
        raise ValueError(f"feature_names has {len(names)} entries, X has {n_features} columns")
    rng = np.random.default_rng(random_state)
    if max_samples is not None and max_samples < len(y):
        idx = subsample_index(len(y), max_samples, rng)
        X_arr, y, w = X_arr[idx], y[idx], w[idx]
    baseline = roc_auc(y, np.asarray(score_fn(X_arr), dtype=np.float64).ravel(), w)
    drops = np.empty((n_features, int(n_repeats)))
    X_perm = X_arr.copy()
    for j in range(n_features):
        for r in range(int(n_repeats)):
            X_perm[:, j] = X_arr[rng.permutation(len(y)), j]
            drops[j, r] = baseline - roc_auc(
                y, np.asarray(score_fn(X_perm), dtype=np.float64).ravel(), w
            )
        X_perm[:, j] = X_arr[:, j]
        logger.info("permutation importance: %s -> %.4f", names[j], drops[j].mean())
    return PermutationImportance(baseline, drops.mean(axis=1), drops.std(axis=1), drops, names)
