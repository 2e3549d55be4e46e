"""The features stage (``workflow/rules/features.smk``): ntuples in, one features dataset per sample; input plots.

A sample's features are built in parts, one job each: an input file, or an entry range of one when
``reading.entries_per_job`` asks (:func:`hepmva.feature_table.plan_parts`). One small step per sample
then merges the parts' counts and sums of weights:

- :func:`build_feature_part`   read one part chunk by chunk, select, define the features, fold every event
                               -> ``results/features/{sample}/part-{k}.parquet`` (generator weights; the
                               part's counts and sums in the parquet footer)
- :func:`merge_feature_parts`  the sample's cross-section, sum of weights and scale ``xsec * L / sum_w``
                               from all its parts, and the sample's checks -> ``results/features/{sample}.json``
- :func:`build_features`       both, in one process (Python use and tests)

(The input plots are :mod:`hepmva.stages.inputs`: a features job imports no plotting.)

The manifest ``{sample}.json`` lists the parts with their row offsets and holds the scale; the read API
(:func:`hepmva.datasets.load_feature_tables`, :func:`~hepmva.datasets.iter_feature_parts`) applies the
scale as it reads, so the physics weights are ``generator_weight * scale``, bit for bit as when one job
built the whole sample; rows, folds and their order do not depend on how the files were split.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from hepmva import io
from hepmva.config import schema_default
from hepmva.datasets import MANIFEST_FORMAT, PART_METADATA_KEY
from hepmva.feature_table import (FeaturePartSpec, chunk_weights, compile_program, evaluate_chunk, merged_scale,
                                  part_file_metadata, plan_parts)
from hepmva.logs import Progress
from hepmva.samples import ExactSum, assign_folds

__all__ = ["build_feature_part", "merge_feature_parts", "build_features", "read_part_metadata"]

log = logging.getLogger(__name__)


def _program(sample: Mapping, *, features, event_id, selection, truth_llr, spectators, define, aliases):
    return compile_program(features, event_id=event_id, selections=(selection, sample.get("selection")),
                           weights={"weight": sample.get("weight")}, spectators=spectators, truth_llr=truth_llr,
                           define=define, aliases=aliases)


def _part_schema(program):
    """The arrow schema of a part: features, bookkeeping, then spectators and truth."""
    import pyarrow as pa

    f64 = pa.float64()
    fields = [(n, f64) for n, _, _ in program.features]
    fields += [("sample", pa.dictionary(pa.int8(), pa.string())), ("label", pa.int8()), ("generator_weight", f64),
               ("event", pa.uint64()), ("fold", pa.int8()), ("file_index", pa.int32()), ("entry", pa.int64())]
    fields += [(n, f64) for n, _, _ in program.spectators]
    fields += [("truth_llr", f64)] if program.truth_llr is not None else []
    return pa.schema(fields)


def build_feature_part(
    sample: dict,
    part: Mapping | FeaturePartSpec,
    *,
    features: Sequence[dict],
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
    """Read one part of a sample (a file, or an entry range of it) chunk by chunk and write its table.

    Parameters
    ----------
    sample : dict
        The sample's config block (name, label, tree, weight, xsec_pb, sum_weights, selection).
    part : mapping or FeaturePartSpec
        ``part``, ``file``, ``file_index``, ``entry_start``, ``entry_stop`` (:func:`~hepmva.feature_table.plan_parts`).
    features, spectators : sequence of dict
        Feature / spectator definitions (name, expr, optional default).
    folds : int
        Number of folds.
    event_id, selection, truth_llr : str
        Event-id branch, global selection expression, optional exact-llr branch.
    step_size : int or str
        Chunk size for uproot.
    define, aliases : dict, optional
        Named definitions and branch aliases (config ``define:``/``aliases:``) the expressions use.
    output : path
        Parquet file to write (atomically): the selected events with their generator weights and, in its
        footer (key ``hepmva.part``), the part's counts and sums that :func:`merge_feature_parts` needs.

    Returns
    -------
    dict : the part's metadata (what the footer holds).
    """
    spec = part if isinstance(part, FeaturePartSpec) else FeaturePartSpec(**part)
    name, tree, path = sample["name"], sample.get("tree", "Events"), spec.file
    program = _program(sample, features=features, event_id=event_id, selection=selection, truth_llr=truth_llr,
                       spectators=spectators, define=define, aliases=aliases)
    t0 = time.perf_counter()
    if io.is_remote(path):
        io.expand_files([path])  # one stat: "no such file on the server" rather than a reader's error
    with io.RootFile(path) as source:  # one open for the entry count, the chunks and the metadata trees
        meta = _write_part(source, sample, spec, program, tree=tree, folds=folds, step_size=step_size,
                           output=output)
    log.info("sample %s part %d: %d of %d events selected (%.1f s)", name, spec.part, meta["n_selected"],
             meta["n_read"], time.perf_counter() - t0)
    return meta


def _write_part(source: io.RootFile, sample: dict, spec: FeaturePartSpec, program, *, tree: str, folds: int,
                step_size, output: str | Path) -> dict:
    """The body of :func:`build_feature_part` on its open file: read, evaluate, write the part and its footer."""
    import pyarrow.parquet as pq

    name, path = sample["name"], spec.file
    label = 1 if sample["label"] == "signal" else 0
    auto = sample.get("sum_weights", "auto") == "auto"
    n_entries = source.num_entries(tree)
    start = spec.entry_start or 0
    stop = n_entries if spec.entry_stop is None else min(int(spec.entry_stop), n_entries)
    log.info("sample %s part %d: %s entries [%d, %d) of %s, reading %d branches", name, spec.part, path, start,
             stop, tree, len(program.branches))
    schema = _part_schema(program)
    n_read = n_selected = 0
    sumw_read, sumw_selected = ExactSum(), 0.0
    progress = Progress(log, f"sample {name} part {spec.part}: features", total=max(stop - start, 0), unit="events")
    # an empty range is not read (nothing to check its branches against): the merge names an empty sample
    chunks = source.iterate(tree, program.branches, step_size=step_size, entry_start=spec.entry_start,
                            entry_stop=spec.entry_stop) if stop > start else ()
    with io.atomic_path(output) as tmp:
        writer = pq.ParquetWriter(tmp, schema, **PARQUET_OPTIONS, use_byte_stream_split=_float_columns(schema))
        try:
            for entry_start, chunk in chunks:
                n = len(chunk)
                n_read += n
                progress.update(n)  # a line every 10 s: events/s and time left
                if auto:
                    sumw_read.add(chunk_weights(program, chunk, path=path)) if program.weights[0][1] is not None \
                        else sumw_read.add_count(n)
                table, wsum = _part_table(program, chunk, schema, path=path, entry_start=entry_start, name=name,
                                          label=label, folds=folds, file_index=spec.file_index)
                del chunk  # not held by this loop while uproot reads the next one
                if table is not None:
                    writer.write_table(table)
                    n_selected += table.num_rows
                    sumw_selected += wsum
                    del table
            meta = {
                "sample": name, **spec.to_dict(), "tree": tree, "entry_start": start, "entry_stop": stop,
                "n_read": n_read, "n_selected": n_selected, "sum_generator_weights_selected": sumw_selected,
                "sum_weights_read": sumw_read.to_text() if auto else None,
                **part_file_metadata(sample, source, start),
            }
            writer.add_key_value_metadata({PART_METADATA_KEY: json.dumps(meta)})
        finally:
            writer.close()
    return meta


def _part_table(program, chunk, schema, *, path: str, entry_start: int, name: str, label: int, folds: int,
                file_index: int):
    """The selected events of one chunk as the part's arrow table (None if none passes) and their sum of weights;
    every temporary of the evaluation is freed when it returns."""
    import pyarrow as pa

    cols = evaluate_chunk(program, chunk, path=path, entry_start=entry_start)
    k = len(cols["event"])
    if not k:
        return None, 0.0
    w = cols.pop("weight")
    cols.update(sample=pa.DictionaryArray.from_arrays(np.zeros(k, dtype=np.int8), [name]),
                label=np.full(k, label, dtype=np.int8), generator_weight=w, fold=assign_folds(cols["event"], folds),
                file_index=np.full(k, file_index, dtype=np.int32))
    return pa.Table.from_arrays([cols[c] for c in schema.names], schema=schema), float(w.sum())


#: how parts are written (benchmarks/bench_features.py): no dictionary encoding but for the sample name
#: (pyarrow's default tries it on every column, which gains nothing on floats and doubled the write time),
#: no column statistics (no reader filters on them: another quarter of the write), one row group per chunk
#: read; float columns byte-stream-split and every column lz4: on a 75k-row part (benchmarks/README.md)
#: 15 ms to write, 4.8 MB, 7 ms to read, against 21 ms, 5.8 MB, 15 ms with snappy and plain floats (zstd
#: level 1 with the split: 22 ms, 3.8 MB, 11 ms; uncompressed: 11 ms, 9.9 MB). The split puts each byte of
#: the floats together, so the zero low bytes of a float32 branch stored as float64 compress to nothing.
PARQUET_OPTIONS = {"use_dictionary": ["sample"], "write_statistics": False, "compression": "lz4"}


def _float_columns(schema) -> list[str]:
    """The floating-point columns of ``schema`` (written byte-stream-split)."""
    import pyarrow as pa

    return [f.name for f in schema if pa.types.is_floating(f.type)]


def read_part_metadata(path: str | Path) -> dict:
    """The footer :func:`build_feature_part` wrote (checked against the part's row count)."""
    return io.read_part_footer(path, PART_METADATA_KEY, rows="n_selected", what="a features part",
                               remedy="re-run the features stage")


def merge_feature_parts(sample: dict, parts: Sequence[str | Path], *, luminosity_pb: float,
                        output: str | Path) -> dict:
    """Merge a sample's parts: cross-section, sum of weights, scale and the sample's checks -> manifest ``output``.

    ``sample["xsec_pb"]`` is a number or ``{tree, branch}`` (a per-file constant: the files must agree);
    ``sample["sum_weights"]`` a number, ``{tree, branch}`` (summed over the files) or ``"auto"`` (the sum
    of the generator weights of every event read, before any selection, summed exactly over the parts:
    the same bits however the files are split).

    Raises
    ------
    InputError
        One line naming the sample and its files: no entries, a selection that leaves nothing, a
        non-positive total weight, ``auto`` on an empty tree, files that disagree on the cross-section.
    """
    name, tree = sample["name"], sample.get("tree", "Events")
    output = Path(output)
    metas = [read_part_metadata(p) for p in parts]
    files = list(dict.fromkeys(m["file"] for m in metas))
    where = ", ".join(files)
    n_read = sum(m["n_read"] for m in metas)
    n_selected = sum(m["n_selected"] for m in metas)
    xsec, sumw, scale = merged_scale(sample, metas, luminosity_pb, tree=tree)
    total_yield = scale * sum(m["sum_generator_weights_selected"] for m in metas)
    if n_read == 0:
        raise io.InputError(f"sample '{name}': the input tree '{tree}' has no entries in {where}")
    if n_selected == 0:
        raise io.InputError(f"sample '{name}': the selection leaves no events ({n_read} read in {where})")
    if not total_yield > 0:
        raise io.InputError(
            f"sample '{name}': the weights of its {n_selected} selected events sum to {total_yield:.6g} "
            f"(in {where}); a sample needs a positive total weight: check its 'weight' "
            f"({sample.get('weight') or 'none'}), 'xsec_pb' and 'sum_weights'"
        )
    offsets = np.cumsum([0] + [m["n_selected"] for m in metas]).tolist()
    keys = ("part", "file", "file_index", "entry_start", "entry_stop", "n_read", "n_selected")
    manifest = {
        "format": MANIFEST_FORMAT, "sample": name, "label": sample["label"], "tree": tree,
        "xsec_pb": xsec, "sum_weights": sumw, "luminosity_pb": float(luminosity_pb), "scale": scale,
        "n_read": n_read, "n_selected": n_selected, "yield": total_yield, "files": files,
        "parts": [{"path": f"{output.stem}/{Path(p).name}", "row_offset": int(off), **{k: m[k] for k in keys}}
                  for p, m, off in zip(parts, metas, offsets)],
    }
    io.write_json(manifest, output)
    log.info("sample %s: %d part(s), %d of %d events selected, xsec %.4g pb, sum of weights %.8g, expected "
             "yield %.4g", name, len(metas), n_selected, n_read, xsec, sumw, total_yield)
    return {"sample": name, "n_read": n_read, "n_selected": n_selected, "yield": total_yield, "xsec_pb": xsec,
            "sum_weights": sumw, "parts": len(metas)}


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
    entries_per_job: int | None = None,
    define: dict | None = None,
    aliases: dict | None = None,
    output: str | Path,
) -> dict:
    """Build a sample's whole features dataset in this process: every part, then the merge.

    ``output`` is the manifest (``{dir}/{sample}.json``); the parts go to ``{dir}/{sample}/part-{k}.parquet``
    and appear only when the sample passes its checks (nothing is left behind otherwise). Parameters as
    :func:`build_feature_part` and :func:`merge_feature_parts`; ``files`` may hold globs; ``entries_per_job``
    splits large files as the workflow does.

    Returns
    -------
    dict : counts and yield of the sample.
    """
    output = Path(output)
    if output.suffix != ".json":
        raise ValueError(f"build_features: output is the sample's manifest, a .json file, not {output}")
    files = io.expand_files(files)
    tree = sample.get("tree", "Events")
    entries = [io.count_entries(f, tree) for f in files] if entries_per_job else None
    specs = plan_parts(files, entries, entries_per_job)
    kwargs = dict(features=features, folds=folds, event_id=event_id, selection=selection, truth_llr=truth_llr,
                  spectators=spectators, step_size=step_size, define=define, aliases=aliases)
    with io.atomic_directory(output.parent / output.stem) as tmp:
        paths = [tmp / f"part-{spec.part}.parquet" for spec in specs]
        for spec, path in zip(specs, paths):
            build_feature_part(sample, spec, output=path, **kwargs)
        info = merge_feature_parts(sample, paths, luminosity_pb=luminosity_pb, output=output)
    return info
