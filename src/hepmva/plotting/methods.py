"""Plots of the training-methods comparison: loss and AUC against loss evaluations and wall time."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from hepmva.plotting.style import CLASSIFIER_COLOURS, lumi_label, new_figure, save

__all__ = ["plot_learning_curves", "plot_training_methods"]

_LABELS = {
    "nfev": "Loss evaluations (passes over the training set)",
    "time": "Wall time [s]",
    "loss": "Training loss $J(\\theta)$",
    "val_auc": "Validation AUC",
}
_NAMES = {"gd": "gradient descent (momentum)", "bfgs": "BFGS", "lbfgs": "L-BFGS",
          "ga": "genetic algorithm", "newton": "Newton"}


def _style(ax) -> None:
    ax.tick_params(which="both", direction="in", top=True, right=True)


def plot_learning_curves(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    xlabel: str,
    ylabel: str,
    logx: bool = True,
    logy: bool = False,
    path: str | Path | None = None,
) -> Figure:
    """One line per method: ``y`` against ``x``.

    Parameters
    ----------
    curves : mapping name -> (x, y)
        Arrays of shape (n_points,) each (e.g. cumulative evaluations and objective, from a
        :class:`hepmva.optim.minimize.History`).
    xlabel, ylabel : str
        Axis labels.
    logx, logy : bool
        Logarithmic axes (non-positive values are dropped on a log axis).
    path : path, optional
        Where to save.

    Returns
    -------
    Figure
        The figure (closed).
    """
    fig, ax = new_figure()
    for i, (name, (x, y)) in enumerate(curves.items()):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        if logx:
            ok &= x > 0
        if logy:
            ok &= y > 0
        ax.plot(x[ok], y[ok], "-", lw=1.5, color=CLASSIFIER_COLOURS[i % len(CLASSIFIER_COLOURS)],
                label=_NAMES.get(name, name))
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small", frameon=False)
    lumi_label(ax, None)
    return save(fig, path)


def plot_training_methods(
    curves: Mapping[str, Mapping[str, np.ndarray]],
    *,
    budget: int | None = None,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """2 x 2 panel: validation AUC and training loss against evaluations and against wall time.

    Parameters
    ----------
    curves : mapping method -> {"nfev", "time", "loss", "val_auc"}
        Arrays of shape (n_points,) per method (``TrainingMethodsResult.to_dict()["curves"]``).
    budget : int, optional
        The common evaluation budget, marked by a vertical line.
    title : str, optional
        Figure title.
    path : path, optional
        Where to save.

    Returns
    -------
    Figure
        The figure (closed).
    """
    fig, axes = plt.subplots(2, 2, figsize=(10.0, 7.5), layout="constrained")
    for row, quantity in enumerate(("val_auc", "loss")):
        for col, xkey in enumerate(("nfev", "time")):
            ax = axes[row, col]
            _style(ax)
            for i, (name, c) in enumerate(curves.items()):
                x = np.asarray(c[xkey], dtype=float)
                y = np.asarray(c[quantity], dtype=float)
                ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
                ax.plot(x[ok], y[ok], "-", lw=1.5, label=_NAMES.get(name, name),
                        color=CLASSIFIER_COLOURS[i % len(CLASSIFIER_COLOURS)])
            ax.set_xscale("log")
            if quantity == "loss":
                ax.set_yscale("log")
            if budget is not None and xkey == "nfev":
                ax.axvline(budget, color="grey", ls=":", lw=1)
            ax.set_xlabel(_LABELS[xkey])
            ax.set_ylabel(_LABELS[quantity])
    axes[0, 0].legend(fontsize="small", frameon=False)
    fig.suptitle(title or "Same MLP, same initial weights, equal budget of loss evaluations",
                 fontsize="medium")
    return save(fig, path)
