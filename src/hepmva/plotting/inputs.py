"""Weighted distributions of the input features and of classifier scores, signal vs background."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hepmva.plotting.style import BACKGROUND, SIGNAL, lumi_label, new_figure, save

__all__ = ["plot_distribution"]


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
