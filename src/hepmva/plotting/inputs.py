"""Weighted distributions of the input features and of classifier scores, signal vs background;
weighted correlation matrices of the features per class."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import hist
import matplotlib.ticker
import mplhep
import numpy as np
from matplotlib.figure import Figure

from hepmva.histograms import centred, feature_axis, flow_fractions, unit_area, weighted_hist
from hepmva.plotting.style import BACKGROUND, SIGNAL, PlotLabel, lumi_label, new_figure, save

__all__ = ["plot_distribution", "draw_distribution", "distribution_ylabel", "weighted_correlation", "plot_correlation",
           "CorrelationSums", "draw_correlation"]


def distribution_ylabel(xlabel: str, *, integer: bool, normalise: bool, width: float | None = None) -> str:
    """The y label of a histogram of a quantity labelled ``xlabel``: a density carries the inverse of
    the x unit (``[GeV]`` in the x label gives ``[1/GeV]``); an integer axis counts per value."""
    m = re.search(r"\[([^\]]+)\]\s*$", xlabel)
    unit = m.group(1) if m else None
    if integer:
        return "Fraction of events" if normalise else "Events"
    if normalise:
        return f"Normalised to unit area [1/{unit}]" if unit else "Normalised to unit area"
    if width is not None:
        return f"Events / {width:.3g} {unit}" if unit else f"Events / {width:.3g}"
    return "Events / bin"


def plot_distribution(
    values: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    *,
    xlabel: str,
    bins: int = 40,
    normalise: bool = True,
    integer: bool | None = None,
    missing: float | None = None,
    luminosity_pb: PlotLabel | float | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Weighted histograms of ``values`` for signal (``y == 1``) and background (``y == 0``),
    drawn with ``mplhep`` (errors sqrt(sum w^2); under/overflow marked at the axis ends and their
    fractions stated in the legend).

    Parameters
    ----------
    values, y, weight : ndarray of shape (n_events,)
    xlabel : str
        Axis label (with units in brackets, e.g. ``"$m_{jj}$ [GeV]"``; the y label follows them).
    bins : int
        Number of bins over the union of the classes' 0.5-99.5 % weighted ranges (continuous quantities).
    normalise : bool
        Draw unit-area shapes (True) or luminosity-normalised yields (False).
    integer : bool, optional
        One bin per integer value (default: when every value is an integer, see
        :func:`hepmva.histograms.is_integer_valued`).
    missing : float, optional
        The value standing for "not defined" (a feature's ``default``): events with exactly this
        value are left out of the histogram and their weighted fraction is stated in the legend.
    luminosity_pb : PlotLabel or float, optional
        The label on top (:func:`hepmva.plotting.style.lumi_label`).
    """
    values = np.asarray(values, dtype=np.float64)
    y, weight = np.asarray(y), np.asarray(weight, dtype=np.float64)
    undefined = values == missing if missing is not None else np.zeros(len(values), dtype=bool)
    defined = ~undefined
    if not defined.any():
        defined = np.ones(len(values), dtype=bool)  # nothing but the default: draw it as it is
        undefined = ~defined
    axis = feature_axis(values[defined], weight[defined], bins=bins, integer=integer, label=xlabel, groups=y[defined])
    hists, undefined_fraction = {}, {}
    for cls in (0, 1):
        m = y == cls
        if m.any():
            hists[cls] = weighted_hist(axis, values[m & defined], weight[m & defined])
            if undefined[m].any():
                undefined_fraction[cls] = float(weight[m & undefined].sum() / weight[m].sum())
    return draw_distribution(hists, undefined_fraction, xlabel=xlabel, missing=missing, normalise=normalise,
                             luminosity_pb=luminosity_pb, path=path)


