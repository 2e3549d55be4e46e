"""ROC curves as background rejection (1 / eff_B, log scale) against signal efficiency."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hepmva.plotting.style import CLASSIFIER_COLOURS, lumi_label, new_figure, save

__all__ = ["plot_roc"]


def plot_roc(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, float]],
    *,
    limit: tuple[np.ndarray, np.ndarray, float] | None = None,
    luminosity_pb: float | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Background rejection vs signal efficiency for several classifiers.

    Parameters
    ----------
    curves : mapping name -> (eff_s, eff_b, auc)
        One ROC per classifier (arrays of shape (n_points,)).
    limit : (eff_s, eff_b, auc), optional
        The Neyman-Pearson curve of the true likelihood ratio, drawn dashed black.
    luminosity_pb : float, optional
        For the luminosity tag.
    path : path, optional
        Where to save.
    """
    fig, ax = new_figure()
    if limit is not None:
        _draw(ax, limit[0], limit[1], f"Neyman-Pearson limit (AUC {limit[2]:.4f})", "black", "--")
    for i, (name, (eff_s, eff_b, auc)) in enumerate(curves.items()):
        _draw(ax, eff_s, eff_b, f"{name} (AUC {auc:.4f})", CLASSIFIER_COLOURS[i % len(CLASSIFIER_COLOURS)], "-")
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel("Signal efficiency")
    ax.set_ylabel("Background rejection 1 / $\\epsilon_B$")
    ax.legend(fontsize="small", frameon=False)
    lumi_label(ax, luminosity_pb)
    return save(fig, path)


def _draw(ax, eff_s, eff_b, label, colour, style) -> None:
    eff_s, eff_b = np.asarray(eff_s), np.asarray(eff_b)
    ok = eff_b > 0
    ax.plot(eff_s[ok], 1.0 / eff_b[ok], style, color=colour, label=label, lw=1.5)
