"""One chunk of ROOT events -> one block of a feature table (data-model layer).

The features stage (training samples) and the apply stage (data, new simulation, systematic
variations) read ntuples the same way; this module is that one way:

- :func:`compile_program` parses the feature, spectator, selection, weight and event-id expressions
  once and lists the branches to read;
- :func:`check_branches` fails before reading, in one line naming the file and the *feature* whose
  branch is missing;
- :func:`evaluate_chunk` applies the selections to a chunk from ``uproot.iterate`` and evaluates
  everything on the selected events (features with their defaults, NaN/inf refused, naming the
  feature and the entry);
- :func:`plan_parts` splits a sample's files into the parts the features stage builds one job each
  (a part is an input file, or an entry range of one when ``reading.entries_per_job`` asks);
- :func:`plan_apply_parts` does the same for an apply sample, per tree variation (:func:`apply_variations`),
  and :func:`part_names` names the parts (the apply stage's friend trees and table parts);
- :func:`part_weight_sums` / :func:`merged_scale` resolve a sample's cross-section and sum of weights,
  part by part then merged exactly, into the per-event factor ``xsec * L / sum_w`` (the physics weight is
  ``generator weight x factor``, :mod:`hepmva.samples`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import awkward as ak
import numpy as np

from hepmva import io
from hepmva.features import Definitions, Expression, compile_expression, evaluate_selection, make_definitions
from hepmva.samples import ExactSum, physics_weights

log = logging.getLogger(__name__)

__all__ = ["FeatureProgram", "FeaturePartSpec", "compile_program", "check_branches", "evaluate_chunk", "chunk_weights",
           "plan_parts", "part_names", "apply_variations", "plan_apply_parts", "part_file_metadata", "part_weight_sums", "merged_scale",
           "checked_auto_sum_of_weights"]


@dataclass(frozen=True)
class FeatureProgram:
    """Compiled expressions of one reading pass (see :func:`compile_program`)."""

    features: tuple[tuple[str, Expression, float | None], ...]    # (name, expression, default)
    spectators: tuple[tuple[str, Expression, float | None], ...]  # carried along, never trained on
    cuts: tuple[Expression, ...]                                  # AND-ed selections
    weights: tuple[tuple[str, Expression | None], ...]            # (column, generator-weight expression or None = 1)
    event_id: Expression
    truth_llr: Expression | None
    definitions: Definitions | None = None                        # config define: / aliases:

    @property
    def branches(self) -> list[str]:
        """Sorted branch names every expression of the program reads."""
        exprs = [e for _, e, _ in self.features + self.spectators] + list(self.cuts)
        exprs += [e for _, e in self.weights if e is not None] + [self.event_id]
        exprs += [self.truth_llr] if self.truth_llr is not None else []
        return sorted(set().union(*(e.branches for e in exprs)))


@dataclass(frozen=True)
class FeaturePartSpec:
    """What one features job reads: entries ``[entry_start, entry_stop)`` of input file ``file_index``.

    ``entry_start`` / ``entry_stop`` None: the whole file. ``part`` numbers the parts of a sample from 0,
    in the order of its files and entries: the order of the sample's events in every table.
    """

    part: int
    file: str
    file_index: int
    entry_start: int | None = None
    entry_stop: int | None = None

    def to_dict(self) -> dict:
        return {"part": self.part, "file": self.file, "file_index": self.file_index,
                "entry_start": self.entry_start, "entry_stop": self.entry_stop}


def plan_parts(files: Sequence[str], entries: Sequence[int] | None = None,
               entries_per_job: int | None = None) -> list[FeaturePartSpec]:
    """The parts of a sample with input ``files``: one per file, or ``entries_per_job`` entries at most each.

    ``entries`` (the tree's entries in each file) is needed only when ``entries_per_job`` is given; a file
    of no entries is still one (empty) part, so that every file is accounted for.
    """
    if entries_per_job is None:
        return [FeaturePartSpec(i, f, i) for i, f in enumerate(files)]
    if entries is None or len(entries) != len(files):
        raise ValueError("plan_parts: entries_per_job needs the entry count of every file")
    step = int(entries_per_job)
    if step < 1:
        raise ValueError(f"entries_per_job must be >= 1, got {entries_per_job}")
    parts: list[FeaturePartSpec] = []
    for i, (f, n) in enumerate(zip(files, entries)):
        if n <= step:
            parts.append(FeaturePartSpec(len(parts), f, i))
            continue
        k = -(-int(n) // step)  # ranges of equal size (within one entry), none larger than the step
        bounds = [int(n) * j // k for j in range(k + 1)]
        parts += [FeaturePartSpec(len(parts) + j, f, i, bounds[j], bounds[j + 1]) for j in range(k)]
    return parts


def apply_variations(sample: Mapping) -> dict[str, tuple[list[str], str]]:
    """The tree variations of an apply sample: ``{variation: (file patterns, tree)}``, ``nominal`` first."""
    tree = sample.get("tree", "Events")
    out = {"nominal": (list(sample["files"]), tree)}
    for var, spec in (sample.get("variations") or {}).items():
        out[var] = (list(spec["files"]), spec.get("tree", tree))
    return out


def plan_apply_parts(sample: Mapping, plan: Callable[[list[str], str], list[FeaturePartSpec]]) -> dict[str, list[dict]]:
    """The parts of an apply sample, per variation (``nominal`` first, then its tree variations).

    ``plan(file_patterns, tree)`` plans one variation's files (:func:`plan_parts` on the expanded files, with
    their entry counts when files are split). Each part is :meth:`FeaturePartSpec.to_dict` plus ``variation``,
    ``tree``, ``name`` (:func:`part_names`: its friend tree ``friends/{variation}/{name}.root`` and table
    part ``parts/{variation}/{name}.parquet``) and ``sums`` (True: a simulated sample whose cross-section
    or sum of weights is read from the files, so each part has a sum-of-weights pass).
    """
    sums = sample["kind"] == "mc" and not (isinstance(sample.get("xsec_pb"), (int, float))
                                           and isinstance(sample.get("sum_weights", "auto"), (int, float)))
    out = {}
    for var, (patterns, tree) in apply_variations(sample).items():
        specs = plan(patterns, tree)
        out[var] = [spec.to_dict() | {"variation": var, "tree": tree, "name": name, "sums": sums}
                    for spec, name in zip(specs, part_names(specs))]
    return out


def part_names(parts: Sequence[FeaturePartSpec]) -> list[str]:
    """A file name (without suffix) for each part: ``{file_index}_{stem}`` for a whole input file (the friend
    tree ``{file_index}_{stem}.root`` of ``dir/{stem}.root``), ``{file_index}_{stem}.entries-{start}-{stop}``
    for an entry range, zero-padded to the file's entry count so that a file's ranges sort in entry order.
    """
    width: dict[int, int] = {}
    for p in parts:
        width[p.file_index] = max(width.get(p.file_index, 1), len(str(p.entry_stop or 0)))
    names = []
    for p in parts:
        stem = f"{p.file_index}_{_file_stem(p.file)}"
        if p.entry_start is not None or p.entry_stop is not None:
            w = width[p.file_index]
            stem += f".entries-{p.entry_start or 0:0{w}d}-{p.entry_stop:0{w}d}"
        names.append(stem)
    return names


def _file_stem(path: str) -> str:
    name = str(path).rstrip("/").rsplit("/", 1)[-1]
    return name[:-len(".root")] if name.endswith(".root") else name


def compile_program(features: Sequence[Mapping], *, event_id: str = "event", selections: Sequence[str | None] = (),
                    weights: Mapping[str, str | None] | None = None, spectators: Sequence[Mapping] = (),
                    truth_llr: str | None = None, define: Mapping[str, str] | None = None,
                    aliases: Mapping[str, str] | None = None) -> FeatureProgram:
    """Compile the expressions of a reading pass.

    Parameters
    ----------
    features, spectators : sequence of mapping
        Config blocks with ``name``, ``expr`` and optional ``default``.
    event_id : str
        Event-id expression (an unsigned integer branch).
    selections : sequence of str or None
        Selections, AND-ed (None / empty entries are skipped).
    weights : mapping of str to str or None
        Output column -> generator-weight expression (None = unit weights); default ``{"weight": None}``.
    truth_llr : str, optional
        Exact log-likelihood-ratio branch (generator truth).
    define, aliases : mapping of str to str, optional
        Named definitions and branch aliases (config ``define:`` / ``aliases:``) the expressions use.
    """
    definitions = make_definitions(define, aliases)

    def comp(text):
        return compile_expression(text, definitions)

    def blocks(items):
        return tuple((b["name"], comp(b["expr"]), b.get("default")) for b in items)

    weights = {"weight": None} if weights is None else weights
    return FeatureProgram(
        features=blocks(features), spectators=blocks(spectators),
        cuts=tuple(comp(s) for s in selections if s),
        weights=tuple((k, comp(v) if v else None) for k, v in weights.items()),
        event_id=comp(event_id),
        truth_llr=comp(truth_llr) if truth_llr else None,
        definitions=definitions,
    )


def check_branches(program: FeatureProgram, source: str | io.RootFile, tree: str) -> None:
    """Raise :class:`~hepmva.io.InputError` naming the file and the feature whose branch ``tree`` lacks.

    ``source`` is a path or an open :class:`~hepmva.io.RootFile` (the part's one open of its file).
    """
    if isinstance(source, io.RootFile):
        path, available = source.path, source.branch_names(tree)
    else:
        path = source
        with io.RootFile(source) as f:
            available = f.branch_names(tree)
    named = [(f"feature '{n}'", e) for n, e, _ in program.features]
    named += [(f"spectator '{n}'", e) for n, e, _ in program.spectators]
    named += [("selection", e) for e in program.cuts]
    named += [(f"weight '{n}'", e) for n, e in program.weights if e is not None]
    named += [("event id", program.event_id)]
    for what, expr in named:
        missing = sorted(expr.branches - available)
        if missing:
            raise io.InputError(
                f"{path}:{tree}: {what} = '{expr.text}' needs branch {', '.join(repr(m) for m in missing)}, "
                f"which the tree lacks; available: {', '.join(sorted(available))}"
            )


def evaluate_chunk(program: FeatureProgram, chunk, *, path: str, entry_start: int) -> dict[str, np.ndarray]:
    """Select the events of one chunk and evaluate the program on them.

    Returns
    -------
    dict of str to ndarray of shape (n_selected,)
        Every feature and spectator (float64), every weight column (generator weights, float64),
        ``event`` (uint64), ``entry`` (int64, entry number in the tree) and ``truth_llr`` when asked for.
        Empty arrays when nothing passes.
    """
    n = len(chunk)
    mask = np.ones(n, dtype=bool)
    cache: dict = {}  # definitions computed once per chunk, shared by the expressions
    for cut in program.cuts:
        mask &= _selection(cut, chunk, path, cache)
    selected = np.flatnonzero(mask)
    sel = chunk if len(selected) == n else _select(chunk, mask)
    cache = {}
    cols: dict[str, np.ndarray] = {}
    for kind, defs in (("feature", program.features), ("spectator", program.spectators)):
        for name, expr, default in defs:
            values = _evaluate(expr, sel, path, f"{kind} '{name}'", default=default, cache=cache)
            bad = ~np.isfinite(values)
            if bad.any():
                raise io.InputError(
                    f"{path}: {kind} '{name}' = '{expr.text}' is NaN/inf in {int(bad.sum())} event(s) "
                    f"(first at entry {entry_start + int(selected[np.argmax(bad)])})"
                )
            cols[name] = values
    for column, expr in program.weights:
        w = np.ones(len(selected)) if expr is None else _evaluate(expr, sel, path, f"weight '{column}'", cache=cache)
        if not np.all(np.isfinite(w)):
            raise io.InputError(f"{path}: weight '{column}' = '{expr.text}' is NaN/inf in some events")
        cols[column] = w
    cols["event"] = np.asarray(_evaluate(program.event_id, sel, path, "event id", raw=True)).astype(np.uint64)
    cols["entry"] = entry_start + selected.astype(np.int64)
    if program.truth_llr is not None:
        cols["truth_llr"] = _evaluate(program.truth_llr, sel, path, "truth_llr")
    return cols


def _select(chunk, mask: np.ndarray) -> dict:
    """The selected events of every branch of ``chunk``, branch by branch: flat branches as numpy arrays (the
    expressions then compute on plain buffers), jagged ones as awkward lists over the same content (no copy).

    A jagged branch of numbers (what uproot reads: offsets over a number buffer) is the
    ``ListArray(starts[mask], stops[mask], content)`` that awkward's ``field[mask]`` builds, made here from its
    offsets without awkward's dispatch (~0.5 ms a branch and chunk); anything else goes through awkward."""
    out = {}
    record = chunk.layout if isinstance(chunk, ak.Array) else None
    plain = isinstance(record, ak.contents.RecordArray) and not record.parameters
    for name in chunk.fields:
        layout = record.content(name)[: len(record)] if plain else chunk[name].layout
        if isinstance(layout, ak.contents.NumpyArray) and not layout.parameters and layout.data.ndim == 1:
            out[name] = np.asarray(layout.data)[mask]
        elif (isinstance(layout, ak.contents.ListOffsetArray) and not layout.parameters
              and isinstance(layout.content, ak.contents.NumpyArray) and not layout.content.parameters
              and layout.content.data.ndim == 1):
            offsets = np.asarray(layout.offsets)
            out[name] = ak.Array(ak.contents.ListArray(ak.index.Index64(offsets[:-1][mask].astype(np.int64, copy=False)),
                                                       ak.index.Index64(offsets[1:][mask].astype(np.int64, copy=False)),
                                                       layout.content))
        else:
            out[name] = chunk[name][mask]
    return out


def chunk_weights(program: FeatureProgram, chunk, *, path: str) -> np.ndarray:
    """The generator weight (first weight column) of every event of ``chunk``, before any selection (float64)."""
    expr = program.weights[0][1]
    if expr is None:
        return np.ones(len(chunk))
    w = _evaluate(expr, chunk, path, f"weight '{program.weights[0][0]}'")
    if not np.all(np.isfinite(w)):
        raise io.InputError(f"{path}: weight '{program.weights[0][0]}' = '{expr.text}' is NaN/inf in some events")
    return w


def part_file_metadata(sample: Mapping, source: io.RootFile, start: int) -> dict:
    """The cross-section and the sum of weights one part takes from its file's metadata tree, if the sample asks.

    ``source`` is the part's open file. ``sample["xsec_pb"]`` as ``{tree, branch}``: the file's value (key
    ``xsec_pb``); ``sample["sum_weights"]`` as ``{tree, branch}``: the file's sum (key ``file_sum_weights``),
    counted once, by the part that starts at the file's first entry (``start == 0``). Numbers and ``auto`` need
    nothing from the file.
    """
    out = {}
    xsec = sample.get("xsec_pb")
    if isinstance(xsec, Mapping):
        out["xsec_pb"] = source.metadata_value(xsec["tree"], xsec["branch"])
    sumw = sample.get("sum_weights", "auto")
    if isinstance(sumw, Mapping) and start == 0:
        out["file_sum_weights"] = source.metadata_sum(sumw["tree"], sumw["branch"])
    return out


def part_weight_sums(sample: Mapping, part: FeaturePartSpec, weight: Expression | None, *, tree: str,
                     step_size: int | str = io.DEFAULT_STEP_SIZE) -> dict:
    """What one part of a simulated sample contributes to the sample's cross-section and sum of weights.

    ``sum_weights: auto``: the exact sum (:class:`~hepmva.samples.ExactSum`, as text, key ``sum_weights_read``)
    of the generator weight ``weight`` over every entry of the part, before any selection (only the
    weight's branches are read; unit weights: the entry count); metadata references: the file's values
    (:func:`part_file_metadata`). The parts' records merge with :func:`merged_scale`, the same bits however
    the sample's files are split. The file is opened once.
    """
    path = part.file
    with io.RootFile(path) as source:
        n_entries = source.num_entries(tree)
        start = part.entry_start or 0
        stop = n_entries if part.entry_stop is None else min(int(part.entry_stop), n_entries)
        out = {**part.to_dict(), "tree": tree, "entry_start": start, "entry_stop": stop,
               "n_read": max(stop - start, 0), "sum_weights_read": None}
        if sample.get("sum_weights", "auto") == "auto":
            total, n = ExactSum(), max(stop - start, 0)
            if weight is None:
                total.add_count(n)
            elif not weight.branches:  # a constant weight expression: n times its value
                value = float(_evaluate(weight, {}, path, "weight"))
                for k in range(0, n, 1 << 24):
                    total.add(np.full(min(1 << 24, n - k), value))
            elif n:
                for _, chunk in source.iterate(tree, sorted(weight.branches), step_size=step_size,
                                               entry_start=start, entry_stop=stop):
                    w = _evaluate(weight, chunk, path, "weight")
                    if not np.all(np.isfinite(w)):
                        raise io.InputError(f"{path}: weight = '{weight.text}' is NaN/inf in some events")
                    total.add(w)
            out["sum_weights_read"] = total.to_text()
        return out | part_file_metadata(sample, source, start)


def merged_scale(sample: Mapping, metas: Sequence[Mapping], luminosity_pb: float, *,
                 tree: str | None = None) -> tuple[float, float, float]:
    """``(xsec_pb, sum_weights, factor)`` of a simulated sample from its parts' records; physics weight =
    generator weight x factor (``xsec * L / sum_w``, :func:`hepmva.samples.physics_weights`).

    ``metas`` hold ``file``, ``n_read`` and what :func:`part_weight_sums` (or a features part's footer)
    records: ``sample["xsec_pb"]`` a number or ``{tree, branch}`` (a per-file constant: the files must
    agree); ``sample["sum_weights"]`` a number, ``{tree, branch}`` (summed over the files) or ``auto`` (the
    exact sum of the parts' sums of the generator weights before any selection).

    Raises
    ------
    InputError
        One line naming the sample and its files: files that disagree on the cross-section, ``auto`` on
        an empty tree or to a sum that is not > 0.
    """
    name, tree = sample.get("name", "?"), tree or sample.get("tree", "Events")
    where = ", ".join(dict.fromkeys(m["file"] for m in metas))
    n_read = sum(m["n_read"] for m in metas)
    xsec = _merged_xsec(name, sample["xsec_pb"], metas)
    sumw = _merged_sum_weights(name, tree, sample.get("sum_weights", "auto"), metas, n_read, where)
    return xsec, sumw, float(physics_weights(np.ones(1), xsec, luminosity_pb, sumw)[0])


def _merged_xsec(name: str, spec, metas: Sequence[Mapping]) -> float:
    if not isinstance(spec, Mapping):
        return float(spec)
    values = sorted({m["xsec_pb"] for m in metas})
    if len(values) != 1:
        raise io.InputError(f"sample '{name}': {spec['tree']}/{spec['branch']}: files disagree on the cross-section "
                            f"({values}) in {', '.join(dict.fromkeys(m['file'] for m in metas))}")
    return float(values[0])


def _merged_sum_weights(name: str, tree: str, spec, metas: Sequence[Mapping], n_read: int, where: str) -> float:
    if isinstance(spec, Mapping):
        return float(sum(m["file_sum_weights"] for m in metas if "file_sum_weights" in m))
    if spec != "auto":
        return float(spec)
    total = ExactSum()
    for m in metas:
        total += ExactSum.from_text(m["sum_weights_read"])
    return checked_auto_sum_of_weights(name, tree, total.value, n_read, where)


def checked_auto_sum_of_weights(name: str, tree: str, sumw: float, n: int, where: str) -> float:
    """``sum_weights: auto`` of sample ``name``: ``sumw`` over its ``n`` events in ``where``, checked and logged.

    Raises
    ------
    InputError
        One line: no entries (auto cannot work), or a sum that is not > 0.
    """
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
