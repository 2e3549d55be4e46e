"""Apply a study's model bundle to new ntuples: data, other simulation, systematic variations.

Three entry points, one engine (:func:`_score_range`, chunked: memory bounded by ``step_size``):

- the workflow stage (``workflow/rules/apply.smk``), per configured sample, in parts: one part per
  input file (or entry range of one, ``reading.entries_per_job``) and tree variation, planned as the
  features are (:func:`hepmva.feature_table.plan_apply_parts`):

  ======================== ================================================================================
  :func:`sum_weights_part`  simulation whose cross-section or sum of weights comes from the files: the
                            part's exact sum of generator weights / metadata values -> ``sumw/{var}/{p}.json``
  :func:`merge_scale`       the variation's ``xsec * L / sum_w`` from ALL its parts -> ``scale/{var}.json``
  :func:`apply_part`        score one part -> its friend tree ``friends/{var}/{p}.root`` and its table
                            part ``parts/{var}/{p}.parquet`` (the part's counts and yield in the footer)
  :func:`merge_apply_parts` the sample's checks and manifest ``summary.json`` (per variation: counts,
                            yield, scale, per input file its friend tree(s), the table parts)
  :func:`apply_sample`      all of it in this process (Python use, tests), the same files
  ======================== ================================================================================

  :func:`make_templates` per classifier -> ROOT TH1 templates per process x variation (sum of w^2) and a
  stacked plot with data; :func:`plot_sculpting` -> spectators in bins of score for the background;
  both read the samples' table parts batch by batch (memory bounded by a batch, not by the sample);
- the command line ``hepmva apply MODEL_DIR FILES... -o OUT`` (:mod:`hepmva.cli`): :func:`apply_files`;
- Python: :func:`hepmva.bundle.load_bundle` then ``bundle.score(arrays)``; :func:`score_files` (files in, a
  table of scores out) or :func:`apply_files` (friend trees).

Friend tree per input file, or per entry range of one (entry-aligned with the input tree, ``AddFriend``-able;
the ranges of a file, chained in entry order, are its friend: ``TChain`` of them, ``AddFriend`` the chain),
tree ``hepmva``: ``event`` (uint64, every entry), ``selected`` (bool), ``fold`` (int8, -1 if not selected),
``score_<classifier>`` (NaN if not selected), the spectators, and for simulation ``weight`` (physics
weight, luminosity-normalised with the sum of weights of ALL the sample's files) plus ``weight_<variation>``
per weight variation.

Template names (a binned-fit tool maps them by pattern, e.g. cabinetry / pyhf / combine):
``<process>`` nominal, ``<process>__<variation>`` per variation, ``data_obs`` the sum of the data samples.
"""

from __future__ import annotations

import contextlib
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
from hepmva.config import schema_default
from hepmva.feature_table import (FeaturePartSpec, apply_variations, check_branches, compile_program, evaluate_chunk,
                                  merged_scale, part_weight_sums, plan_apply_parts, plan_parts)
from hepmva.logs import Progress
from hepmva.models import thread_limits
from hepmva.samples import ExactSum

__all__ = ["apply_files", "score_files", "sum_weights_part", "merge_scale", "apply_part",
           "merge_apply_parts", "apply_sample", "apply_table_parts", "read_apply_tables", "process_name", "template_name",
           "make_templates", "plot_sculpting", "write_bundles", "write_all_bundles", "write_study_bundle"]

log = logging.getLogger(__name__)

#: the default chunk size (the schema's ``reading.step_size``)
_STEP_SIZE = schema_default("reading.step_size")

#: format of an apply sample's manifest (summary.json); key of a table part's footer
SUMMARY_FORMAT = "hepmva.apply/2"
PART_METADATA_KEY = "hepmva.apply_part"


