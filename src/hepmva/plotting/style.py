"""HEP plotting conventions shared by every plot: colours, labels, the luminosity tag, saving."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = ["SIGNAL", "BACKGROUND", "CLASSIFIER_COLOURS", "new_figure", "lumi_label", "save"]

SIGNAL = "#3f90da"      # blue (signal)
BACKGROUND = "#e42536"  # red (background)
CLASSIFIER_COLOURS = ["#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6", "#a96b59", "#e76300", "#b9ac70",
                      "#717581", "#92dadd"]


def new_figure(figsize=(6.0, 4.5)) -> tuple[Figure, "matplotlib.axes.Axes"]:
    """A figure with one axes, HEP-style ticks on all sides."""
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    ax.tick_params(which="both", direction="in", top=True, right=True)
    ax.minorticks_on()
    return fig, ax


def lumi_label(ax, luminosity_pb: float | None, text: str = "hepmva simulation") -> None:
    """Write the experiment-style tag and the luminosity on top of ``ax``."""
    ax.set_title(text, loc="left", fontsize="medium", fontstyle="italic")
    if luminosity_pb:
        ax.set_title(f"{luminosity_pb / 1000:g} fb$^{{-1}}$ (13 TeV)", loc="right", fontsize="medium")


def save(fig: Figure, path: str | Path | None) -> Figure:
    """Save ``fig`` to ``path`` (if given), close it, and return it."""
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return fig
