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
from hepmva.features import compile_expression, evaluate_selection, make_definitions
from hepmva.logs import Progress
from hepmva.plotting.inputs import plot_correlation, plot_distribution
from hepmva.plotting.style import PlotLabel
from hepmva.samples import assign_folds, physics_weights

__all__ = ["build_features", "plot_inputs"]

log = logging.getLogger(__name__)


def _resolve_number(spec, files: list[str], what: str) -> float:
    if isinstance(spec, (int, float)):
        return float(spec)
    if what == "xsec_pb":
        return io.read_metadata_value(files, spec["tree"], spec["branch"])
    return io.read_metadata_sum(files, spec["tree"], spec["branch"])


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
    defs = make_definitions(define, aliases)
    feats = [(f["name"], compile_expression(f["expr"], defs), f.get("default")) for f in features]
    cuts = [compile_expression(s, defs) for s in (selection, sample.get("selection")) if s]
    weight_expr = compile_expression(sample["weight"], defs) if sample.get("weight") else None
    id_expr = compile_expression(event_id, defs)
    llr_expr = compile_expression(truth_llr, defs) if truth_llr else None
    exprs = [e for _, e, _ in feats] + cuts + [e for e in (weight_expr, id_expr, llr_expr) if e is not None]
    branches = sorted(set().union(*(e.branches for e in exprs)))

    xsec = _resolve_number(sample["xsec_pb"], files, "xsec_pb")
    sumw_spec = sample["sum_weights"]
    sumw = None if sumw_spec == "auto" else _resolve_number(sumw_spec, files, "sum_weights")
    label = 1 if sample["label"] == "signal" else 0
    log.info("sample %s: %d file(s), tree %s, xsec %.4g pb, reading %d branches", name, len(files), tree, xsec,
             len(branches))

    if sumw is None:  # "auto": a first, cheap pass over the weight branches only
        sumw = _auto_sum_of_weights(name, files, tree, weight_expr, step_size)
    scale = physics_weights(np.ones(1), xsec, luminosity_pb, sumw)[0]

    n_read = n_selected = 0
    total_yield = 0.0
    t0 = time.perf_counter()
    progress = Progress(log, f"sample {name}: features", total=_count_entries(files, tree), unit="events")
    with io.ParquetChunkWriter(output) as writer:
        for file_index, path in enumerate(files):
            for entry_start, chunk in io.iterate_tree(path, tree, branches, step_size=step_size):
                n = len(chunk)
                n_read += n
                progress.update(n)  # a line every 10 s: events/s and time left
                mask = np.ones(n, dtype=bool)
                cache: dict = {}  # definitions computed once per chunk, shared by the expressions
                for cut in cuts:
                    mask &= _selection(cut, chunk, path, cache)
                if not mask.any():
                    continue
                sel = chunk[mask]
                cache = {}
                cols: dict[str, np.ndarray] = {}
                for fname, expr, default in feats:
                    values = _evaluate(expr, sel, path, f"feature '{fname}'", default=default, cache=cache)
                    bad = ~np.isfinite(values)
                    if bad.any():
                        raise io.InputError(
                            f"{path}: feature '{fname}' = '{expr.text}' is NaN/inf in {int(bad.sum())} event(s) "
                            f"(first at entry {entry_start + int(np.flatnonzero(mask)[np.argmax(bad)])})"
                        )
                    cols[fname] = values
                gen_w = (np.ones(len(sel)) if weight_expr is None
                         else _evaluate(weight_expr, sel, path, "weight", cache=cache))
                if not np.all(np.isfinite(gen_w)):
                    raise io.InputError(f"{path}: weight '{weight_expr.text}' is NaN/inf in some events")
                ids = np.asarray(_evaluate(id_expr, sel, path, "event id", raw=True)).astype(np.uint64)
                cols["sample"] = np.full(len(ids), name)
                cols["label"] = np.full(len(ids), label, dtype=np.int8)
                cols["weight"] = gen_w * scale
                cols["event"] = ids
                cols["fold"] = assign_folds(ids, folds)
                cols["file_index"] = np.full(len(ids), file_index, dtype=np.int32)
                cols["entry"] = entry_start + np.flatnonzero(mask).astype(np.int64)
                if llr_expr is not None:
                    cols["truth_llr"] = _evaluate(llr_expr, sel, path, "truth_llr")
                writer.write(pd.DataFrame(cols))
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


def _sum_of_weights(files: Sequence[str], tree: str, weight_expr, step_size) -> tuple[float, int]:
    """Sum of the generator weights of every event in ``files`` (before any selection), and the event count."""
    total, n = 0.0, 0
    for path in files:
        branches = sorted(weight_expr.branches) if weight_expr is not None else []
        if not branches:
            t = io.open_tree(path, tree)
            total += t.num_entries
            n += t.num_entries
            t.file.close()
            continue
        for _, chunk in io.iterate_tree(path, tree, branches, step_size=step_size):
            total += float(np.sum(_evaluate(weight_expr, chunk, path, "weight")))
            n += len(chunk)
    return total, n


def _auto_sum_of_weights(name: str, files: Sequence[str], tree: str, weight_expr, step_size) -> float:
    """``sum_weights: auto``: the sum of the weights of the events *in the files*, checked and logged."""
    sumw, n = _sum_of_weights(files, tree, weight_expr, step_size)
    where = ", ".join(files)
    if n == 0:
        raise io.InputError(
            f"sample '{name}': sum_weights: auto, but the tree '{tree}' has no entries in {where}; "
            "give sum_weights as a number or {tree: Runs, branch: genEventSumw}"
        )
    if not (np.isfinite(sumw) and sumw > 0):
        raise io.InputError(
            f"sample '{name}': sum_weights: auto sums the weights of the {n} events in {where} to {sumw:.6g}; "
            "it must be > 0: give sum_weights as a number or a metadata reference"
        )
    log.info("sample %s: sum_weights: auto = %.8g (the weights of the %d events in the files; if the files hold "
             "only selected events this is NOT the generated sum: give sum_weights explicitly)", name, sumw, n)
    return sumw


def _evaluate(expr, arrays, path: str, what: str, *, default=None, raw: bool = False, cache=None) -> np.ndarray:
    try:
        out = expr.evaluate(arrays, default=default, cache=cache)
    except ValueError as exc:
        raise io.InputError(f"{path}: {what}: {exc}") from None
    return out if raw else np.asarray(out, dtype=np.float64)


def _selection(expr, arrays, path: str, cache=None) -> np.ndarray:
    try:
        return evaluate_selection(expr, arrays, cache=cache)
    except ValueError as exc:
        raise io.InputError(f"{path}: selection: {exc}") from None


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
    df = io.read_tables(feature_tables)
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
