"""Weighted histograms of event quantities through scikit-hep ``hist`` (no matplotlib here).

Every histogram has ``Weight`` storage (sum of w and sum of w^2 per bin, so the per-bin uncertainty
is ``sqrt(sum w^2)``, negative weights included) and under/overflow bins, so nothing outside the
plotted range is lost or silently folded into an edge bin. Integer-valued quantities (jet or lepton
multiplicities) get an integer axis: one bin per value, centred on it.

The functions take arrays and return ``hist.Hist`` objects; the plotting modules draw them with
``mplhep`` and other stages (templates) can write them to ROOT with uproot as they are.

Example
-------
>>> ax = feature_axis(met, weight, label="MET [GeV]")
>>> h = weighted_hist(ax, met[y == 1], weight[y == 1])
>>> shape = unit_area(h)            # density: divided by the total weight (flow included) and bin width
"""

from __future__ import annotations

from collections.abc import Sequence

import hist
import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["weighted_quantile", "is_integer_valued", "feature_axis", "common_axis", "weighted_hist", "unit_area",
           "flow_fractions", "centred"]

#: an integer-valued quantity with more distinct values than this is binned like a continuous one
MAX_INTEGER_BINS = 60


def weighted_quantile(values: ArrayLike, q: ArrayLike, weights: ArrayLike | None = None) -> NDArray[np.float64]:
    """Quantiles of ``values`` with event weights (``|w|``: a negative weight still marks where events are).

    Parameters
    ----------
    values : array-like of shape (n,)
    q : array-like of quantiles in [0, 1]
    weights : array-like of shape (n,), optional

    Returns
    -------
    ndarray of the shape of ``q``: the inverse of the weighted empirical CDF (mid-point rule, as
    ``np.percentile(..., method="linear")`` for unit weights up to the end points).
    """
    x = np.asarray(values, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.abs(np.asarray(weights, dtype=np.float64))
    q = np.asarray(q, dtype=np.float64)
    if x.size == 0:
        raise ValueError("weighted_quantile: no values")
    if np.any((q < 0) | (q > 1)):
        raise ValueError(f"weighted_quantile: quantiles must be in [0, 1], got {q}")
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    total = w.sum()
    if not total > 0:
        return np.quantile(x, q)
    cdf = (np.cumsum(w) - 0.5 * w) / total
    return np.interp(q, cdf, x)


def is_integer_valued(values: ArrayLike, *, max_bins: int = MAX_INTEGER_BINS) -> bool:
    """True when every finite value is an integer and they span at most ``max_bins`` values."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0 or not np.all(x == np.round(x)):
        return False
    return x.max() - x.min() + 1 <= max_bins


def feature_axis(
    values: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    bins: int = 40,
    integer: bool | None = None,
    value_range: tuple[float, float] | None = None,
    quantiles: tuple[float, float] = (0.005, 0.995),
    label: str = "",
    name: str = "x",
    groups: ArrayLike | None = None,
) -> hist.axis.Regular | hist.axis.Integer:
    """The axis on which to histogram ``values``: integer bins for an integer-valued quantity,
    else ``bins`` equal-width bins over the weighted ``quantiles`` range (or ``value_range``).

    Both kinds carry underflow and overflow bins.

    Parameters
    ----------
    values : array-like of shape (n,)
        The values to be histogrammed (all classes together, so that every class shares the axis).
    weights : array-like of shape (n,), optional
        Event weights for the range (their absolute values).
    bins : int, default 40
        Number of bins of a continuous axis.
    integer : bool, optional
        Force (True) or forbid (False) an integer axis; default: :func:`is_integer_valued`.
    value_range : (lo, hi), optional
        Fixed range of a continuous axis.
    quantiles : (q_lo, q_hi), default (0.005, 0.995)
        Weighted quantiles bounding a continuous axis when ``value_range`` is not given.
    label : str
        Axis label (with units).
    name : str
        Axis name.
    groups : array-like of shape (n,), optional
        Class of each value (e.g. the signal/background label): the range is then the union of the
        per-class quantile ranges, so a class that is a small part of the weight is not cut off.
    """
    x_all = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(x_all)
    x = x_all[finite]
    if x.size == 0:
        raise ValueError(f"feature_axis: no finite values for '{label or name}'")
    if integer is None:
        integer = is_integer_valued(x)
    if integer:
        lo, hi = (int(np.floor(v)) for v in (value_range or (x.min(), x.max())))
        return hist.axis.Integer(lo, hi + 1, name=name, label=label, underflow=True, overflow=True)
    if value_range is not None:
        lo, hi = map(float, value_range)
    else:
        w = None if weights is None else np.asarray(weights, dtype=np.float64)[finite]
        g = np.zeros(x.size) if groups is None else np.asarray(groups)[finite]
        ranges = [weighted_quantile(x[g == k], quantiles, None if w is None else w[g == k]) for k in np.unique(g)]
        lo, hi = float(min(r[0] for r in ranges)), float(max(r[1] for r in ranges))
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    return hist.axis.Regular(int(bins), lo, hi, name=name, label=label, underflow=True, overflow=True)


def weighted_hist(axis: hist.axis.Regular | hist.axis.Integer, values: ArrayLike,
                  weights: ArrayLike | None = None) -> hist.Hist:
    """A ``Weight``-storage histogram of ``values`` on ``axis`` (values outside go to the flow bins).

    Non-finite values are rejected: a NaN has no bin, and dropping it silently would change a yield.
    """
    x = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"weighted_hist: {int(np.sum(~np.isfinite(x)))} non-finite value(s) for "
                         f"'{axis.label or axis.name}'")
    h = hist.Hist(axis, storage=hist.storage.Weight())
    if axis.traits.discrete:
        if not np.all(x == np.round(x)):
            raise ValueError(f"weighted_hist: non-integer values on the integer axis '{axis.label or axis.name}'")
        x = x.astype(np.int64)
    h.fill(x, weight=np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64))
    return h


def unit_area(h: hist.Hist) -> hist.Hist:
    """``h`` divided by its total weight (flow bins included) and by the bin widths: a density whose
    in-range area is the fraction of the weight inside the axis range. An empty or net-negative
    histogram is returned unscaled."""
    total = float(h.sum(flow=True).value)
    if not total > 0:
        return h.copy()
    widths = h.axes[0].widths
    out = h.copy()
    view = out.view(flow=True)
    scale = np.concatenate(([1.0 / total], 1.0 / (total * widths), [1.0 / total]))  # flow bins: fractions
    view.value = view.value * scale
    view.variance = view.variance * scale**2
    return out


def centred(h: hist.Hist) -> hist.Hist:
    """``h`` itself for a continuous axis; for an integer axis, a copy on a regular axis whose bins are
    centred on the integers (edges at half-integers), which is how an integer histogram is drawn."""
    ax = h.axes[0]
    if not ax.traits.discrete:
        return h
    lo, hi = int(ax.edges[0]), int(ax.edges[-1])
    out = hist.Hist(hist.axis.Regular(hi - lo, lo - 0.5, hi - 0.5, name=ax.name, label=ax.label, underflow=True,
                                      overflow=True), storage=hist.storage.Weight())
    out.view(flow=True)[...] = h.view(flow=True)
    return out


def flow_fractions(h: hist.Hist) -> tuple[float, float]:
    """Fractions of the total weight in the underflow and the overflow bin."""
    v = h.view(flow=True).value
    total = float(v.sum())
    if not total > 0:
        return 0.0, 0.0
    return float(v[0] / total), float(v[-1] / total)


def common_axis(samples: Sequence[ArrayLike], weights: Sequence[ArrayLike] | None = None, **kwargs):
    """:func:`feature_axis` over several arrays together (e.g. train and test scores)."""
    x = np.concatenate([np.asarray(s, dtype=np.float64) for s in samples])
    w = None if weights is None else np.concatenate([np.asarray(w_, dtype=np.float64) for w_ in weights])
    return feature_axis(x, w, **kwargs)
