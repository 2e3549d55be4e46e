"""The input plots (``workflow/rules/inputs.smk``): every feature's distribution and the correlation matrices.

- :func:`plot_inputs`  the weighted signal-vs-background distribution of every feature and the weighted
                       correlation matrices of the features, from the features datasets, part by part
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import hist
import numpy as np

from hepmva.datasets import BLOCK_EVENTS, iter_feature_blocks
from hepmva.histograms import MAX_INTEGER_BINS, feature_axis
from hepmva.plotting.inputs import CorrelationSums, draw_correlation, draw_distribution
from hepmva.plotting.style import PlotLabel
from hepmva.samples import ExactSum
from hepmva.training_set import random_events

__all__ = ["plot_inputs", "AXIS_EVENTS"]

log = logging.getLogger(__name__)

#: events (a uniform random subsample) whose weighted quantiles fix the range of a continuous feature's axis
AXIS_EVENTS = 200_000
#: the event_keys stream of that subsample
_AXIS_STREAM = 1_000_011


def plot_inputs(feature_tables: Sequence[str | Path], features: Sequence[dict], *, luminosity_pb: float,
                directory: str | Path, correlation_paths: dict[str, str | Path] | None = None,
                plotting: dict | None = None, block_events: int = BLOCK_EVENTS) -> dict:
    """One weighted signal-vs-background plot per feature, ``{directory}/{feature}.png``, and the
    weighted correlation matrices of the features for signal and for background.

    A feature's ``default`` (its value where it is undefined, e.g. ``mjj`` with fewer than two jets)
    is left out of its plot, with the fraction of such events stated; integer-valued features get one
    bin per value; ``plotting`` is the config block (label, ``bins``).

    Memory is bounded by a block of ``block_events`` events (and the subsample), whatever the dataset and its
    events per part (:func:`hepmva.datasets.iter_feature_blocks`): one pass finds each feature's exact range and
    whether it is integer-valued, a uniform random subsample of at most :data:`AXIS_EVENTS` (200k) events
    (:func:`hepmva.training_set.random_events`) gives a continuous axis its weighted 0.5-99.5 % range,
    and a last pass fills the histograms and the correlation sums with every event. Below
    :data:`AXIS_EVENTS` events the subsample is every event: the plots are those of the whole table.

    Returns
    -------
    dict : ``hists`` ({feature: {class: hist.Hist}}), ``undefined`` ({feature: {class: weighted fraction}}),
        ``correlation`` ({class: matrix}).
    """
    label, bins = PlotLabel.from_config(luminosity_pb, plotting), int((plotting or {}).get("bins", 40))
    names = [f["name"] for f in features]
    missing = {f["name"]: f.get("default") for f in features}
    ranges = _feature_ranges(feature_tables, names, missing, block_events)
    continuous = [n for n in names if not ranges[n].integer]
    sample = (random_events(feature_tables, continuous, AXIS_EVENTS, seed=0, stream=_AXIS_STREAM)
              if continuous else None)
    axes = {}
    for f in features:
        n, r = f["name"], ranges[f["name"]]
        if r.integer:
            axes[n] = hist.axis.Integer(int(r.lo), int(r.hi) + 1, name="x", label=f.get("label", n),
                                        underflow=True, overflow=True)
        else:
            x = sample[n].to_numpy(dtype=np.float64)
            keep = x != missing[n] if (missing[n] is not None and r.any_defined) else np.ones(len(x), dtype=bool)
            axes[n] = feature_axis(x[keep], sample["weight"].to_numpy()[keep], bins=bins, integer=False,
                                   label=f.get("label", n), groups=sample["label"].to_numpy()[keep])
    hists = {n: {c: hist.Hist(axes[n], storage=hist.storage.Weight()) for c in (0, 1)} for n in names}
    undefined = {n: {c: ExactSum() for c in (0, 1)} for n in names}  # exact: the same whatever the blocks
    has_undefined = {n: {c: False for c in (0, 1)} for n in names}
    total = {c: ExactSum() for c in (0, 1)}
    present = {c: False for c in (0, 1)}
    corr = {c: CorrelationSums(len(names)) for c in (0, 1)}
    for _, _, frame in iter_feature_blocks(feature_tables, columns=names, block_events=block_events):
        y, w = frame["label"].to_numpy(), frame["weight"].to_numpy(dtype=np.float64)
        X = frame[names].to_numpy(dtype=np.float64)
        for c in (0, 1):
            m = y == c
            if not m.any():
                continue
            present[c] = True
            total[c].add(w[m])
            corr[c].add(X[m], w[m])
            for j, n in enumerate(names):
                x = X[m, j]
                und = x == missing[n] if (missing[n] is not None and ranges[n].any_defined) else np.zeros(len(x), bool)
                if und.any():
                    has_undefined[n][c] = True
                    undefined[n][c].add(w[m][und])
                xd = x[~und]
                if not np.all(np.isfinite(xd)):
                    raise ValueError(f"input plots: {int(np.sum(~np.isfinite(xd)))} non-finite value(s) of "
                                     f"feature '{n}'")
                hists[n][c].fill(xd.astype(np.int64) if axes[n].traits.discrete else xd, weight=w[m][~und])
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = {"hists": {n: {c: hists[n][c] for c in (0, 1) if present[c]} for n in names},
           "undefined": {n: {c: undefined[n][c].value / total[c].value for c in (0, 1)
                             if present[c] and has_undefined[n][c]}
                         for n in names},
           "correlation": {c: corr[c].correlation() for c in (0, 1) if present[c]}}
    for f in features:
        n = f["name"]
        draw_distribution(out["hists"][n], out["undefined"][n], xlabel=f.get("label", n), missing=missing[n],
                          luminosity_pb=label, path=directory / f"{n}.png")
    for c, what in ((1, "signal"), (0, "background")):
        if correlation_paths and what in correlation_paths and c in out["correlation"]:
            draw_correlation(out["correlation"][c], names, title=f"Correlations, {what}", path=correlation_paths[what])
    log.info("input plots: %d features; continuous axes from %s events", len(names),
             "no" if sample is None else f"{len(sample)}")
    return out


class _Range:
    """A feature's defined values seen so far: their range, whether all are integers, whether there are any."""

    def __init__(self):
        self.lo, self.hi, self.all_integer, self.any_defined = np.inf, -np.inf, True, False

    def add(self, x: np.ndarray) -> None:
        x = x[np.isfinite(x)]
        if len(x):
            self.lo, self.hi = min(self.lo, float(x.min())), max(self.hi, float(x.max()))
            self.all_integer = self.all_integer and bool(np.all(x == np.round(x)))

    @property
    def integer(self) -> bool:
        """Integer-valued as :func:`hepmva.histograms.is_integer_valued` says, over every defined value."""
        return self.all_integer and np.isfinite(self.lo) and self.hi - self.lo + 1 <= MAX_INTEGER_BINS


def _feature_ranges(feature_tables, names, missing, block_events: int) -> dict[str, _Range]:
    """One pass: each feature's defined values' exact range and integer-ness (a feature with nothing but its
    default is drawn with the default as its values, as :func:`hepmva.plotting.inputs.plot_distribution`)."""
    defined, everything = {n: _Range() for n in names}, {n: _Range() for n in names}
    for _, _, frame in iter_feature_blocks(feature_tables, columns=names, block_events=block_events):
        for n in names:
            x = frame[n].to_numpy(dtype=np.float64)
            everything[n].add(x)
            d = x[x != missing[n]] if missing[n] is not None else x
            if len(d):
                defined[n].any_defined = True
            defined[n].add(d)
    out = {}
    for n in names:
        if defined[n].any_defined:
            out[n] = defined[n]
        else:
            out[n] = everything[n]
            out[n].any_defined = False
    return out
