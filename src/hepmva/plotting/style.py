"""HEP plotting conventions shared by every plot: colours and line styles, the experiment-neutral
label (tag, luminosity and centre-of-mass energy from the config, laid out as ``mplhep``'s), saving."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.font_manager  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = ["SIGNAL", "BACKGROUND", "CLASSIFIER_COLOURS", "LINE_STYLES", "PlotLabel", "curve_style", "new_figure",
           "lumi_label", "save"]

SIGNAL = "#3f90da"      # blue (signal)
BACKGROUND = "#e42536"  # red (background)
#: Petroff's 10-colour palette (distinguishable, colour-blind safe), cycled together with the line styles
CLASSIFIER_COLOURS = ["#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6", "#a96b59", "#e76300", "#b9ac70",
                      "#717581", "#92dadd"]
LINE_STYLES = ["-", "--", "-.", ":"]


class PlotLabel(NamedTuple):
    """What the label on top of a plot says: ``<experiment> <text>`` on the left, the luminosity and
    the centre-of-mass energy on the right (each only when known: nothing is assumed).

    Attributes
    ----------
    luminosity_pb : float or None
        Integrated luminosity in pb^-1 (printed in fb^-1).
    sqrt_s_tev : float or None
        Centre-of-mass energy in TeV.
    experiment : str
        The bold tag (default "hepmva": no experiment's name is borrowed).
    text : str
        The italic text beside it (e.g. "Simulation", "Internal").
    """

    luminosity_pb: float | None = None
    sqrt_s_tev: float | None = None
    experiment: str = "hepmva"
    text: str = "Simulation"

    @classmethod
    def from_config(cls, luminosity_pb: float | None, plotting: dict | None = None) -> PlotLabel:
        """From the config's ``luminosity_pb`` and ``plotting`` block (keys ``sqrt_s_tev``,
        ``experiment``, ``label_text``)."""
        p = plotting or {}
        return cls(luminosity_pb, p.get("sqrt_s_tev"), p.get("experiment", "hepmva"), p.get("label_text", "Simulation"))


def curve_style(i: int) -> dict:
    """Colour and line style of the ``i``-th curve: both cycle (10 colours, 4 styles), so neighbours
    differ in both and no two of the first 20 curves look alike (nor in greyscale by style alone)."""
    return {"color": CLASSIFIER_COLOURS[i % len(CLASSIFIER_COLOURS)], "ls": LINE_STYLES[i % len(LINE_STYLES)]}


def new_figure(figsize=(6.0, 4.5)) -> tuple[Figure, matplotlib.axes.Axes]:
    """A figure with one axes, HEP-style ticks on all sides."""
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    ax.tick_params(which="both", direction="in", top=True, right=True)
    ax.minorticks_on()
    return fig, ax


def lumi_label(ax, label: PlotLabel | float | None = None) -> None:
    """Write the experiment-neutral tag, the luminosity and sqrt(s) on top of ``ax``, as ``mplhep.label.exp_label``
    (``loc=0``) lays them out: the bold tag (1.3 x the font size) and the italic text above the axes on the left,
    ``<lumi> fb^-1 (<com> TeV)`` (0.77 x) on the right.

    ``label`` is a :class:`PlotLabel` or a bare luminosity in pb^-1 (then no energy is printed). The italic
    text is anchored to the tag's right edge and placed when the figure is drawn, so writing the label costs
    no extra draw (``exp_label`` draws the whole figure once to measure the tag: as much as saving the PNG).
    """
    if not isinstance(label, PlotLabel):
        label = PlotLabel(luminosity_pb=label)
    size = matplotlib.font_manager.FontProperties(size="medium").get_size_in_points()
    lumi = f"{label.luminosity_pb / 1000:g} $\\mathrm{{fb^{{-1}}}}$" if label.luminosity_pb else ""
    com = f"({label.sqrt_s_tev:g} TeV)" if label.sqrt_s_tev else ""
    above = {"xycoords": "axes fraction", "textcoords": "offset points", "va": "bottom"}
    tag = ax.annotate(label.experiment, xy=(0.0, 1.0), xytext=(0.0, 2.0), ha="left", fontweight="bold",
                      fontsize=1.3 * size, **above)
    if label.text:
        ax.annotate(label.text, xy=(1.0, 0.0), xycoords=tag, xytext=(0.3 * size, 0.0), textcoords="offset points",
                    ha="left", va="bottom", fontstyle="italic", fontsize=size)
    right = " ".join(part for part in (lumi, com) if part)
    if right:
        ax.annotate(right, xy=(1.0, 1.0), xytext=(0.0, 2.0), ha="right", fontsize=0.77 * size, **above)


def save(fig: Figure, path: str | Path | None) -> Figure:
    """Save ``fig`` to ``path`` (if given), close it, and return it."""
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return fig
