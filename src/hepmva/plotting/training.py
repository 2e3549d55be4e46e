"""Training plots: loss curves, the optimizer comparison, the learning-rate scan.

Every function takes arrays (or mappings of arrays), returns a :class:`matplotlib.figure.Figure`
and saves it to ``path`` when given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hepmva.plotting.style import CLASSIFIER_COLOURS, save

__all__ = ["STATUS_COLOURS", "plot_learning_rate_scan", "plot_loss_curves", "plot_optimizer_comparison"]

#: Colour per learning-rate-scan status.
STATUS_COLOURS = {"too slow": "#3f90da", "ok": "#2ca02c", "not converging": "#ffa90e",
                  "diverged": "#bd1f01"}


def _figure(ncols: int, width: float = 5.2, height: float = 4.3):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), layout="constrained",
                             squeeze=False)
    for ax in axes[0]:
        ax.tick_params(which="both", direction="in", top=True, right=True)
    return fig, list(axes[0])


def _draw_curves(ax, curves: Mapping[str, Mapping[str, Sequence[float]]], xkey: str) -> None:
    for k, (name, c) in enumerate(curves.items()):
        colour = CLASSIFIER_COLOURS[k % len(CLASSIFIER_COLOURS)]
        loss = np.asarray(c["loss"], dtype=float)
        x = np.asarray(c[xkey], dtype=float) if xkey != "epoch" else np.arange(1, loss.size + 1)
        if c.get("initial_loss") is not None:  # start every run at (0, J(theta_0))
            loss = np.concatenate([[float(c["initial_loss"])], loss])
            x = np.concatenate([[0.0], x]) if xkey != "epoch" else np.arange(0, loss.size)
        finite = np.isfinite(loss)
        label = name + (" (diverged)" if c.get("diverged") else "")
        ax.plot(x[finite], loss[finite], color=colour, lw=1.6, label=label)
        val = c.get("val_loss")
        if val is not None and len(val):
            val = np.asarray(val, dtype=float)
            fin = np.isfinite(val)
            xv = x[-val.size:] if c.get("initial_loss") is not None else x[: val.size]
            ax.plot(xv[fin], val[fin], color=colour, lw=1.2, ls="--")
        if c.get("diverged") and finite.any():
            i = np.flatnonzero(finite)[-1]
            ax.plot(x[i], loss[i], marker="X", ms=9, color=colour, ls="none")


def plot_loss_curves(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    x: str = "epoch",
    log_y: bool = True,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Training (solid) and validation (dashed) loss of several runs.

    Parameters
    ----------
    curves : mapping name -> {"loss": (n_epochs,), "val_loss": (n_epochs,) or absent,
             "time": (n_epochs,), "diverged": bool, "initial_loss": float or absent}
        With ``initial_loss`` the training curve starts at epoch 0 / time 0.
    x : {"epoch", "time"}
        Horizontal axis: epoch number or wall-clock seconds.
    log_y : bool
    title : str, optional
    path : path, optional

    Returns
    -------
    Figure
    """
    if x not in ("epoch", "time"):
        raise ValueError(f"x={x!r} must be 'epoch' or 'time'")
    fig, (ax,) = _figure(1, width=6.0)
    _draw_curves(ax, curves, x)
    ax.set_xlabel("epoch" if x == "epoch" else "wall time [s]")
    ax.set_ylabel("loss (solid: training, dashed: validation)")
    if log_y:
        ax.set_yscale("log")
    if title:
        ax.set_title(title, loc="left", fontsize="medium")
    ax.legend(fontsize="x-small", ncol=2)
    return save(fig, path)


def plot_optimizer_comparison(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    val_auc: Mapping[str, float] | None = None,
    title: str = "same network, same initial weights, same epoch budget",
    path: str | Path | None = None,
) -> Figure:
    """Loss against epoch (left) and against wall time (right) for every optimizer.

    Parameters
    ----------
    curves : mapping optimizer name -> {"loss", "val_loss", "time", "diverged", "initial_loss"}
        As in :func:`plot_loss_curves`.
    val_auc : mapping optimizer name -> float, optional
        Final validation AUC, added to the legend.
    title : str
    path : path, optional

    Returns
    -------
    Figure
    """
    if val_auc:
        curves = {(f"{k} (AUC {val_auc[k]:.3f})" if k in val_auc and np.isfinite(val_auc[k]) else k): v
                  for k, v in curves.items()}
    fig, (ax_e, ax_t) = _figure(2)
    _draw_curves(ax_e, curves, "epoch")
    _draw_curves(ax_t, curves, "time")
    ax_e.set_xlabel("epoch")
    ax_t.set_xlabel("wall time [s]")
    for ax in (ax_e, ax_t):
        ax.set_ylabel("loss (solid: training, dashed: validation)")
        ax.set_yscale("log")
    ax_e.legend(fontsize="x-small")
    fig.suptitle(title, fontsize="medium")
    return save(fig, path)


