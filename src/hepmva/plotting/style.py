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
           "Margins", "MARGINS", "fixed_layout", "text_width_inches", "lumi_label", "save"]

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


class Margins(NamedTuple):
    """Space around the axes of a figure, in inches, for matplotlib's default 10-pt font.

    The defaults hold tick labels of up to seven characters and the axis label on the left, the tick labels and
    a one-line axis label below, the experiment label (:func:`lumi_label`) or a title on top; ``hspace`` is the
    gap between stacked axes that share their x axis (the upper one has no tick labels).
    """

    left: float = 1.0
    right: float = 0.25
    bottom: float = 0.62
    top: float = 0.38
    hspace: float = 0.1


MARGINS = Margins()


def new_figure(figsize=(6.0, 4.5), *, nrows: int = 1, height_ratios=None,
               margins: Margins | None = MARGINS) -> tuple[Figure, matplotlib.axes.Axes]:
    """A figure with one axes (``nrows`` stacked ones sharing the x axis: then a tuple of them), HEP-style ticks on
    all sides.

    ``margins`` places the axes at once (:func:`fixed_layout`). ``margins=None`` uses matplotlib's constrained
    layout instead, which measures every text of the figure before drawing it: a second pass over all ticks, ~40 %
    of the time of saving a PNG. It is for figures whose decorations have no size known in advance (a colour bar,
    rotated category names).
    """
    layout = "constrained" if margins is None else None
    fig, axes = plt.subplots(nrows, 1, sharex=True, figsize=figsize, layout=layout, height_ratios=height_ratios,
                             squeeze=False)
    axes = tuple(axes[:, 0])
    for ax in axes:
        ax.tick_params(which="both", direction="in", top=True, right=True)
        ax.minorticks_on()
    if margins is not None:
        fixed_layout(fig, margins)
    return fig, (axes[0] if nrows == 1 else axes)


def fixed_layout(fig: Figure, margins: Margins = MARGINS) -> None:
    """Place the axes of ``fig`` with ``margins`` (inches) from the figure's edges (``Figure.subplots_adjust``)."""
    w, h = fig.get_size_inches()
    rows = fig.axes[0].get_subplotspec().get_gridspec().nrows if fig.axes else 1
    inner = h - margins.top - margins.bottom
    fig.subplots_adjust(left=margins.left / w, right=1 - margins.right / w, bottom=margins.bottom / h,
                        top=1 - margins.top / h, hspace=rows * margins.hspace / max(inner - (rows - 1) * margins.hspace,
                                                                                     1e-3))


def text_width_inches(fig: Figure, texts, fontsize="medium") -> float:
    """Width in inches of the widest of ``texts`` drawn in ``fig`` at ``fontsize`` (mathtext included): for a margin
    that holds labels of unknown length (e.g. feature names as tick labels) without a layout engine's pass."""
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    widths = [Text(0, 0, str(t), fontsize=fontsize, figure=fig).get_window_extent(renderer).width for t in texts]
    return max(widths, default=0.0) / fig.dpi


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
