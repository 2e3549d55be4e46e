"""ROC curves as background rejection (1 / eff_B, log scale) against signal efficiency, with a lower
panel of each curve's rejection divided by the Neyman-Pearson limit's where the truth is known."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hepmva.metrics import RejectionCurve
from hepmva.plotting.style import MARGINS, PlotLabel, curve_style, fixed_layout, lumi_label, new_figure, save

__all__ = ["plot_roc"]


def plot_roc(
    curves: Mapping[str, RejectionCurve],
    *,
    limit: RejectionCurve | None = None,
    max_curves: int | None = None,
    min_b_events: int | None = None,
    luminosity_pb: PlotLabel | float | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Background rejection vs signal efficiency for several classifiers.

    The ``max_curves`` classifiers with the largest AUC are drawn (the others are named in a note),
    each with its own colour and line style and, when it has one, its bootstrap band; the legend
    sits outside the axes. Every curve stops where fewer than ``min_b_events`` background MC events
    remain (:func:`hepmva.metrics.rejection_curve`). With the Neyman-Pearson ``limit``, a lower
    panel shows each curve's rejection divided by the limit's at the same signal efficiency.

    Parameters
    ----------
    curves : mapping name -> :class:`hepmva.metrics.RejectionCurve`
        All on the same signal-efficiency grid.
    limit : RejectionCurve, optional
        The Neyman-Pearson curve of the true likelihood ratio (black, dashed).
    max_curves : int, optional
        How many classifiers (best AUC first) to draw; default all.
    min_b_events : int, optional
        The background-MC threshold the curves were cut at (stated on the plot).
    luminosity_pb : PlotLabel or float, optional
        The label on top.
    path : path, optional
        Where to save.
    """
    ranked = sorted(curves.items(), key=lambda kv: -kv[1].auc)
    shown = ranked if max_curves is None else ranked[: int(max_curves)]
    hidden = ranked[len(shown):]
    if limit is not None:
        fig, (ax, rax) = new_figure(figsize=(9.0, 6.5), nrows=2, height_ratios=(3, 1.3))
    else:
        fig, ax = new_figure(figsize=(9.0, 5.0))
        rax = None
    if limit is not None:
        ax.plot(limit.eff_s, limit.rejection, "--", color="black", lw=1.5,
                label=f"Neyman-Pearson limit (AUC {limit.auc:.4f})")
        rax.axhline(1.0, color="black", ls="--", lw=1.0)
    for i, (name, c) in enumerate(shown):
        st = curve_style(i)
        ax.plot(c.eff_s, c.rejection, color=st["color"], ls=st["ls"], lw=1.5, label=f"{name} (AUC {c.auc:.4f})")
        if c.lo is not None:
            ax.fill_between(c.eff_s, c.lo, c.hi, color=st["color"], alpha=0.2, lw=0)
        if rax is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = c.rejection / limit.rejection
            rax.plot(c.eff_s, ratio, color=st["color"], ls=st["ls"], lw=1.2)
            if c.lo is not None:
                with np.errstate(invalid="ignore", divide="ignore"):
                    rax.fill_between(c.eff_s, c.lo / limit.rejection, c.hi / limit.rejection, color=st["color"],
                                     alpha=0.2, lw=0)
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_ylabel("Background rejection 1 / $\\epsilon_B$")
    bottom = rax if rax is not None else ax
    bottom.set_xlabel("Signal efficiency $\\epsilon_S$")
    if rax is not None:
        rax.set_ylabel("Ratio to the\nNP limit")
        rax.set_ylim(0, 1.15)
    notes = []
    if min_b_events:
        notes.append(f"curves stop where < {int(min_b_events)} background MC events pass")
    if any(c.lo is not None for _, c in shown):
        notes.append("bands: 68 % bootstrap interval")
    if hidden:
        notes.append(f"{len(hidden)} more classifier(s) (lower AUC) not drawn: "
                     + ", ".join(n for n, _ in hidden[:6]) + (", ..." if len(hidden) > 6 else ""))
    handles, labels = ax.get_legend_handles_labels()
    legend = fig.legend(handles, labels, loc="upper left", fontsize="small", frameon=False,
                        title="\n".join(_wrap(n, 38) for n in notes) if notes else None, title_fontsize="x-small",
                        alignment="left")
    # the legend right of the axes: the right margin is its width (measured, not laid out by an engine)
    width = legend.get_window_extent(fig.canvas.get_renderer()).width / fig.dpi
    margins = MARGINS._replace(right=width + 0.15, left=1.05)
    fixed_layout(fig, margins)
    w, h = fig.get_size_inches()
    legend.set_bbox_to_anchor((1 - (width + 0.1) / w, 1 - margins.top / h), transform=fig.transFigure)
    lumi_label(ax, luminosity_pb)
    return save(fig, path)


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width))
