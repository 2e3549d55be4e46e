"""Plots of the apply stage: the stacked score templates with data, the spectator sculpting check."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import mplhep
import numpy as np
from matplotlib.figure import Figure

from hepmva.plotting.style import CLASSIFIER_COLOURS, lumi_label, new_figure, save

__all__ = ["plot_stack", "plot_spectator_sculpting"]


def plot_stack(edges: np.ndarray, stack: Mapping[str, np.ndarray], data: np.ndarray | None = None, *,
               xlabel: str, luminosity_fb: float | None = None, signal: Sequence[str] = (),
               path: str | Path | None = None) -> Figure:
    """Stacked simulated processes (backgrounds first, signal on top), data as points with sqrt(N) errors.

    Parameters
    ----------
    edges : ndarray of shape (n_bins + 1,)
    stack : mapping of process -> ndarray of shape (n_bins,)
        Weighted, luminosity-normalised yields, in stacking order (bottom first).
    data : ndarray of shape (n_bins,), optional
        Observed counts.
    """
    fig, ax = new_figure()
    names = list(stack)
    colours = ["#3f90da" if n in signal else CLASSIFIER_COLOURS[1 + i % (len(CLASSIFIER_COLOURS) - 1)]
               for i, n in enumerate(names)]
    if names:
        mplhep.histplot([np.asarray(stack[n]) for n in names], bins=edges, stack=True, histtype="fill",
                        label=names, color=colours, ax=ax)
    if data is not None:
        data = np.asarray(data, dtype=float)
        mplhep.histplot(data, bins=edges, yerr=np.sqrt(data), histtype="errorbar", color="k", label="data", ax=ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Events / bin")
    ax.set_yscale("log")
    total = np.sum([stack[n] for n in names], axis=0) if names else np.zeros(len(edges) - 1)
    top = max(float(np.max(total)), float(np.max(data)) if data is not None else 0.0, 1e-3)
    positive = np.concatenate([total[total > 0], data[data > 0] if data is not None else []])
    ax.set_ylim(max(float(positive.min()) * 0.5, top * 1e-6) if len(positive) else 1e-3, top * 20)
    ax.legend(loc="upper right", fontsize="small", ncols=2)
    lumi_label(ax, luminosity_fb * 1000.0 if luminosity_fb else None)
    return save(fig, path)


def plot_spectator_sculpting(score: np.ndarray, spectators: Mapping[str, np.ndarray], weight: np.ndarray, *,
                             labels: Mapping[str, str] | None = None, classifier: str, n_bins: int = 4,
                             bins: int = 30, path: str | Path | None = None) -> Figure:
    """Each spectator's background distribution (unit area) in ``n_bins`` score bins of equal background weight.

    A classifier that sculpts the spectator (e.g. a mass) shows distributions that change shape
    from the least to the most signal-like score bin.
    """
    score, weight = np.asarray(score, dtype=float), np.asarray(weight, dtype=float)
    order = np.argsort(score, kind="stable")
    cum = np.cumsum(np.abs(weight[order]))
    cuts = [score[order][min(np.searchsorted(cum, q * cum[-1]), len(score) - 1)] for q in
            np.linspace(0, 1, n_bins + 1)[1:-1]]
    which = np.searchsorted(np.asarray(cuts), score, side="right")
    names = list(spectators)
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.3), layout="constrained", squeeze=False)
    for ax, name in zip(axes[0], names):
        x = np.asarray(spectators[name], dtype=float)
        lo, hi = np.quantile(x, [0.005, 0.995]) if len(x) else (0.0, 1.0)
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
        for b in range(n_bins):
            m = which == b
            if not m.any():
                continue
            h, _ = np.histogram(np.clip(x[m], edges[0], edges[-1]), edges, weights=weight[m])
            total = h.sum()
            lo_s = "min" if b == 0 else f"{cuts[b - 1]:.3g}"
            hi_s = "max" if b == n_bins - 1 else f"{cuts[b]:.3g}"
            ax.stairs(h / (total * np.diff(edges)) if total > 0 else h, edges, color=CLASSIFIER_COLOURS[b % len(CLASSIFIER_COLOURS)],
                      label=f"score {lo_s} .. {hi_s}")
        ax.set_xlabel((labels or {}).get(name, name))
        ax.set_ylabel("Background, unit area")
        ax.tick_params(which="both", direction="in", top=True, right=True)
        ax.legend(fontsize="small", title=f"{classifier}, bins of equal weight", title_fontsize="small")
        lumi_label(ax, None)
    return save(fig, path)
