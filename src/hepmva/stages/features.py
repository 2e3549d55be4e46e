"""The features stage (``workflow/rules/features.smk``): ntuples in, one features table per sample; input plots.

- :func:`build_features`  read one sample's ROOT files chunk by chunk, select, define the features,
                          weight and fold every event -> ``results/features/{sample}.parquet``
- :func:`plot_inputs`     the weighted signal-vs-background distribution of every feature and the
                          correlation matrices
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hepmva import io
from hepmva.config import schema_default
from hepmva.datasets import load_feature_tables
from hepmva.feature_table import compile_program, evaluate_chunk, sample_scale
from hepmva.logs import Progress
from hepmva.plotting.inputs import plot_correlation, plot_distribution
from hepmva.plotting.style import PlotLabel
from hepmva.samples import assign_folds

__all__ = ["build_features", "plot_inputs"]

log = logging.getLogger(__name__)


def build_features(
    sample: dict,
    files: Sequence[str],
    *,
    features: Sequence[dict],
    luminosity_pb: float,
    folds: int,
    event_id: str = schema_default("event_id"),
    selection: str | None = None,
    truth_llr: str | None = None,
    spectators: Sequence[dict] = (),
    step_size: int | str = schema_default("reading.step_size"),
    define: dict | None = None,
    aliases: dict | None = None,
    output: str | Path,
) -> dict:
    """Read one sample's ROOT files chunk by chunk and write its features table.

    Parameters
    ----------
    sample : dict
        The sample's config block (name, label, tree, weight, xsec_pb, sum_weights, selection).
    files : sequence of str
        Input files (globs allowed).
    features : sequence of dict
        Feature definitions (name, expr, optional default).
    luminosity_pb : float
        Integrated luminosity in pb^-1.
    folds : int
        Number of folds.
    event_id, selection, truth_llr : str
        Event-id branch, global selection expression, optional exact-llr branch.
    spectators : sequence of dict
        Variables carried into the table but never trained on (name, expr, optional default).
    step_size : int or str
        Chunk size for uproot.
    define, aliases : dict, optional
        Named definitions and branch aliases (config ``define:``/``aliases:``) the expressions use.
    output : path
        Parquet file to write (atomically).

    Returns
    -------
    dict : counts and yield of the sample (the table itself is written chunk by chunk to ``output``,
        so memory stays bounded by the chunk size).
    """
    name = sample["name"]
    files = io.expand_files(files)
    tree = sample.get("tree", "Events")
    program = compile_program(features, event_id=event_id, selections=(selection, sample.get("selection")),
                              weights={"weight": sample.get("weight")}, spectators=spectators, truth_llr=truth_llr,
                              define=define, aliases=aliases)
    label = 1 if sample["label"] == "signal" else 0
    log.info("sample %s: %d file(s), tree %s, reading %d branches", name, len(files), tree, len(program.branches))
    xsec, sumw, scale = sample_scale(sample, files, luminosity_pb, program.weights[0][1], step_size)
    log.info("sample %s: xsec %.4g pb, sum of weights %.6g", name, xsec, sumw)

    n_read = n_selected = 0
    total_yield = 0.0
    t0 = time.perf_counter()
    progress = Progress(log, f"sample {name}: features", total=_count_entries(files, tree), unit="events")
    with io.ParquetChunkWriter(output) as writer:
        for file_index, path in enumerate(files):
            for entry_start, chunk in io.iterate_tree(path, tree, program.branches, step_size=step_size):
                n_read += len(chunk)
                progress.update(len(chunk))  # a line every 10 s: events/s and time left
                cols = evaluate_chunk(program, chunk, path=path, entry_start=entry_start)
                ids = cols["event"]
                if not len(ids):
                    continue
                cols["weight"] = cols["weight"] * scale
                cols.update(sample=np.full(len(ids), name), label=np.full(len(ids), label, dtype=np.int8),
                            fold=assign_folds(ids, folds), file_index=np.full(len(ids), file_index, dtype=np.int32))
                writer.write(pd.DataFrame(cols)[_table_columns(program)])
                n_selected += len(ids)
                total_yield += float(cols["weight"].sum())
            log.info("sample %s: %s done, %d events read so far (%.1f s)", name, path, n_read,
                     time.perf_counter() - t0)
        if n_read == 0:
            raise io.InputError(f"sample '{name}': the input tree '{tree}' has no entries in {', '.join(files)}")
        if n_selected == 0:
            raise io.InputError(f"sample '{name}': the selection leaves no events ({n_read} read)")
        if not total_yield > 0:
            raise io.InputError(
                f"sample '{name}': the weights of its {n_selected} selected events sum to {total_yield:.6g} "
                f"(in {', '.join(files)}); a sample needs a positive total weight: check its 'weight' "
                f"({sample.get('weight') or 'none'}), 'xsec_pb' and 'sum_weights'"
            )
    log.info("sample %s: %d of %d events selected, expected yield %.4g", name, n_selected, n_read, total_yield)
    return {"sample": name, "n_read": n_read, "n_selected": n_selected, "yield": total_yield,
            "xsec_pb": xsec, "sum_weights": sumw}


def _count_entries(files: Sequence[str], tree: str) -> int:
    """Entries of ``tree`` in all ``files`` (read from the headers only), for the progress line."""
    total = 0
    for path in files:
        t = io.open_tree(path, tree)
        try:
            total += int(t.num_entries)
        finally:
            t.file.close()
    return total


def _table_columns(program) -> list[str]:
    """Column order of a features table: features, bookkeeping, then spectators and truth."""
    cols = [n for n, _, _ in program.features]
    cols += ["sample", "label", "weight", "event", "fold", "file_index", "entry"]
    cols += [n for n, _, _ in program.spectators] + (["truth_llr"] if program.truth_llr is not None else [])
    return cols


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
