"""The input plots (``workflow/rules/inputs.smk``): every feature's distribution and the correlation matrices.

- :func:`plot_inputs`  the weighted signal-vs-background distribution of every feature and the weighted
                       correlation matrices of the features, from the features datasets
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hepmva.datasets import load_feature_tables
from hepmva.plotting.inputs import plot_correlation, plot_distribution
from hepmva.plotting.style import PlotLabel

__all__ = ["plot_inputs"]


def plot_inputs(feature_tables: Sequence[str | Path], features: Sequence[dict], *, luminosity_pb: float,
                directory: str | Path, correlation_paths: dict[str, str | Path] | None = None,
                plotting: dict | None = None) -> None:
    """One weighted signal-vs-background plot per feature, ``{directory}/{feature}.png``, and the
    weighted correlation matrices of the features for signal and for background.

    A feature's ``default`` (its value where it is undefined, e.g. ``mjj`` with fewer than two jets)
    is left out of its plot, with the fraction of such events stated; integer-valued features get one
    bin per value; ``plotting`` is the config block (label, ``bins``).
    """
    label, bins = PlotLabel.from_config(luminosity_pb, plotting), int((plotting or {}).get("bins", 40))
    df = load_feature_tables(feature_tables, [f["name"] for f in features], columns=())
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    y, w = df["label"].to_numpy(), df["weight"].to_numpy()
    for f in features:
        plot_distribution(df[f["name"]].to_numpy(), y, w, xlabel=f.get("label", f["name"]), bins=bins,
                          missing=f.get("default"), luminosity_pb=label, path=directory / f"{f['name']}.png")
    names = [f["name"] for f in features]
    for cls, label in ((1, "signal"), (0, "background")):
        if correlation_paths and label in correlation_paths:
            m = y == cls
            plot_correlation(df.loc[m, names].to_numpy(), w[m], names, title=f"Correlations, {label}",
                             path=correlation_paths[label])