def apply_files(bundle: ModelBundle | str | Path, files: Sequence[str], output_dir: str | Path, *,
                tree: str = "Events", friend_tree: str = "hepmva", fold_mode: str = "fold",
                classifiers: Sequence[str] | None = None, trained_as: str | None = None,
                selection: str | None = None, weights: Mapping[str, str | None] | None = None, scale: float = 1.0,
                step_size: int | str = _STEP_SIZE, table_writer: io.ParquetChunkWriter | None = None,
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
    files = io.expand_files(files)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    log.info("apply: %d file(s), classifiers %s, fold mode %s%s", len(files), ", ".join(names), fold_mode,
             f" (trained as '{trained_as}')" if trained_as else "")
    columns = _table_columns(bundle, program, names)
    records = []
    for index, path in enumerate(files):
        out = output_dir / f"{index}_{Path(path).name}"

        def sink(block, index=index):
            if table_writer is not None:
                table_writer.write(pd.DataFrame(_table_block(block, index, table_extra, columns)))

        rec = _score_range(bundle, program, names, fold_mode, FeaturePartSpec(index, path, index), tree=tree,
                           scale=scale, step_size=step_size, friend=out, friend_tree=friend_tree, sink=sink)
        records.append({"input": str(path), "friend": str(out), "tree": friend_tree, "entries": rec["entries"],
                        "selected": rec["selected"], "seconds": rec["seconds"]})
    (output_dir / "friends.json").write_text(json.dumps(records, indent=1) + "\n")
    return records


def score_files(bundle: ModelBundle | str | Path, files: Sequence[str], *, tree: str = "Events",
                fold_mode: str = "fold", classifiers: Sequence[str] | None = None, trained_as: str | None = None,
                selection: str | None = None, step_size: int | str = _STEP_SIZE):
    """Score the selected events of ``files`` and return them as a table (for notebooks: files in, scores out).

    The same reading and fold choice as :func:`apply_files`, without writing anything.

    Returns
    -------
    pandas.DataFrame : one row per selected event: ``file_index``, ``entry``, ``event``, ``fold``,
        ``score_<classifier>`` and the spectators.
    """
    bundle, program, names, fold_mode = _prepare(bundle, classifiers, trained_as, fold_mode, selection, None)
    columns = _table_columns(bundle, program, names)
    blocks = []
    for index, path in enumerate(io.expand_files(files)):
        _score_range(bundle, program, names, fold_mode, FeaturePartSpec(index, path, index), tree=tree, scale=1.0,
                     step_size=step_size, sink=lambda b, i=index: blocks.append(_table_block(b, i, None, columns)))
    if not blocks:
        return pd.DataFrame(columns=["file_index", "entry", "event", "fold", *columns])
    return pd.concat([pd.DataFrame(b) for b in blocks], ignore_index=True)


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


def _table_columns(bundle: ModelBundle, program, names: Sequence[str]) -> list[str]:
    """The per-event columns of a table after the bookkeeping: scores, spectators, weights."""
    return [f"score_{n}" for n in names] + bundle.spectator_names + [c for c, _ in program.weights]


def _score_range(bundle: ModelBundle, program, names, fold_mode: str, part: FeaturePartSpec, *, tree: str,
                 scale: float, step_size, friend: Path | None = None, friend_tree: str = "hepmva",
                 sink=None) -> dict:
    """Score the entries ``[part.entry_start, part.entry_stop)`` of ``part.file`` (all by default).

    Writes the friend tree of the range to ``friend`` (atomically) when given; hands every chunk's
    selected rows to ``sink(block)`` (``block``: the friend columns of the selected entries and ``entry``).
    Returns the range's record: entries, selected, seconds.
    """
    path = part.file
    t0 = time.perf_counter()
    n_entries = n_selected = 0
    total = None if part.entry_stop is None else part.entry_stop - (part.entry_start or 0)
    progress = Progress(log, f"apply: {path}", total=total, unit="entries")  # a line every 10 s on long files
    chunks = _friend_chunks(bundle, program, names, fold_mode, path, tree, scale, step_size, part.entry_start,
                            part.entry_stop)
    writer = io.TreeChunkWriter(friend, friend_tree, _friend_dtypes(bundle, program, names)) if friend else None
    with writer if writer is not None else contextlib.nullcontext():
        for columns, rows, entries in chunks:
            if sink is not None and len(rows):
                sink({k: v[rows] for k, v in columns.items()} | {"entry": entries})
            if writer is not None:
                writer.write(columns)
            n_entries += len(columns["event"])
            n_selected += len(rows)
            progress.update(len(columns["event"]))
    seconds = time.perf_counter() - t0
    where = "" if total is None else f" entries [{part.entry_start or 0}, {part.entry_stop})"
    log.info("apply: %s%s -> %s: %d entries (%d selected) in %.1f s, %.0f events/s", path, where,
             friend or "table", n_entries, n_selected, seconds, n_entries / max(seconds, 1e-9))
    return {"entries": n_entries, "selected": n_selected, "seconds": seconds}


def _friend_chunks(bundle: ModelBundle, program, names, fold_mode: str, path: str, tree: str, scale: float,
                   step_size, entry_start: int | None = None, entry_stop: int | None = None):
    """Per chunk of ``path``: the friend-tree columns (every entry), the selected rows and their entries."""
    with io.RootFile(path) as source:  # one open for the check and the chunks
        check_branches(program, source, tree)
        dtypes = _friend_dtypes(bundle, program, names)
        for start, chunk in source.iterate(tree, program.branches, step_size=step_size, entry_start=entry_start,
                                           entry_stop=entry_stop):
            n = len(chunk)
            cols = evaluate_chunk(program, chunk, path=path, entry_start=start)
            friend = {k: np.full(n, np.nan) for k in dtypes}
            friend["event"] = _event_ids(program, chunk, path)
            friend["selected"] = np.zeros(n, dtype=bool)
            friend["fold"] = np.full(n, -1, dtype=np.int8)
            rows, ids = cols["entry"] - start, cols["event"]
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


def _table_block(selected: dict, file_index: int, extra, columns) -> dict:
    """Table columns of a chunk's selected events: constants ``extra``, bookkeeping, ``columns``."""
    n = len(selected["event"])
    block = {k: np.full(n, v) for k, v in (extra or {}).items()}
    block |= {"file_index": np.full(n, file_index, dtype=np.int32), "entry": np.asarray(selected["entry"], np.int64),
              "event": selected["event"], "fold": selected["fold"]}
    return block | {k: selected[k] for k in columns}


# ------------------------------------------------------------------------------------------ the stage
def process_name(sample: Mapping) -> str:
    """The template process of an apply sample: ``process``, or its name with '-' and '.' as '_'."""
    return sample.get("process") or sample["name"].replace("-", "_").replace(".", "_")


def _spec(part: Mapping) -> FeaturePartSpec:
    return FeaturePartSpec(part["part"], part["file"], part["file_index"], part.get("entry_start"),
                           part.get("entry_stop"))


def sum_weights_part(sample: Mapping, part: Mapping, *, define: Mapping[str, str] | None = None,
                     aliases: Mapping[str, str] | None = None, step_size: int | str = _STEP_SIZE,
                     output: str | Path) -> dict:
    """One part's contribution to its variation's cross-section and sum of weights (JSON ``output``).

    ``sum_weights: auto``: the exact sum of the generator weights of every entry of the part, before any
    selection (:func:`hepmva.feature_table.part_weight_sums`; only the weight's branches are read).
    """
    weight = compile_program([], weights={"weight": sample.get("weight")}, define=define, aliases=aliases).weights[0][1]
    if io.is_remote(part["file"]):
        io.expand_files([part["file"]])  # one stat: "no such file on the server" rather than a reader's error
    meta = part_weight_sums(sample, _spec(part), weight, tree=part["tree"], step_size=step_size)
    io.write_json(meta | {"sample": sample["name"], "variation": part["variation"]}, output)
    log.info("sample %s [%s] part %s: %d entries%s", sample["name"], part["variation"], part["name"], meta["n_read"],
             "" if meta["sum_weights_read"] is None else
             f", sum of generator weights {ExactSum.from_text(meta['sum_weights_read']).value:.8g}")
    return meta


def merge_scale(sample: Mapping, variation: str, sums: Sequence[str | Path], *, luminosity_pb: float,
                output: str | Path) -> dict:
    """A simulated variation's ``xsec * L / sum_w`` from all its parts' sums (JSON ``output``).

    A number of ``xsec_pb`` and ``sum_weights`` needs no ``sums``; otherwise every part's
    :func:`sum_weights_part`, merged exactly: the same bits however the files are split.
    """
    metas = [json.loads(Path(p).read_text()) for p in sums]
    tree = apply_variations(sample)[variation][1]
    xsec, sumw, scale = merged_scale(sample, metas, luminosity_pb, tree=tree)
    out = {"sample": sample["name"], "variation": variation, "xsec_pb": xsec, "sum_weights": sumw,
           "luminosity_pb": float(luminosity_pb), "scale": scale, "n_read": sum(m["n_read"] for m in metas)}
    io.write_json(out, output)
    log.info("sample %s [%s]: xsec %.4g pb, sum of weights %.8g, scale %.6g", sample["name"], variation, xsec, sumw,
             scale)
    return out


def _part_schema(columns: Sequence[str], extra: Sequence[str]):
    import pyarrow as pa

    fields = [(k, pa.string()) for k in extra]
    fields += [("file_index", pa.int32()), ("entry", pa.int64()), ("event", pa.uint64()), ("fold", pa.int8())]
    return pa.schema(fields + [(c, pa.float64()) for c in columns])


def apply_part(bundle_dir: str | Path, sample: Mapping, part: Mapping, *, features: Sequence[Mapping],
               define: Mapping[str, str] | None = None, aliases: Mapping[str, str] | None = None,
               classifiers: Sequence[str] | None = None, fold_mode: str = "fold", friend_tree: str = "hepmva",
               step_size: int | str = _STEP_SIZE, scale: str | Path | Mapping | None = None, friend: str | Path,
               table: str | Path, threads: int = 1) -> dict:
    """Score one part of an apply sample (an input file or an entry range of one, of one variation).

    Writes the part's friend tree ``friend`` (entry-aligned with the part's entries of the input tree)
    and its table part ``table`` (parquet: the selected events with variation, process, kind, label,
    scores, spectators, physics weights; the part's counts and yield in the footer), both atomically.
    ``scale`` (simulation): the variation's :func:`merge_scale` record or its file. ``features``
    (with ``define`` / ``aliases``, the config's) must be the bundle's; a difference fails naming the
    feature. ``threads``: the job's cores, on which the fold models predict (their saved ``n_jobs`` and every
    OpenMP pool: xgboost's and HGB's would take every core of the node).

    Returns
    -------
    dict : the part's record (what the footer holds).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    bundle = load_bundle(bundle_dir, classifiers, n_jobs=threads)
    bundle.check_features(features, where="config key 'features'", define=define, aliases=aliases)
    name, var, is_mc = sample["name"], part["variation"], sample["kind"] == "mc"
    mode = sample.get("fold_mode") or fold_mode
    weights = None
    factor = 1.0
    if is_mc:
        weights = {"weight": sample.get("weight")}
        if var == "nominal":
            weights |= {f"weight_{v}": e for v, e in sample.get("weight_variations", {}).items()}
        if scale is None:
            raise ValueError(f"apply_part: simulated sample '{name}' needs its variation's scale (merge_scale)")
        record = scale if isinstance(scale, Mapping) else json.loads(Path(scale).read_text())
        if (record.get("sample", name), record.get("variation", var)) != (name, var):
            raise io.InputError(f"{scale}: the scale of '{record.get('sample')}' [{record.get('variation')}], not of "
                                f"'{name}' [{var}]: re-run the apply stage")
        factor = float(record["scale"])
    bundle, program, names, mode = _prepare(bundle, classifiers, sample.get("trained_as"), mode,
                                            sample.get("selection"), weights)
    columns = _table_columns(bundle, program, names)
    # every table part of a sample has every column: tree variations carry NaN weight variations
    missing = [f"weight_{v}" for v in sample.get("weight_variations", {})] if is_mc and var != "nominal" else []
    extra = {"sample": name, "process": process_name(sample), "kind": sample["kind"],
             "label": sample.get("label", "background"), "variation": var}
    schema = _part_schema(columns + missing, list(extra))
    if io.is_remote(part["file"]):
        io.expand_files([part["file"]])
    spec = _spec(part)
    yield_ = ExactSum()
    with io.atomic_path(table) as tmp:
        writer = pq.ParquetWriter(tmp, schema, compression="snappy")
        try:
            def sink(block):
                data = _table_block(block, spec.file_index, extra, columns)
                data |= {c: np.full(len(data["event"]), np.nan) for c in missing}
                if is_mc:
                    yield_.add(data["weight"])
                writer.write_table(pa.Table.from_pydict({k: data[k] for k in schema.names}, schema=schema))

            with thread_limits(threads):  # the models predict here
                rec = _score_range(bundle, program, names, mode, spec, tree=part["tree"], scale=factor,
                                   step_size=step_size, friend=Path(friend), friend_tree=friend_tree, sink=sink)
            meta = {"sample": name, "variation": var, "kind": sample["kind"], "name": part["name"], **spec.to_dict(),
                    "tree": part["tree"], "friend_tree": friend_tree, "fold_mode": mode, "classifiers": names,
                    "entries": rec["entries"], "selected": rec["selected"],
                    "yield": yield_.to_text() if is_mc else None, "seconds": rec["seconds"]}
            writer.add_key_value_metadata({PART_METADATA_KEY: json.dumps(meta)})
        finally:
            writer.close()
    return meta


def read_apply_part(path: str | Path) -> dict:
    """The footer :func:`apply_part` wrote (checked against the part's row count)."""
    return io.read_part_footer(path, PART_METADATA_KEY, rows="selected", what="an apply table part",
                               remedy="re-run the apply jobs")


def merge_apply_parts(sample: Mapping, tables: Sequence[str | Path], *, scales: Sequence[str | Path] = (),
                      output: str | Path) -> dict:
    """Merge an apply sample's parts: its checks and its manifest ``output`` (``summary.json``).

    ``tables`` are the table parts (:func:`apply_part`, every variation, in the plan's order: files, then
    entries); ``scales`` the simulated variations' :func:`merge_scale` files (any order). The manifest holds, per
    variation: entries, selected events and yield (exact sums over the parts), the cross-section, sum of
    weights and scale (simulation), per input file its entries, selected events and friend tree(s) (entry
    ranges in entry order), and the table parts with their row counts; paths relative to ``output``'s
    directory. :func:`apply_table_parts` lists the table parts of manifests.

    Raises
    ------
    InputError
        The selection leaves no events in any variation (one line naming the sample and its files).
    """
    output = Path(output)
    root = output.parent
    metas = [read_apply_part(p) for p in tables]
    scale_of = {r["variation"]: r for r in (json.loads(Path(p).read_text()) for p in scales)}
    name, kind = sample["name"], sample["kind"]
    result = {"format": SUMMARY_FORMAT, "sample": name, "kind": kind, "process": process_name(sample),
              "label": sample.get("label", "background"),
              "fold_mode": metas[0]["fold_mode"] if metas else sample.get("fold_mode"),
              "classifiers": metas[0]["classifiers"] if metas else [], "variations": {}}
    for var in apply_variations(sample):
        mine = [(Path(p), m) for p, m in zip(tables, metas) if m["variation"] == var]
        total = ExactSum()
        files: dict[int, dict] = {}
        parts = []
        for path, m in mine:
            if m["yield"] is not None:
                total += ExactSum.from_text(m["yield"])
            friend = f"friends/{var}/{m['name']}.root"  # apply_part's layout, beside parts/
            rec = files.setdefault(m["file_index"], {"input": m["file"], "entries": 0, "selected": 0, "friends": []})
            rec["entries"] += m["entries"]
            rec["selected"] += m["selected"]
            rec["friends"].append(friend)
            parts.append({"path": _relative(path, root), "friend": friend, "file_index": m["file_index"],
                          "entry_start": m["entry_start"], "entry_stop": m["entry_stop"], "entries": m["entries"],
                          "selected": m["selected"]})
        selected = sum(m["selected"] for _, m in mine)
        entry = {"entries": sum(m["entries"] for _, m in mine), "selected": selected,
                 "yield": total.value if kind == "mc" else float(selected), "tree": mine[0][1]["tree"] if mine else None}
        if var in scale_of:
            entry |= {k: scale_of[var][k] for k in ("xsec_pb", "sum_weights", "luminosity_pb", "scale")}
        entry |= {"friend_tree": mine[0][1]["friend_tree"] if mine else None,
                  "files": [files[i] for i in sorted(files)], "parts": parts}
        result["variations"][var] = entry
        log.info("sample %s [%s]: %d part(s), %d of %d entries selected, yield %.4g", name, var, len(mine), selected,
                 entry["entries"], entry["yield"])
    if all(v["selected"] == 0 for v in result["variations"].values()):
        where = ", ".join(dict.fromkeys(m["file"] for m in metas if m["variation"] == "nominal"))
        raise io.InputError(f"apply sample '{name}': the selection leaves no events in {where}")
    io.write_json(result, output)
    return result


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(Path(path).resolve())


def apply_table_parts(tables: str | Path | Sequence[str | Path]) -> list[Path]:
    """The table parts of apply samples: ``summary.json`` manifests (:func:`merge_apply_parts`) are replaced by
    their parts (every variation, in order), parquet files are taken as they are."""
    out: list[Path] = []
    tables = [tables] if isinstance(tables, (str, Path)) else tables
    for t in tables:
        t = Path(t)
        if t.suffix != ".json":
            out.append(t)
            continue
        summary = json.loads(t.read_text())
        if summary.get("format") != SUMMARY_FORMAT:
            raise io.InputError(f"{t}: not an apply sample's summary (format {summary.get('format')!r}, expected "
                                f"{SUMMARY_FORMAT!r}): re-run the apply stage")
        out += [t.parent / p["path"] for v in summary["variations"].values() for p in v["parts"]]
    return out


def read_apply_tables(tables: str | Path | Sequence[str | Path], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The selected events of apply samples as one table (``summary.json`` manifests or parquet parts): for
    notebooks and checks; the templates and plots read the parts batch by batch instead."""
    parts = apply_table_parts(tables)
    return io.read_tables(parts, columns) if parts else pd.DataFrame(columns=list(columns or []))


def apply_sample(bundle_dir: str | Path, sample: Mapping, *, features: Sequence[Mapping], luminosity_pb: float,
                 define: Mapping[str, str] | None = None, aliases: Mapping[str, str] | None = None,
                 classifiers: Sequence[str] | None = None, fold_mode: str = "fold", friend_tree: str = "hepmva",
                 step_size: int | str = _STEP_SIZE, entries_per_job: int | None = None,
                 directory: str | Path) -> dict:
    """Score one configured apply sample in this process: its nominal files, every tree variation and weight
    variation, in the workflow's parts and layout under ``directory`` (``results/apply/{sample}``).

    The same steps as the workflow's jobs (:func:`~hepmva.feature_table.plan_apply_parts`, :func:`sum_weights_part`, :func:`merge_scale`,
    :func:`apply_part`, :func:`merge_apply_parts`); ``entries_per_job`` splits large files as
    ``reading.entries_per_job`` does. The outputs appear only when the sample passes its checks.

    Returns
    -------
    dict : the manifest ``directory/summary.json`` (per variation the events, selected events, weighted yield,
        scale, friend trees and table parts).
    """
    directory = Path(directory)

    def plan(patterns, tree):
        files = io.expand_files(patterns)
        return plan_parts(files, [io.count_entries(f, tree) for f in files] if entries_per_job else None,
                          entries_per_job)

    plan = plan_apply_parts(sample, plan)
    with io.atomic_directory(directory) as tmp:
        scales, tables = {}, []
        for var, parts in plan.items():
            if sample["kind"] == "mc":
                sums = [tmp / "sumw" / var / f"{p['name']}.json" for p in parts if p["sums"]]
                for p, out in zip([p for p in parts if p["sums"]], sums):
                    sum_weights_part(sample, p, define=define, aliases=aliases, step_size=step_size, output=out)
                scales[var] = tmp / "scale" / f"{var}.json"
                merge_scale(sample, var, sums, luminosity_pb=luminosity_pb, output=scales[var])
            for p in parts:
                table = tmp / "parts" / var / f"{p['name']}.parquet"
                apply_part(bundle_dir, sample, p, features=features, define=define, aliases=aliases,
                           classifiers=classifiers, fold_mode=fold_mode, friend_tree=friend_tree, step_size=step_size,
                           scale=scales.get(var), friend=tmp / "friends" / var / f"{p['name']}.root", table=table)
                tables.append(table)
        result = merge_apply_parts(sample, tables, scales=list(scales.values()), output=tmp / "summary.json")
    return result


# ---------------------------------------------------------------------------------------- templates
def template_name(process: str, variation: str = "nominal") -> str:
    """``process`` for the nominal template, ``process__variation`` for a variation."""
    return process if variation == "nominal" else f"{process}__{variation}"


def _read_tables(tables: Sequence[str | Path], columns: Sequence[str], batch_size: int = 1_000_000):
    """The apply tables' ``columns`` (those present) and every weight column, in batches (bounded memory).

    ``tables``: apply samples' manifests (``summary.json``: their table parts) or parquet tables.
    """
    import pyarrow.parquet as pq

    for path in apply_table_parts(tables):
        f = pq.ParquetFile(path)
        names = f.schema_arrow.names
        cols = [c for c in columns if c in names] + [c for c in names if c.startswith("weight") and c not in columns]
        for batch in f.iter_batches(batch_size=batch_size, columns=cols):
            yield batch.to_pandas()


def make_templates(tables: Sequence[str | Path], *, classifier: str, score_range: Sequence[float] | str | Path, bins: int,
                   luminosity_pb: float, output: str | Path, plot: str | Path | None = None) -> dict:
    """Score histograms per process x variation of ``classifier`` as ROOT TH1D (sum of w^2), and the stack.

    ``tables`` are the apply samples' manifests (``summary.json``) or table parts, read batch by batch into
    one ``hist`` per template (memory bounded by a batch): the events reach each histogram in the samples'
    order, files then entries, so the templates are the same bits however the files were split (a histogram
    per part, summed, would add the parts' sums in another order). Binning: ``bins`` equal bins over ``score_range`` (the
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
        from hepmva.plotting.apply import plot_stack  # matplotlib: not in the per-part apply jobs

        edges = hists[next(iter(hists))].axes[0].edges
        order = sorted((p for p in labels), key=lambda p: (labels[p] == "signal", p))
        stack = {p: hists[p].values() for p in order if p in hists}
        data = hists["data_obs"].values() if "data_obs" in hists else None
        plot_stack(edges, stack, data, xlabel=f"{classifier} score", luminosity_fb=luminosity_pb / 1000.0,
                   signal=[p for p in order if labels[p] == "signal"], path=plot)
    return meta


def plot_sculpting(tables: Sequence[str | Path], *, classifier: str, spectators: Sequence[Mapping], output: str | Path,
                   n_bins: int = 4, bins: int = 30, fine: int = 4000) -> dict:
    """Each spectator's distribution of the background, in ``n_bins`` score bins of equal background weight.

    Streamed over the table parts (memory bounded by a batch, not by the samples): a first pass finds the
    ranges of the score and of the spectators, a second fills ``fine``-bin histograms of them (score
    weighted by |w|) whose quantiles give the score cuts (to 1/``fine`` of the score range) and each
    spectator's 0.5 %..99.5 % plot range, a third fills each spectator's ``bins`` bins per score bin.

    Returns
    -------
    dict : ``cuts`` (the ``n_bins - 1`` score values between the bins), and per spectator ``edges`` and
        ``counts`` (ndarray of shape (n_bins, bins), weighted).
    """
    col = f"score_{classifier}"
    names = [s["name"] for s in spectators]

    def background():
        for df in _read_tables(tables, ["kind", "label", "variation", col, *names]):
            df = df[(df["kind"] == "mc") & (df["label"] == "background") & (df["variation"] == "nominal")]
            if len(df):
                yield df[col].to_numpy(), {n: df[n].to_numpy() for n in names}, df["weight"].to_numpy()

    ranges = {k: [np.inf, -np.inf] for k in [col, *names]}
    for score, spec, _ in background():
        for k, x in [(col, score), *spec.items()]:
            ranges[k] = [min(ranges[k][0], float(x.min())), max(ranges[k][1], float(x.max()))]
    if not np.isfinite(ranges[col][0]):
        raise io.InputError("sculpting plot: no simulated background among the applied samples")
    axis = {k: hist.axis.Regular(fine, lo, hi if hi > lo else lo + 1.0) for k, (lo, hi) in ranges.items()}
    fine_h = {k: hist.Hist(a, storage=hist.storage.Double()) for k, a in axis.items()}
    for score, spec, w in background():
        fine_h[col].fill(_inside(score, axis[col]), weight=np.abs(w))
        for n, x in spec.items():
            fine_h[n].fill(_inside(x, axis[n]))
    cuts = _quantiles(fine_h[col], np.linspace(0, 1, n_bins + 1)[1:-1])
    edges = {}
    for n in names:
        lo, hi = _quantiles(fine_h[n], [0.005, 0.995])
        edges[n] = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    h = {n: hist.Hist(hist.axis.Integer(0, n_bins), hist.axis.Variable(edges[n]), storage=hist.storage.Double())
         for n in names}
    for score, spec, w in background():
        which = np.searchsorted(np.asarray(cuts), score, side="right")
        for n, x in spec.items():
            h[n].fill(which, np.clip(x, edges[n][0], np.nextafter(edges[n][-1], edges[n][0])), weight=w)
    counts = {n: h[n].values() for n in names}
    from hepmva.plotting.apply import plot_spectator_sculpting  # matplotlib: not in the per-part apply jobs

    plot_spectator_sculpting(edges, counts, cuts, labels={s["name"]: s.get("label", s["name"]) for s in spectators},
                             classifier=classifier, path=output)
    return {"cuts": cuts, "edges": edges, "counts": counts}


def _inside(x: np.ndarray, axis) -> np.ndarray:
    """``x`` clipped into the axis (its maximum lands in the last bin)."""
    return np.clip(x, axis.edges[0], np.nextafter(axis.edges[-1], axis.edges[0]))


def _quantiles(h, qs) -> list[float]:
    """The upper edge of the bin of ``h`` (1-d) where the cumulative content first reaches each fraction in ``qs``."""
    cum = np.cumsum(h.values())
    edges = h.axes[0].edges
    return [float(edges[min(np.searchsorted(cum, q * cum[-1]), len(cum) - 1) + 1]) for q in qs]


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