def plot_learning_rate_scan(
    learning_rates: Sequence[float],
    final_loss: Sequence[float],
    status: Sequence[str],
    *,
    initial_loss: float,
    loss_curves: Sequence[Sequence[float]] | None = None,
    best_learning_rate: float | None = None,
    optimizer: str = "",
    path: str | Path | None = None,
) -> Figure:
    """Final loss against learning rate, each point marked by its status; optional loss curves.

    Too small a rate makes slow progress, too large a rate fails to converge or diverges (the
    lecture's lesson): the regions are shaded and diverged runs drawn at the top edge.

    Parameters
    ----------
    learning_rates : (n_rates,)
    final_loss : (n_rates,)
        ``inf`` for diverged runs.
    status : (n_rates,) of {"too slow", "ok", "not converging", "diverged"}
    initial_loss : float
        Loss of the common initial weights (horizontal line).
    loss_curves : sequence of (n_epochs_i,), optional
        Training loss per epoch of each rate (right panel).
    best_learning_rate : float, optional
    optimizer : str
    path : path, optional

    Returns
    -------
    Figure
    """
    eta = np.asarray(learning_rates, dtype=float)
    loss = np.asarray(final_loss, dtype=float)
    if not (eta.size == loss.size == len(status)):
        raise ValueError("learning_rates, final_loss and status must have the same length")
    fig, axes = _figure(2 if loss_curves is not None else 1)
    ax = axes[0]
    finite = np.isfinite(loss)
    top = max(float(np.nanmax(loss[finite])) if finite.any() else initial_loss, initial_loss) * 1.6
    bottom = float(np.nanmin(loss[finite])) / 1.3 if finite.any() else initial_loss / 2
    # shade contiguous regions of equal status (between grid midpoints in log space)
    edges = np.sqrt(eta[:-1] * eta[1:])
    lo = np.concatenate([[eta[0] / 1.8], edges])
    hi = np.concatenate([edges, [eta[-1] * 1.8]])
    for s, a, b in zip(status, lo, hi):
        if s != "ok":
            ax.axvspan(a, b, color=STATUS_COLOURS.get(s, "grey"), alpha=0.12, lw=0)
    ax.plot(eta[finite], loss[finite], color="k", lw=1, zorder=1)
    for s in STATUS_COLOURS:
        sel = np.array([st == s for st in status])
        if not sel.any():
            continue
        y = np.where(np.isfinite(loss[sel]), loss[sel], top / 1.15)
        ax.scatter(eta[sel], y, color=STATUS_COLOURS[s], marker="X" if s == "diverged" else "o",
                   s=60, zorder=2, label=s)
    ax.axhline(initial_loss, color="grey", ls=":", label="initial loss")
    if best_learning_rate is not None:
        ax.axvline(best_learning_rate, color=STATUS_COLOURS["ok"], ls="--", lw=1,
                   label=f"best $\\eta$ = {best_learning_rate:.3g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo[0], hi[-1])
    ax.set_ylim(bottom, top)
    ax.set_xlabel(r"learning rate $\eta$")
    ax.set_ylabel("final training loss")
    ax.set_title(f"learning-rate scan{': ' + optimizer if optimizer else ''}", loc="left",
                 fontsize="medium")
    ax.legend(fontsize="x-small")
    if loss_curves is not None:
        import matplotlib as mpl

        ax2 = axes[1]
        cmap = mpl.colormaps["viridis"]
        # the y range follows the runs that did not diverge; exploded values sit at the top edge
        kept = [np.asarray(c, dtype=float) for c, st in zip(loss_curves, status) if st != "diverged"]
        kept_max = max([float(np.nanmax(c[np.isfinite(c)])) for c in kept if np.isfinite(c).any()]
                       + [initial_loss])
        ceiling = 3.0 * kept_max
        for k, (e, c, s) in enumerate(zip(eta, loss_curves, status)):
            c = np.asarray(c, dtype=float)
            c = np.where(np.isfinite(c), np.minimum(c, ceiling), ceiling)
            colour = cmap(k / max(len(eta) - 1, 1))
            ep = np.arange(1, c.size + 1)
            ax2.plot(ep, c, color=colour, lw=1.4, ls="--" if s == "diverged" else "-",
                     label=f"$\\eta$={e:.2g} ({s})")
            if s == "diverged" and c.size:
                ax2.plot(ep[-1], c[-1], marker="X", color=colour, ms=8)
        ax2.axhline(initial_loss, color="grey", ls=":")
        ax2.set_ylim(top=ceiling * 1.2)
        ax2.set_yscale("log")
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("training loss")
        ax2.legend(fontsize="xx-small", ncol=2)
    return save(fig, path)
