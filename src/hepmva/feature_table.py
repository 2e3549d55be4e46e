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
- :func:`sample_scale` resolves a sample's cross-section and sum of weights into the per-event factor
  ``xsec * L / sum_w`` (the physics weight is ``generator weight x factor``, :mod:`hepmva.samples`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hepmva import io
from hepmva.features import Definitions, Expression, compile_expression, evaluate_selection, make_definitions
from hepmva.samples import physics_weights

log = logging.getLogger(__name__)

__all__ = ["FeatureProgram", "FeaturePartSpec", "compile_program", "check_branches", "evaluate_chunk", "chunk_weights", "plan_parts",
           "sample_scale"]


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


def check_branches(program: FeatureProgram, path: str, tree: str) -> None:
    """Raise :class:`~hepmva.io.InputError` naming ``path`` and the feature whose branch ``tree`` lacks."""
    t = io.open_tree(path, tree)
    try:
        available = set(t.keys(full_paths=False)) | set(t.keys())
    finally:
        t.file.close()
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
    sel = chunk[mask]
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
        w = np.ones(len(sel)) if expr is None else _evaluate(expr, sel, path, f"weight '{column}'", cache=cache)
        if not np.all(np.isfinite(w)):
            raise io.InputError(f"{path}: weight '{column}' = '{expr.text}' is NaN/inf in some events")
        cols[column] = w
    cols["event"] = np.asarray(_evaluate(program.event_id, sel, path, "event id", raw=True)).astype(np.uint64)
    cols["entry"] = entry_start + selected.astype(np.int64)
    if program.truth_llr is not None:
        cols["truth_llr"] = _evaluate(program.truth_llr, sel, path, "truth_llr")
    return cols


def chunk_weights(program: FeatureProgram, chunk, *, path: str) -> np.ndarray:
    """The generator weight (first weight column) of every event of ``chunk``, before any selection (float64)."""
    expr = program.weights[0][1]
    if expr is None:
        return np.ones(len(chunk))
    w = _evaluate(expr, chunk, path, f"weight '{program.weights[0][0]}'")
    if not np.all(np.isfinite(w)):
        raise io.InputError(f"{path}: weight '{program.weights[0][0]}' = '{expr.text}' is NaN/inf in some events")
    return w


def sample_scale(sample: Mapping, files: Sequence[str], luminosity_pb: float, weight: Expression | str | None,
                 step_size: int | str = "50 MB") -> tuple[float, float, float]:
    """``(xsec_pb, sum_weights, factor)`` of a simulated sample; physics weight = generator weight x factor.

    ``sample["xsec_pb"]`` is a number or ``{tree, branch}`` (a per-file constant);
    ``sample["sum_weights"]`` a number, ``{tree, branch}`` (summed over the files) or ``"auto"``
    (a cheap first pass summing ``weight`` over every event of ``files``, before any selection);
    ``weight`` is the generator-weight expression, compiled (with the study's definitions) or text.
    """
    xsec = _resolve_number(sample["xsec_pb"], files, "xsec_pb")
    spec = sample.get("sum_weights", "auto")
    tree = sample.get("tree", "Events")
    if spec == "auto":
        sumw = _auto_sum_of_weights(sample.get("name", "?"), files, tree,
                                    compile_expression(weight) if weight else None, step_size)
    else:
        sumw = _resolve_number(spec, files, "sum_weights")
    return xsec, sumw, float(physics_weights(np.ones(1), xsec, luminosity_pb, sumw)[0])


def _resolve_number(spec, files: Sequence[str], what: str) -> float:
    if isinstance(spec, (int, float)):
        return float(spec)
    if what == "xsec_pb":
        return io.read_metadata_value(files, spec["tree"], spec["branch"])
    return io.read_metadata_sum(files, spec["tree"], spec["branch"])


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
