"""Weighted classifier metrics from mergeable, fine-binned score histograms.

At 10^8-10^9 events the exact metrics of :mod:`hepmva.metrics` (one sort of all scores, a
Poisson bootstrap that re-weights every event in every replica) cost too much time and memory,
and they need every event in one job. Here each file or chunk of scores becomes one scikit-hep
``hist`` object, a (label x transformed score) histogram with ``Weight`` storage (sum of w and
sum of w^2 per bin). Histograms of different files add up exactly (``h1 + h2``), and the metrics
come from the summed histogram, in O(bins), independent of the number of events:

- the weighted ROC curve, AUC (each bin a group of tied scores, as in the exact path) and the
  signal efficiency at given background efficiencies;
- TMVA's separation <S^2> (the fine bins folded onto its 40 equal-width score bins);
- the bootstrap uncertainty of the AUC, resampling the *binned* counts: in every replica each bin
  content becomes ``k * Poisson(W^2 / V)`` with ``k = V / W`` (``W`` = sum w, ``V`` = sum w^2 of the
  bin), which has the mean ``W`` and variance ``V`` of the event-level Poisson bootstrap and is
  exactly its distribution when the weights in a bin are equal (unit weights: Poisson(n)). Bins
  whose net weight is not positive (negative weights) are drawn from Normal(W, sqrt(V)).

The binning (:class:`ScoreBinning`) must be fixed before the first file is filled, so that all
histograms share it; it is chosen from the global minimum and maximum score (mergeable numbers,
known e.g. from the parquet statistics of the score files) by :func:`choose_binning`:
scores within [0, 1] (probabilities, BDT outputs with sharp peaks near 0 and 1) are binned
uniformly in logit(s), which resolves 1 - s down to ~1e-11; any other score uniformly in
asinh(s) between its minimum and maximum (linear near 0, logarithmic in the tails). Scores beyond
the range go to the flow bins, which keep their order; the AUC's largest possible error from
grouping the events of a bin is returned as ``auc_binning_bound``.

:func:`choose_method` is the ``evaluation.method`` switch of the config: ``auto`` keeps the exact
path for samples of at most ``exact_max_events`` events.
"""

from __future__ import annotations

import functools
import logging
import operator
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import hist
import numpy as np
from numpy.typing import ArrayLike, NDArray

from hepmva import metrics
from hepmva.config import schema_default

__all__ = [
    "DEFAULT_BINS",
    "METHODS",
    "ScoreBinning",
    "choose_binning",
    "choose_method",
    "score_histogram",
    "merge_histograms",
    "roc_curve",
    "roc_auc",
    "auc_binning_bound",
    "auc_bootstrap",
    "signal_efficiency_at",
    "separation",
    "evaluate_histogram",
    "ScoreHistograms",
    "significance",
    "cut_scan",
    "rejection_curve",
    "overtraining_tests",
]

log = logging.getLogger(__name__)

DEFAULT_BINS = schema_default("evaluation.score_bins")  # 50000: 1e-3 wide in logit(s) over [-25, 25], 0.8 MB a hist
METHODS = ("auto", "exact", "binned")
_LOGIT_MAX = 25.0  # logit(1 - 1.4e-11); float32 probabilities reach logit ~ 16.6 before 1.0
_FILL_CHUNK = 1_000_000  # events per hist.fill call: bounds the temporary arrays