def draw_distribution(hists: Mapping[int, hist.Hist], undefined_fraction: Mapping[int, float] | None = None, *,
                      xlabel: str, missing: float | None = None, normalise: bool = True,
                      luminosity_pb: PlotLabel | float | None = None, path: str | Path | None = None) -> Figure:
    """Draw weighted histograms of one quantity (one axis), background (class 0) filled and signal (class 1)
    as a line, as :func:`plot_distribution` does, from histograms filled elsewhere (e.g. part by part).

    ``undefined_fraction``: the weighted fraction of a class's events at the ``missing`` value (not in the
    histogram), stated in the legend for the classes it holds (those with such events).
    """
    axis = next(iter(hists.values())).axes[0]
    is_int = axis.traits.discrete
    fig, ax = new_figure()
    any_notes = False
    for cls, colour, name in ((0, BACKGROUND, "Background"), (1, SIGNAL, "Signal")):
        if cls not in hists:
            continue
        h = hists[cls]
        notes = []
        if cls in (undefined_fraction or {}):
            frac = undefined_fraction[cls]
            notes.append(f"{100 * frac:.3g} % undefined (= {missing:g}), not shown")
        under, over = flow_fractions(h)
        if under > 5e-4:
            notes.append(f"underflow {100 * under:.2g} %")
        if over > 5e-4:
            notes.append(f"overflow {100 * over:.2g} %")
        label = name + (f"\n{'; '.join(notes)}" if notes else "")
        any_notes = any_notes or bool(notes)
        drawn = centred(unit_area(h) if normalise else h)
        mplhep.histplot(drawn, ax=ax, yerr=True, histtype="fill" if cls == 0 else "step", color=colour,
                        alpha=0.35 if cls == 0 else 1.0, label=label, flow="hint", lw=1.5)
        if cls == 0:
            mplhep.histplot(drawn, ax=ax, yerr=True, histtype="step", color=colour, flow=None, lw=1.2)
    ax.set_xlabel(xlabel)
    width = None if is_int else float(axis.widths[0])
    ax.set_ylabel(distribution_ylabel(xlabel, integer=is_int, normalise=normalise, width=width))
    if is_int:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_ylim(0, ax.get_ylim()[1] * (1.5 if any_notes else 1.3))  # room for the legend above the data
    ax.legend(frameon=False, fontsize="small", loc="upper right")
    lumi_label(ax, luminosity_pb)
    return save(fig, path)


def weighted_correlation(X: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted Pearson correlation matrix of the columns of ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_events, n_features)
    weight : ndarray of shape (n_events,)
        Event weights (negative ones enter with their sign, as in every histogram).

    Returns
    -------
    ndarray of shape (n_features, n_features), entries in [-1, 1]; 0 where a feature is constant.
    """
    X = np.asarray(X, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    mean = w @ X / w.sum()
    D = X - mean
    return _correlation_of((D * w[:, None]).T @ D / w.sum())


def _correlation_of(cov: np.ndarray) -> np.ndarray:
    """The correlation matrix of a covariance matrix, 0 where a feature is constant, clipped to [-1, 1]."""
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(sd, sd)
    corr = np.where(np.outer(sd, sd) > 0, corr, 0.0)
    np.fill_diagonal(corr, np.where(sd > 0, 1.0, 0.0))
    return np.clip(corr, -1.0, 1.0)


def plot_correlation(
    X: np.ndarray,
    weight: np.ndarray,
    names: list[str],
    *,
    title: str,
    path: str | Path | None = None,
) -> Figure:
    """Weighted linear correlation matrix of the features (in %), as TMVA draws it per class."""
    return draw_correlation(weighted_correlation(X, weight), names, title=title, path=path)


class CorrelationSums:
    """The weighted correlation matrix of :func:`weighted_correlation`, accumulated chunk by chunk (memory: one
    chunk): weighted sums of the features and of their products, about the first chunk's weighted mean (no
    cancellation between large means)."""

    def __init__(self, n_features: int):
        self.shift: np.ndarray | None = None
        self.sw = 0.0
        self.swx = np.zeros(n_features)
        self.swxx = np.zeros((n_features, n_features))

    def add(self, X: np.ndarray, weight: np.ndarray) -> None:
        X, w = np.asarray(X, dtype=np.float64), np.asarray(weight, dtype=np.float64)
        if not len(w):
            return
        if self.shift is None:
            self.shift = w @ X / w.sum() if w.sum() != 0 else X.mean(axis=0)
        D = X - self.shift
        self.sw += float(w.sum())
        self.swx += w @ D
        self.swxx += (D * w[:, None]).T @ D

    def correlation(self) -> np.ndarray:
        """The correlation matrix so far, as :func:`weighted_correlation` of every chunk together."""
        m = self.swx / self.sw
        return _correlation_of(self.swxx / self.sw - np.outer(m, m))


def draw_correlation(corr: np.ndarray, names: list[str], *, title: str, path: str | Path | None = None) -> Figure:
    """Draw a correlation matrix (in %), as TMVA draws it per class."""
    n = len(names)
    fig, ax = new_figure(figsize=(1.0 + 0.55 * n, 0.6 + 0.5 * n), margins=None)  # rotated names, a colour bar
    ax.minorticks_off()
    im = ax.imshow(100 * corr, cmap="RdBu_r", vmin=-100, vmax=100)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{int(round(100 * corr[i, j]))}", ha="center", va="center", fontsize="x-small",
                    color="white" if abs(corr[i, j]) > 0.6 else "black")
    ax.set_xticks(range(n), names, rotation=60, ha="right", fontsize="small")
    ax.set_yticks(range(n), names, fontsize="small")
    ax.set_title(title, loc="left", fontsize="medium")
    fig.colorbar(im, ax=ax, label="Linear correlation [%]", shrink=0.8)
    return save(fig, path)
