"""Weighted distributions of the input features and of classifier scores, signal vs background;
weighted correlation matrices of the features per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hepmva.plotting.style import BACKGROUND, SIGNAL, lumi_label, new_figure, save

__all__ = ["plot_distribution", "weighted_correlation", "plot_correlation"]


def plot_distribution(
    values: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    *,
    xlabel: str,
    bins: int = 40,
    normalise: bool = True,
    luminosity_pb: float | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Weighted histograms of ``values`` for signal (``y == 1``) and background (``y == 0``).

    Parameters
    ----------
    values, y, weight : ndarray of shape (n_events,)
    xlabel : str
        Axis label (with units).
    bins : int
        Number of bins over the 0.5-99.5 % weighted range of both classes.
    normalise : bool
        Draw unit-area shapes (True) or luminosity-normalised yields (False).
    """
    values = np.asarray(values, dtype=np.float64)
    lo, hi = np.percentile(values, [0.5, 99.5])
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    fig, ax = new_figure()
    for cls, colour, name in ((0, BACKGROUND, "Background"), (1, SIGNAL, "Signal")):
        m = np.asarray(y) == cls
        v = np.clip(values[m], lo, hi)
        h, _ = np.histogram(v, edges, weights=weight[m])
        h2, _ = np.histogram(v, edges, weights=np.asarray(weight[m]) ** 2)
        norm = h.sum() * np.diff(edges) if normalise and h.sum() != 0 else np.ones_like(h)
        ax.stairs(h / norm, edges, color=colour, label=name, lw=1.5, fill=(cls == 0), alpha=0.35 if cls == 0 else 1)
        centres = 0.5 * (edges[1:] + edges[:-1])
        ax.errorbar(centres, h / norm, yerr=np.sqrt(h2) / np.abs(norm), fmt="none", ecolor=colour, lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Normalised to unit area" if normalise else "Events / bin")
    ax.legend(frameon=False)
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
    cov = (D * w[:, None]).T @ D / w.sum()
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
    corr = weighted_correlation(X, weight)
    n = len(names)
    fig, ax = new_figure(figsize=(1.0 + 0.55 * n, 0.6 + 0.5 * n))
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
