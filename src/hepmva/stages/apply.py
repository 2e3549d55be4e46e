"""Apply a study's model bundle to new ntuples: data, other simulation, systematic variations.

Three entry points, one engine (:func:`apply_files`, chunked: memory bounded by ``step_size``):

- the workflow stage (``workflow/rules/apply.smk``): :func:`apply_sample` per configured sample
  (nominal + tree variations + weight variations) -> friend trees and a compact parquet table;
  :func:`make_templates` per classifier -> ROOT TH1 templates per process x variation (sum of w^2) and a
  stacked plot with data; :func:`plot_sculpting` -> spectators in bins of score for the background;
- the command line ``hepmva apply MODEL_DIR FILES... -o OUT`` (:mod:`hepmva.cli`): :func:`apply_files`;
- Python: :func:`hepmva.bundle.load_bundle` then ``bundle.score(arrays)``; :func:`score_files` (files in, a
  table of scores out) or :func:`apply_files` (friend trees).

Friend tree per input file (entry-aligned with the input tree, ``AddFriend``-able), tree ``hepmva``:
``event`` (uint64, every entry), ``selected`` (bool), ``fold`` (int8, -1 if not selected),
``score_<classifier>`` (NaN if not selected), the spectators, and for simulation ``weight`` (physics
weight, luminosity-normalised) plus ``weight_<variation>`` per weight variation.

Template names (a binned-fit tool maps them by pattern, e.g. cabinetry / pyhf / combine):
``<process>`` nominal, ``<process>__<variation>`` per variation, ``data_obs`` the sum of the data samples.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import hist
import numpy as np
import pandas as pd
import uproot

from hepmva import bundle as bundles
from hepmva import io, score_parts
from hepmva.bundle import ModelBundle, load_bundle, study_block, write_classifier_bundle
from hepmva.feature_table import check_branches, evaluate_chunk, sample_scale
from hepmva.logs import Progress
from hepmva.plotting.apply import plot_spectator_sculpting, plot_stack

__all__ = ["apply_files", "score_files", "apply_sample", "process_name", "template_name", "make_templates", "plot_sculpting",
           "write_bundles", "write_all_bundles", "write_study_bundle"]

log = logging.getLogger(__name__)


def apply_files(bundle: ModelBundle | str | Path, files: Sequence[str], output_dir: str | Path, *,
                tree: str = "Events", friend_tree: str = "hepmva", fold_mode: str = "fold",
                classifiers: Sequence[str] | None = None, trained_as: str | None = None,
                selection: str | None = None, weights: Mapping[str, str | None] | None = None, scale: float = 1.0,
                step_size: int | str = "50 MB", table_writer: io.ParquetChunkWriter | None = None,
                table_extra: Mapping[str, object] | None = None) -> list[dict]:
    """Score every file with the bundle's classifiers; one friend tree per file in ``output_dir``.

    Parameters
    ----------
    bundle : ModelBundle or path
        A loaded bundle, or its directory (``results/models`` or ``results/models/{clf}``).
    files : sequence of str
        Input ROOT files (globs allowed).
    fold_mode : {"fold", "mean"}
        ``fold``: the event-id fold model (forced when ``trained_as`` is set); ``mean``: the fold average.
    trained_as : str, optional
        The training sample these files are (more of): its selection is applied too.
    selection : str, optional
        Extra selection, AND-ed with the study's.
    weights : mapping of str to str or None
        Friend/table weight column -> generator-weight expression; None = no weight columns (data).
    scale : float
        Physics-weight factor ``xsec * L / sum_w`` multiplying every weight column.
    table_writer : ParquetChunkWriter, optional
        Also append the selected events (scores, spectators, weights, bookkeeping) to this table,
        with the constant columns ``table_extra``.

    Returns
    -------
    list of dict : one record per file (input, friend, tree, entries, selected, seconds).
    """
    bundle, program, names, fold_mode = _prepare(bundle, classifiers, trained_as, fold_mode, selection, weights)
    dtypes = _friend_dtypes(bundle, program, names)
    files = io.expand_files(files)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    log.info("apply: %d file(s), classifiers %s, fold mode %s%s", len(files), ", ".join(names), fold_mode,
             f" (trained as '{trained_as}')" if trained_as else "")
    columns = [f"score_{n}" for n in names] + bundle.spectator_names + [c for c, _ in program.weights]
    records = []
    for index, path in enumerate(files):
        out = output_dir / f"{index}_{Path(path).name}"
        t0 = time.perf_counter()
        n_entries = n_selected = 0
        progress = Progress(log, f"apply: {path}", unit="entries")  # a line every 10 s on long files
        with io.TreeChunkWriter(out, friend_tree, dtypes) as writer:
            for friend, rows, entries in _friend_chunks(bundle, program, names, fold_mode, path, tree, scale,
                                                        step_size):
                if table_writer is not None and len(rows):
                    table_writer.write(_table_block(friend, rows, index, entries, table_extra, columns))
                writer.write(friend)
                n_entries += len(friend["event"])
                n_selected += len(rows)
                progress.update(len(friend["event"]))
        seconds = time.perf_counter() - t0
        log.info("apply: %s -> %s: %d entries (%d selected) in %.1f s, %.0f events/s", path, out, n_entries,
                 n_selected, seconds, n_entries / max(seconds, 1e-9))
        records.append({"input": str(path), "friend": str(out), "tree": friend_tree, "entries": n_entries,
                        "selected": n_selected, "seconds": seconds})
    (output_dir / "friends.json").write_text(json.dumps(records, indent=1) + "\n")
    return records


def score_files(bundle: ModelBundle | str | Path, files: Sequence[str], *, tree: str = "Events",
                fold_mode: str = "fold", classifiers: Sequence[str] | None = None, trained_as: str | None = None,
                selection: str | None = None, step_size: int | str = "50 MB"):
    """Score the selected events of ``files`` and return them as a table (for notebooks: files in, scores out).

    The same reading and fold choice as :func:`apply_files`, without writing anything.

    Returns
    -------
    pandas.DataFrame : one row per selected event: ``file_index``, ``entry``, ``event``, ``fold``,
        ``score_<classifier>`` and the spectators.
    """
    bundle, program, names, fold_mode = _prepare(bundle, classifiers, trained_as, fold_mode, selection, None)
    columns = [f"score_{n}" for n in names] + bundle.spectator_names
    blocks = [_table_block(friend, rows, index, entries, None, columns)
              for index, path in enumerate(io.expand_files(files))
              for friend, rows, entries in _friend_chunks(bundle, program, names, fold_mode, path, tree, 1.0, step_size)]
    return pd.concat(blocks, ignore_index=True) if blocks else pd.DataFrame(columns=["file_index", "entry", "event",
                                                                                      "fold", *columns])


def _prepare(bundle, classifiers, trained_as, fold_mode, selection, weights):
    """The loaded bundle, its reading program, the classifier names and the fold mode of one apply."""
    if not isinstance(bundle, ModelBundle):
        bundle = load_bundle(bundle, classifiers)
    names = bundle.classifier_names(classifiers)
    program = bundle.program(selections=[selection], weights=weights or {}, trained_as=trained_as)
    return bundle, program, names, "fold" if trained_as is not None else fold_mode


def _friend_dtypes(bundle: ModelBundle, program, names: Sequence[str]) -> dict:
    dtypes = {"event": np.uint64, "selected": np.bool_, "fold": np.int8}
    dtypes |= {f"score_{n}": np.float64 for n in names}
    return dtypes | {n: np.float64 for n in bundle.spectator_names + [c for c, _ in program.weights]}


def _friend_chunks(bundle: ModelBundle, program, names, fold_mode: str, path: str, tree: str, scale: float,
                   step_size):
    """Per chunk of ``path``: the friend-tree columns (every entry), the selected rows and their entries."""
    check_branches(program, path, tree)
    dtypes = _friend_dtypes(bundle, program, names)
    for entry_start, chunk in io.iterate_tree(path, tree, program.branches, step_size=step_size):
        n = len(chunk)
        cols = evaluate_chunk(program, chunk, path=path, entry_start=entry_start)
        friend = {k: np.full(n, np.nan) for k in dtypes}
        friend["event"] = _event_ids(program, chunk, path)
        friend["selected"] = np.zeros(n, dtype=bool)
        friend["fold"] = np.full(n, -1, dtype=np.int8)
        rows, ids = cols["entry"] - entry_start, cols["event"]
        friend["selected"][rows] = True
        friend["fold"][rows] = bundle.fold_of(ids)
        if len(ids):
            X = np.column_stack([cols[f] for f in bundle.feature_names])
            for name, s in bundle.score_features(X, ids, fold_mode=fold_mode, classifiers=names).items():
                friend[f"score_{name}"][rows] = s
            for col in bundle.spectator_names:
                friend[col][rows] = cols[col]
            for col, _ in program.weights:
                friend[col][rows] = cols[col] * scale
        yield friend, rows, cols["entry"]


def _event_ids(program, chunk, path: str) -> np.ndarray:
    try:
        return np.asarray(program.event_id.evaluate(chunk)).astype(np.uint64)
    except ValueError as exc:
        raise io.InputError(f"{path}: event id: {exc}") from None


def _table_block(friend: dict, rows: np.ndarray, file_index: int, entries: np.ndarray, extra, columns):
    block = {k: np.full(len(rows), v) for k, v in (extra or {}).items()}
    block |= {"file_index": np.full(len(rows), file_index, dtype=np.int32), "entry": entries,
              "event": friend["event"][rows], "fold": friend["fold"][rows]}
    return pd.DataFrame(block | {k: friend[k][rows] for k in columns})


# ------------------------------------------------------------------------------------------ the stage
def process_name(sample: Mapping) -> str:
    """The template process of an apply sample: ``process``, or its name with '-' and '.' as '_'."""
    return sample.get("process") or sample["name"].replace("-", "_").replace(".", "_")


def apply_sample(bundle_dir: str | Path, sample: Mapping, *, features: Sequence[Mapping], luminosity_pb: float,
                 define: Mapping[str, str] | None = None, aliases: Mapping[str, str] | None = None,
                 classifiers: Sequence[str] | None = None, fold_mode: str = "fold", friend_tree: str = "hepmva",
                 step_size: int | str = "50 MB", table: str | Path, friends_dir: str | Path,
                 summary: str | Path | None = None) -> dict:
    """Score one configured apply sample: its nominal files, every tree variation and weight variation.

    Writes ``friends_dir/{variation}/{i}_{file}.root`` (+ ``friends.json``) and the table ``table``
    (parquet, selected events: variation, process, kind, label, scores, spectators, weights).
    ``features`` (with ``define`` / ``aliases``, the config's) must be the bundle's; a difference fails
    naming the feature.

    Returns
    -------
    dict : per variation the events, selected events and weighted yield (also written to ``summary``,
        JSON, when given).
    """
    bundle = load_bundle(bundle_dir, classifiers)
    bundle.check_features(features, where="config key 'features'", define=define, aliases=aliases)
    name, is_mc = sample["name"], sample["kind"] == "mc"
    mode = sample.get("fold_mode") or fold_mode
    nominal_weights = {"weight": sample.get("weight")} if is_mc else None
    if is_mc:
        nominal_weights |= {f"weight_{v}": e for v, e in sample.get("weight_variations", {}).items()}
    passes = [("nominal", sample["files"], sample.get("tree", "Events"), nominal_weights)]
    for var, spec in sample.get("variations", {}).items():
        passes.append((var, spec["files"], spec.get("tree", sample.get("tree", "Events")), {"weight": sample.get("weight")}))
    result = {"sample": name, "kind": sample["kind"], "process": process_name(sample), "fold_mode": mode,
              "classifiers": bundle.classifier_names(classifiers), "variations": {}}
    extra = {"sample": name, "process": process_name(sample), "kind": sample["kind"], "label": sample.get("label", "background")}
    # every table block has every column: tree variations carry NaN weight variations
    missing_cols = [f"weight_{v}" for v in sample.get("weight_variations", {})]
    with io.ParquetChunkWriter(table) as writer:
        for var, patterns, tree, weights in passes:
            files = io.expand_files(patterns)
            scale = 1.0
            if is_mc:
                weight = bundle.program(weights={"weight": sample.get("weight")}).weights[0][1]
                xsec, sumw, scale = sample_scale(sample | {"tree": tree}, files, luminosity_pb, weight, step_size)
                log.info("sample %s [%s]: xsec %.4g pb, sum of weights %.6g", name, var, xsec, sumw)
            sink = _TableSink(writer, missing_cols if var != "nominal" else [])
            records = apply_files(bundle, files, Path(friends_dir) / var, tree=tree, friend_tree=friend_tree,
                                  fold_mode=mode, classifiers=classifiers, trained_as=sample.get("trained_as"),
                                  selection=sample.get("selection"), weights=weights, scale=scale,
                                  step_size=step_size, table_writer=sink, table_extra=extra | {"variation": var})
            result["variations"][var] = {"entries": sum(r["entries"] for r in records),
                                          "selected": sum(r["selected"] for r in records),
                                          "yield": sink.yield_ if is_mc else float(sink.n)}
            log.info("sample %s [%s]: %d of %d entries selected, yield %.4g", name, var,
                     result["variations"][var]["selected"], result["variations"][var]["entries"],
                     result["variations"][var]["yield"])
        if all(v["selected"] == 0 for v in result["variations"].values()):
            raise io.InputError(f"apply sample '{name}': the selection leaves no events in "
                                f"{', '.join(io.expand_files(sample['files']))}")
    if summary is not None:
        with io.atomic_path(summary) as tmp:
            tmp.write_text(json.dumps(result, indent=1) + "\n")
    return result


class _TableSink:
    """Adds the absent weight-variation columns (NaN) and counts the yield of what passes through."""

    def __init__(self, writer, missing: Sequence[str]):
        self.writer, self.missing, self.n, self.yield_ = writer, list(missing), 0, 0.0

    def write(self, df) -> None:
        for col in self.missing:
            df[col] = np.nan
        self.n += len(df)
        if "weight" in df:
            self.yield_ += float(df["weight"].sum())
        self.writer.write(df)


# ---------------------------------------------------------------------------------------- templates
def template_name(process: str, variation: str = "nominal") -> str:
    """``process`` for the nominal template, ``process__variation`` for a variation."""
    return process if variation == "nominal" else f"{process}__{variation}"


def _read_tables(tables: Sequence[str | Path], columns: Sequence[str], batch_size: int = 1_000_000):
    """The apply tables' ``columns`` (those present) and every weight column, in batches (bounded memory)."""
    import pyarrow.parquet as pq

    for path in tables:
        f = pq.ParquetFile(path)
        names = f.schema_arrow.names
        cols = [c for c in columns if c in names] + [c for c in names if c.startswith("weight") and c not in columns]
        for batch in f.iter_batches(batch_size=batch_size, columns=cols):
            yield batch.to_pandas()


def make_templates(tables: Sequence[str | Path], *, classifier: str, score_range: Sequence[float] | str | Path, bins: int,
                   luminosity_pb: float, output: str | Path, plot: str | Path | None = None) -> dict:
    """Score histograms per process x variation of ``classifier`` as ROOT TH1D (sum of w^2), and the stack.

    ``tables`` are the apply stage's tables. Binning: ``bins`` equal bins over ``score_range`` (the
    out-of-fold score range of the training, or the classifier's ``bundle.json`` that records it);
    scores outside are counted in the first / last bin.
    Data samples are summed into ``data_obs``. Returns {name: {"process", "variation", "yield", "sumw2"}}.
    """
    if isinstance(score_range, (str, Path)):
        score_range = json.loads(Path(score_range).read_text())["score_range"]
    lo, hi = float(score_range[0]), float(score_range[1])
    if not hi > lo:
        hi = lo + 1.0
    col = f"score_{classifier}"
    hists: dict[str, hist.Hist] = {}
    meta: dict[str, dict] = {}
    labels: dict[str, str] = {}

    def fill(name, process, variation, scores, weights):
        if name not in hists:
            hists[name] = hist.Hist(hist.axis.Regular(bins, lo, hi, name="score", label=f"{classifier} score"),
                                    storage=hist.storage.Weight())
            meta[name] = {"process": process, "variation": variation}
        hists[name].fill(np.clip(scores, lo, np.nextafter(hi, lo)), weight=weights)

    for df in _read_tables(tables, ["sample", "process", "kind", "label", "variation", col]):
        if col not in df:
            raise io.InputError(f"apply table lacks {col}: apply the classifier '{classifier}' to every sample")
        for (kind, process, label, variation), part in df.groupby(["kind", "process", "label", "variation"]):
            s = part[col].to_numpy()
            if kind == "data":
                fill("data_obs", "data", "nominal", s, np.ones(len(s)))
                continue
            labels[process] = label
            fill(template_name(process, variation), process, variation, s, part["weight"].to_numpy())
            if variation == "nominal":
                for wcol in [c for c in part.columns if c.startswith("weight_")]:
                    var = wcol[len("weight_"):]
                    fill(template_name(process, var), process, var, s, part[wcol].to_numpy())
    if not hists:
        raise io.InputError("apply tables hold no events: nothing to template")
    with io.atomic_path(output) as tmp:
        with uproot.recreate(tmp) as f:
            for name in sorted(hists):
                f[name] = hists[name]
    for name, h in hists.items():
        meta[name] |= {"yield": float(h.values().sum()), "sumw2": float(h.variances().sum())}
    log.info("templates of %s: %s", classifier, ", ".join(f"{n} {m['yield']:.4g}" for n, m in sorted(meta.items())))
    if plot is not None:
        edges = hists[next(iter(hists))].axes[0].edges
        order = sorted((p for p in labels), key=lambda p: (labels[p] == "signal", p))
        stack = {p: hists[p].values() for p in order if p in hists}
        data = hists["data_obs"].values() if "data_obs" in hists else None
        plot_stack(edges, stack, data, xlabel=f"{classifier} score", luminosity_fb=luminosity_pb / 1000.0,
                   signal=[p for p in order if labels[p] == "signal"], path=plot)
    return meta


def plot_sculpting(tables: Sequence[str | Path], *, classifier: str, spectators: Sequence[Mapping], output: str | Path,
                   n_bins: int = 4) -> None:
    """Each spectator's distribution of the background, in ``n_bins`` score bins of equal background weight."""
    col = f"score_{classifier}"
    names = [s["name"] for s in spectators]
    frames = [df[(df["kind"] == "mc") & (df["label"] == "background") & (df["variation"] == "nominal")]
              for df in _read_tables(tables, ["kind", "label", "variation", col, *names])]
    df = pd.concat(frames, ignore_index=True)
    if df.empty:
        raise io.InputError("sculpting plot: no simulated background among the applied samples")
    plot_spectator_sculpting(df[col].to_numpy(), {s["name"]: df[s["name"]].to_numpy() for s in spectators},
                             df["weight"].to_numpy(), labels={s["name"]: s.get("label", s["name"]) for s in spectators},
                             classifier=classifier, n_bins=n_bins, path=output)


# ------------------------------------------------------------------------------------------ bundles
def write_bundles(fold_dirs: Sequence[str | Path], scores: Sequence[str | Path], *, classifier: Mapping,
                  study: Mapping, output: str | Path) -> dict:
    """Write ``results/models/{clf}/bundle.json`` for one classifier's fold models.

    ``study`` holds the config pieces of :func:`hepmva.bundle.study_block`; the score range of the
    templates is the range of the classifier's out-of-fold scores (``scores``: the fold models' score
    tables, whose metadata holds it).
    """
    summary = score_parts.score_summary([scores] if isinstance(scores, (str, Path)) else list(scores))
    bundle = write_classifier_bundle(fold_dirs, classifier=classifier, study=study_block(**study),
                                     score_range=(summary.score_min["test"], summary.score_max["test"]),
                                     output=output)
    log.info("bundle %s: %s (%s), %d folds, features sha256 %s", output, classifier["name"], classifier["kind"],
             len(bundle["folds"]), bundle["features_sha256"][:12])
    return bundle


def write_all_bundles(classifiers: Sequence[Mapping], *, models: Mapping[str, Sequence[str | Path]],
                      scores: Mapping[str, Sequence[str | Path]], study: Mapping, outputs: Sequence[str | Path],
                      output: str | Path) -> dict:
    """The ``bundle`` rule's job: every classifier's bundle (:func:`write_bundles`, to ``outputs`` in the order
    of ``classifiers``; ``models`` and ``scores`` are the fold directories and score tables by name), then the
    study's (:func:`write_study_bundle`). One job: a bundle is a small JSON, not worth an interpreter each."""
    if len(outputs) != len(classifiers):
        raise ValueError(f"{len(classifiers)} classifiers but {len(outputs)} bundle paths")
    for clf, path in zip(classifiers, outputs):
        write_bundles(list(models[clf["name"]]), list(scores[clf["name"]]), classifier=clf, study=study, output=path)
    return write_study_bundle(list(outputs), study=study, output=output)


def write_study_bundle(classifier_bundles: Sequence[str | Path], *, study: Mapping, output: str | Path) -> dict:
    """Write ``results/models/bundle.json``: the study definition and its classifier bundles."""
    bundle = bundles.write_study_bundle(classifier_bundles, study=study_block(**study), output=output)
    log.info("bundle %s: classifiers %s", output, ", ".join(bundle["classifiers"]))
    return bundle