@dataclass(frozen=True)
class ScoreBinning:
    """Fixed binning of a score, uniform in a monotone transform ``t(s)``.

    Attributes
    ----------
    transform : str
        ``"logit"`` (scores in [0, 1]) or ``"asinh"`` (any real score).
    bins : int
        Number of regular bins in ``t`` between ``low`` and ``high``; flow bins catch the rest.
    low, high : float
        Range in transformed units.
    score_min, score_max : float
        Global score range the binning was chosen for (TMVA's separation uses it).
    """

    transform: str
    bins: int
    low: float
    high: float
    score_min: float
    score_max: float

    def forward(self, s: NDArray[np.float64]) -> NDArray[np.float64]:
        """Transformed score ``t(s)`` (monotone increasing; logit(0) = -inf, logit(1) = +inf)."""
        if self.transform == "logit":
            with np.errstate(divide="ignore"):
                return np.log(s) - np.log1p(-s)
        return np.arcsinh(s)

    def inverse(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """Score at transformed value ``t``."""
        if self.transform == "logit":
            return 0.5 * (1.0 + np.tanh(0.5 * t))  # stable sigmoid
        return np.sinh(t)

    def axis(self) -> hist.axis.Regular:
        return hist.axis.Regular(self.bins, self.low, self.high, name="t", label=f"{self.transform}(score)",
                                 metadata=self)


def choose_binning(score_min: float, score_max: float, *, bins: int = DEFAULT_BINS) -> ScoreBinning:
    """The binning of a score whose values lie in ``[score_min, score_max]`` (over all files).

    Raises
    ------
    ValueError
        On a non-finite range (NaN or +-inf scores), ``score_min > score_max`` or ``bins < 10``.
    """
    lo, hi = float(score_min), float(score_max)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        raise ValueError(f"score range must be finite with min <= max, got [{score_min!r}, {score_max!r}]")
    if int(bins) != bins or bins < 10:
        raise ValueError(f"score bins must be an integer >= 10, got {bins!r}")
    if lo >= 0.0 and hi <= 1.0:
        return ScoreBinning("logit", int(bins), -_LOGIT_MAX, _LOGIT_MAX, lo, hi)
    t_lo, t_hi = float(np.arcsinh(lo)), float(np.arcsinh(hi))
    t_hi = max(np.nextafter(t_hi, np.inf), t_lo + 1e-12)  # the maximum itself lands in the last regular bin
    return ScoreBinning("asinh", int(bins), t_lo, t_hi, lo, hi)


def choose_method(method: str, n_events: int, exact_max_events: int) -> str:
    """``"exact"`` or ``"binned"`` for the config's ``evaluation.method`` (``auto`` | ``exact`` | ``binned``)."""
    if method not in METHODS:
        raise ValueError(f"evaluation.method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "auto":
        return "exact" if n_events <= exact_max_events else "binned"
    return method


def score_histogram(y_true: ArrayLike, score: ArrayLike, sample_weight: ArrayLike | None = None, *,
                    binning: ScoreBinning | None = None) -> hist.Hist:
    """One (label x transformed score) histogram with Weight storage of one file or chunk.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 for signal, 0 for background.
    score : array-like of shape (n_samples,)
        Classifier output, finite.
    sample_weight : array-like of shape (n_samples,), optional
        Event weights (negative allowed); default unit weights.
    binning : ScoreBinning, optional
        The binning shared by all files; default :func:`choose_binning` of this sample's range
        (only right when this is the whole sample).

    Returns
    -------
    hist.Hist
        Axes ``label`` (IntCategory [0, 1]) and ``t``; add histograms of several files with ``+``.
    """
    y = np.asarray(y_true).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    w = np.ones_like(s) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).ravel()
    if not (len(y) == len(s) == len(w)):
        raise ValueError(f"length mismatch: y_true {len(y)}, score {len(s)}, sample_weight {len(w)}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must be 0 (background) or 1 (signal)")
    if len(s) and not np.isfinite(s).all():
        raise ValueError("score must be finite (got NaN or +-inf)")
    if binning is None:
        if not len(s):
            raise ValueError("score_histogram: no events and no binning given")
        binning = choose_binning(s.min(), s.max())
    elif len(s) and binning.transform == "logit" and (s.min() < 0.0 or s.max() > 1.0):
        raise ValueError(f"score outside [0, 1] ([{s.min():g}, {s.max():g}]) for a logit binning: "
                         "choose the binning from the range of all files' scores")
    h = hist.Hist(hist.axis.IntCategory([0, 1], name="label", flow=False), binning.axis(),
                  storage=hist.storage.Weight())
    for start in range(0, len(s), _FILL_CHUNK):
        part = slice(start, start + _FILL_CHUNK)
        h.fill(label=y[part].astype(np.int64), t=binning.forward(s[part]), weight=w[part])
    return h


def merge_histograms(histograms: Iterable[hist.Hist]) -> hist.Hist:
    """Sum of the histograms of several files or chunks (they must share one binning)."""
    histograms = list(histograms)
    if not histograms:
        raise ValueError("merge_histograms: no histograms")
    binnings = {h.axes["t"].metadata for h in histograms}
    if len(binnings) > 1:
        raise ValueError(f"cannot merge score histograms of different binnings: {sorted(map(repr, binnings))}")
    return functools.reduce(operator.add, histograms)


def _binning(h: hist.Hist) -> ScoreBinning:
    return h.axes["t"].metadata


def _class_sums(h: hist.Hist, field: str = "value") -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-bin signal and background sums (flow bins included), in DEcreasing score order."""
    view = h.view(flow=True)[field]
    return view[1][::-1].copy(), view[0][::-1].copy()  # IntCategory index 1 = label 1 (signal)


def _check_totals(S_g: NDArray[np.float64], B_g: NDArray[np.float64]) -> None:
    if not (S_g.sum() > 0 and B_g.sum() > 0):
        raise ValueError(f"need positive total signal and background weight, got {S_g.sum():g} and {B_g.sum():g}")


def roc_curve(h: hist.Hist) -> metrics.RocCurve:
    """Weighted ROC curve of ``score >= threshold`` at the bin edges (thresholds decreasing)."""
    S_g, B_g = _class_sums(h)
    _check_totals(S_g, B_g)
    b = _binning(h)
    lower_edges = b.inverse(h.axes["t"].edges[:-1])  # lower edge of every regular bin, in score units
    thresholds = np.concatenate(([np.inf, b.inverse(np.float64(b.high))], lower_edges[::-1], [-np.inf]))
    cum_s, cum_b = np.cumsum(S_g), np.cumsum(B_g)
    return metrics.RocCurve(np.concatenate(([0.0], cum_s / cum_s[-1])), np.concatenate(([0.0], cum_b / cum_b[-1])),
                            thresholds)


def roc_auc(h: hist.Hist) -> float:
    """Weighted AUC, the events of one bin counting as tied (half a win)."""
    S_g, B_g = _class_sums(h)
    _check_totals(S_g, B_g)
    return metrics._auc_from_sums(S_g, B_g)


def auc_binning_bound(h: hist.Hist) -> float:
    """Largest possible difference from the exact AUC: half the weighted S-B pairs sharing a bin."""
    S_g, B_g = _class_sums(h)
    _check_totals(S_g, B_g)
    return float(0.5 * np.abs(np.dot(S_g, B_g)) / (S_g.sum() * B_g.sum()))


def signal_efficiency_at(h: hist.Hist, eff_b: float | Sequence[float] = (0.01, 0.1, 0.3)) -> dict[float, float]:
    """Signal efficiency where the binned ROC curve first reaches each background efficiency."""
    targets = np.atleast_1d(np.asarray(eff_b, dtype=np.float64))
    if targets.ndim != 1 or not np.all((targets >= 0) & (targets <= 1)):
        raise ValueError(f"eff_b targets must lie in [0, 1], got {eff_b!r}")
    roc = roc_curve(h)
    return {float(t): metrics._first_crossing(roc.eff_b, roc.eff_s, float(t)) for t in targets}


def separation(h: hist.Hist, *, bins: int = 40, score_range: tuple[float, float] | None = None) -> float:
    """TMVA's separation <S^2> on ``bins`` equal-width bins over ``score_range`` (default: the score range
    the binning was chosen for).

    Each fine bin goes to the coarse bin holding its centre, so the result differs from
    :func:`hepmva.metrics.separation` only by the fine bins that straddle a coarse edge.
    """
    b = _binning(h)
    S_g, B_g = _class_sums(h)
    _check_totals(S_g, B_g)
    lo, hi = (b.score_min, b.score_max) if score_range is None else map(float, score_range)
    if hi <= lo:
        return 0.0
    t_edges = h.axes["t"].edges
    centres = b.inverse(np.concatenate(([t_edges[0]], 0.5 * (t_edges[1:] + t_edges[:-1]), [t_edges[-1]])))[::-1]
    coarse = np.clip(((centres - lo) / (hi - lo) * bins).astype(np.int64), 0, bins - 1)
    p_s = np.bincount(coarse, weights=S_g, minlength=bins) / S_g.sum()
    p_b = np.bincount(coarse, weights=B_g, minlength=bins) / B_g.sum()
    tot = p_s + p_b
    ok = tot > 0
    return float(0.5 * np.sum((p_s[ok] - p_b[ok]) ** 2 / tot[ok]))


def _resample(W: NDArray[np.float64], V: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.float64]:
    """One bootstrap replica of binned contents with sums ``W`` (of w) and ``V`` (of w^2)."""
    out = np.zeros_like(W)
    pos = (W > 0) & (V > 0)
    k = V[pos] / W[pos]
    out[pos] = k * rng.poisson(W[pos] / k)
    other = ~pos & (V > 0)
    out[other] = rng.normal(W[other], np.sqrt(V[other]))
    return out


def auc_bootstrap(h: hist.Hist, *, n_bootstrap: int = 200,
                  random_state: int | np.random.Generator | None = 0) -> tuple[float, float]:
    """AUC of the histogram and the standard deviation (ddof=1) of the AUC of resampled bin contents.

    Costs O(bins) per replica, whatever the number of events; ``n_bootstrap`` < 2 gives NaN.
    """
    if int(n_bootstrap) != n_bootstrap or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be a non-negative integer, got {n_bootstrap!r}")
    S_g, B_g = _class_sums(h)
    _check_totals(S_g, B_g)
    auc = metrics._auc_from_sums(S_g, B_g)
    if n_bootstrap < 2:
        return auc, float("nan")
    S_v, B_v = _class_sums(h, "variance")
    filled = (S_v > 0) | (B_v > 0)  # empty bins stay empty in every replica
    S_g, B_g, S_v, B_v = S_g[filled], B_g[filled], S_v[filled], B_v[filled]
    rng = np.random.default_rng(random_state)
    aucs = np.full(int(n_bootstrap), np.nan)
    for i in range(int(n_bootstrap)):
        S_r, B_r = _resample(S_g, S_v, rng), _resample(B_g, B_v, rng)
        if S_r.sum() > 0 and B_r.sum() > 0:
            aucs[i] = metrics._auc_from_sums(S_r, B_r)
    valid = aucs[np.isfinite(aucs)]
    if len(valid) < 2:
        raise ValueError(f"auc_bootstrap: only {len(valid)} of {n_bootstrap} replicas had both classes")
    return auc, float(np.std(valid, ddof=1))


def evaluate_histogram(h: hist.Hist, *, eff_b: Sequence[float] = (0.01, 0.1, 0.3), n_bootstrap: int = 200,
                       seed: int = 0) -> dict:
    """The numbers of :func:`hepmva.evaluation.evaluate_scores` (and the separation) from a summed histogram."""
    auc, auc_err = auc_bootstrap(h, n_bootstrap=n_bootstrap, random_state=seed)
    effs = signal_efficiency_at(h, eff_b=tuple(eff_b))
    return {
        "auc": auc,
        "auc_err": auc_err,
        "eff_s_at_eff_b": {f"{k:g}": v for k, v in effs.items()},
        "separation": separation(h),
        "auc_binning_bound": auc_binning_bound(h),
        "score_binning": {"transform": _binning(h).transform, "bins": _binning(h).bins},
    }


# ----------------------------------------------------------------------------- one set of events, all numbers
@dataclass
class ScoreHistograms:
    """Everything the evaluation needs of a set of scored events, mergeable exactly with ``+``.

    Attributes
    ----------
    weighted : hist.Hist
        (label x t) with Weight storage (sum w, sum w^2): :func:`score_histogram`.
    counts : hist.Hist
        The same axes, Int64 storage: MC events per bin (the ``min_b_events`` rule of the cut scan and
        the ROC curves counts events, not weights).
    moments : ndarray of shape (2, 3)
        Per label (0 background, 1 signal): sum w, sum w s, sum w s^2 (TMVA's discrimination significance).
    score_min, score_max : float
        Range of the filled scores (TMVA's separation bins it).
    """

    weighted: hist.Hist
    counts: hist.Hist
    moments: NDArray[np.float64]
    score_min: float
    score_max: float

    @classmethod
    def from_scores(cls, y_true: ArrayLike, score: ArrayLike, sample_weight: ArrayLike | None = None, *,
                    binning: ScoreBinning) -> ScoreHistograms:
        """The histograms of one file, part or chunk (arguments as :func:`score_histogram`)."""
        y = np.asarray(y_true).ravel()
        s = np.asarray(score, dtype=np.float64).ravel()
        w = np.ones_like(s) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).ravel()
        weighted = score_histogram(y, s, w, binning=binning)
        counts = hist.Hist(*weighted.axes, storage=hist.storage.Int64())
        moments = np.zeros((2, 3))
        for start in range(0, len(s), _FILL_CHUNK):
            part = slice(start, start + _FILL_CHUNK)
            counts.fill(label=y[part].astype(np.int64), t=binning.forward(s[part]))
        for label in (0, 1):
            m = y == label
            ws = w[m] * s[m]
            moments[label] = (w[m].sum(), ws.sum(), np.dot(ws, s[m]))
        lo, hi = (float(s.min()), float(s.max())) if len(s) else (np.inf, -np.inf)
        return cls(weighted, counts, moments, lo, hi)

    def __add__(self, other: ScoreHistograms) -> ScoreHistograms:
        if not isinstance(other, ScoreHistograms):
            return NotImplemented
        if _binning(self.weighted) != _binning(other.weighted):
            raise ValueError("cannot merge score histograms of different binnings")
        return ScoreHistograms(self.weighted + other.weighted, self.counts + other.counts,
                               self.moments + other.moments, min(self.score_min, other.score_min),
                               max(self.score_max, other.score_max))

    def __radd__(self, other):  # sum(parts) starts from 0
        return self if other == 0 else self.__add__(other)

    @property
    def binning(self) -> ScoreBinning:
        return _binning(self.weighted)

    def n_events(self, label: int) -> int:
        """MC events of class ``label`` (0 background, 1 signal)."""
        return int(self.counts.view(flow=True)[label].sum())

    def groups(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
        """Per non-empty bin, in DEcreasing score order: signal and background weight, background MC
        events, and the bin's threshold (its lower edge in score units: ``score >= threshold`` selects it
        and every bin above)."""
        S_g, B_g = _class_sums(self.weighted)
        counts = self.counts.view(flow=True)
        N_g, n_all = counts[0][::-1].astype(np.int64), (counts[0] + counts[1])[::-1]
        b = self.binning
        lower = b.inverse(self.weighted.axes["t"].edges[:-1])[::-1]
        thr = np.concatenate(([b.inverse(np.float64(b.high))], lower, [min(self.score_min, float(lower[-1]))]))
        keep = n_all > 0
        return S_g[keep], B_g[keep], N_g[keep], thr[keep]


def significance(H: ScoreHistograms) -> float:
    """TMVA's discrimination significance ``|<s>_S - <s>_B| / sqrt(rms_S^2 + rms_B^2)`` from the moments:
    exactly :func:`hepmva.metrics.discrimination_significance` (up to the rounding of the sums)."""
    (wb, sb, qb), (ws, ss, qs) = H.moments
    if not (ws > 0 and wb > 0):
        raise ValueError(f"need positive total signal and background weight, got {ws:g} and {wb:g}")
    mean_s, mean_b = ss / ws, sb / wb
    var = max(qs / ws - mean_s**2, 0.0) + max(qb / wb - mean_b**2, 0.0)
    return float(abs(mean_s - mean_b) / np.sqrt(var)) if var > 0 else 0.0


def cut_scan(H: ScoreHistograms, *, min_b_events: int = 10, rel_unc_b: float = 0.0) -> metrics.CutScan:
    """:func:`hepmva.metrics.cut_scan` at the bins' lower edges (``score >= edge``): the optimum among the
    cuts keeping at least ``min_b_events`` background MC events (the ``counts`` histogram)."""
    S_g, B_g, N_g, thr = H.groups()
    _check_totals(S_g, B_g)
    return metrics._scan(thr, np.cumsum(S_g), np.cumsum(B_g), np.cumsum(N_g), S_g.sum(), B_g.sum(),
                         min_b_events=min_b_events, rel_unc_b=rel_unc_b)


def rejection_curve(H: ScoreHistograms, *, eff_s: ArrayLike | None = None, min_b_events: int = 10,
                    n_bootstrap: int = 0, random_state: int | np.random.Generator | None = 0,
                    label: str = "") -> metrics.RejectionCurve:
    """:func:`hepmva.metrics.rejection_curve` from the histograms; the band resamples the binned counts
    (as :func:`auc_bootstrap`: O(bins) per replica)."""
    S_g, B_g, N_g, _ = H.groups()
    _check_totals(S_g, B_g)
    grid = np.linspace(0.0025, 1.0, 400) if eff_s is None else np.asarray(eff_s, dtype=np.float64)
    rej, eff_s_min = metrics._rejection_from_groups(S_g, B_g, N_g, grid, min_b_events)
    lo = hi = None
    if n_bootstrap >= 2:
        S_v, B_v = (v[(H.counts.view(flow=True)[0] + H.counts.view(flow=True)[1])[::-1] > 0]
                    for v in _class_sums(H.weighted, "variance"))
        rng = np.random.default_rng(random_state)
        reps = np.full((int(n_bootstrap), len(grid)), np.nan)
        for k in range(int(n_bootstrap)):
            S_r, B_r = _resample(S_g, S_v, rng), _resample(B_g, B_v, rng)
            if S_r.sum() > 0 and B_r.sum() > 0:
                reps[k] = metrics._rejection_on_grid(S_r, B_r, grid)
        with warnings.catch_warnings():  # grid points where every replica is empty: NaN, as intended
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanquantile(np.where(np.isinf(reps), np.nan, reps), [0.16, 0.84], axis=0)
        lo[grid < eff_s_min], hi[grid < eff_s_min] = np.nan, np.nan
        log.debug("rejection_curve %s: %d binned bootstrap replicas", label, n_bootstrap)
    return metrics.RejectionCurve(grid, rej, lo, hi, eff_s_min, metrics._auc_from_sums(S_g, B_g))


def overtraining_tests(train: ScoreHistograms, test: ScoreHistograms) -> dict[str, metrics.TwoSampleTest]:
    """:func:`hepmva.metrics.overtraining_tests` (KS and AD, signal and background) from the train and test
    histograms of one fold model: each bin is a group of tied scores; the Kish sizes come from the
    bins' sum w and sum w^2. The KS p-value is the asymptotic one (the exact path's, except that for
    equal weights it asks scipy, which is exact below 10 000 events per sample)."""
    if train.binning != test.binning:
        raise ValueError("overtraining_tests: train and test histograms of different binnings")
    out: dict[str, metrics.TwoSampleTest] = {}
    for name, label in (("signal", 1), ("background", 0)):
        W1, W2 = train.weighted.view(flow=True)["value"][label], test.weighted.view(flow=True)["value"][label]
        V1, V2 = train.weighted.view(flow=True)["variance"][label], test.weighted.view(flow=True)["variance"][label]
        for W, what in ((W1, "train"), (W2, "test")):
            if not W.sum() > 0:
                raise ValueError(f"total weight of the {what} {name} must be positive, got {W.sum():g}")
        filled = (train.counts.view(flow=True)[label] + test.counts.view(flow=True)[label]) > 0
        at_1, at_2 = W1[filled] / W1.sum(), W2[filled] / W2.sum()
        n1, n2 = W1.sum() ** 2 / V1.sum(), W2.sum() ** 2 / V2.sum()
        fractions = (np.cumsum(at_1) - at_1, at_1, np.cumsum(at_2) - at_2, at_2)
        out[f"ks_{name}"] = metrics._ks_from_fractions(*fractions, n1, n2)
        out[f"ad_{name}"] = metrics._ad_from_fractions(np.array([n1, n2]), *fractions)
    return out
