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


def plot_spectator_sculpting(edges: Mapping[str, np.ndarray], counts: Mapping[str, np.ndarray], cuts: Sequence[float], *,
                             labels: Mapping[str, str] | None = None, classifier: str,
                             path: str | Path | None = None) -> Figure:
    """Each spectator's background distribution (unit area) in the score bins of equal background weight.

    A classifier that sculpts the spectator (e.g. a mass) shows distributions that change shape
    from the least to the most signal-like score bin.

    Parameters
    ----------
    edges : mapping of spectator -> ndarray of shape (bins + 1,)
    counts : mapping of spectator -> ndarray of shape (n_score_bins, bins)
        Weighted background counts of the spectator in each score bin.
    cuts : sequence of float, length n_score_bins - 1
        The score values between the score bins.
    """
    names = list(edges)
    n_bins = len(cuts) + 1
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.3), layout="constrained", squeeze=False)
    for ax, name in zip(axes[0], names):
        e = np.asarray(edges[name], dtype=float)
        for b in range(n_bins):
            h = np.asarray(counts[name][b], dtype=float)
            if not h.any():
                continue
            total = h.sum()
            lo_s = "min" if b == 0 else f"{cuts[b - 1]:.3g}"
            hi_s = "max" if b == n_bins - 1 else f"{cuts[b]:.3g}"
            ax.stairs(h / (total * np.diff(e)) if total > 0 else h, e, color=CLASSIFIER_COLOURS[b % len(CLASSIFIER_COLOURS)],
                      label=f"score {lo_s} .. {hi_s}")
        ax.set_xlabel((labels or {}).get(name, name))
        ax.set_ylabel("Background, unit area")
        ax.tick_params(which="both", direction="in", top=True, right=True)
        ax.legend(fontsize="small", title=f"{classifier}, bins of equal weight", title_fontsize="small")
        lumi_label(ax, None)
    return save(fig, path)
