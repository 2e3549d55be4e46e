"""The safe expression language for features and selections.

Features and selections in the study configuration are short expressions over
the branches of a ROOT tree, for example::

    features:
      - {name: met,       expr: "met"}
      - {name: lead_jet,  expr: "jet_pt[0]", default: -1}
      - {name: n_central, expr: "count(abs(jet_eta) < 2.5)"}
      - {name: mjj,       expr: "inv_mass(jet_pt, jet_eta, jet_phi)", default: -1}   # outside the physical range: events with < 2 jets are not a spike at 0
    selection: "(met > 20) & (count(jet_pt > 30) >= 2)"

An expression is parsed once with :func:`ast.parse` (``mode="eval"``) and its
syntax tree is checked against a whitelist; it is then evaluated by walking
that tree over awkward/numpy arrays.  Nothing is ever passed to ``eval``,
``exec`` or compiled to code, so an expression can only do what is listed
here.

Values
------
Each value is one of

* a **constant**: ``20``, ``2.5``, ``1e3``, ``True``, ``False``, ``pi``;
* an **event-level** array, one value per event: scalar branches (``met``,
  ``njet``, ``event``), reductions, indexed objects;
* a **jagged** array, a variable-length list of objects per event:
  ``jet_pt``, ``lep_eta``, ``jet_pt > 30``.

Event-level values broadcast against jagged ones (``jet_pt / met`` divides each
jet's pT by its event's MET).  Names are branch names (Python identifiers; names
starting with ``__`` are refused); ``pi`` is a reserved constant.

Operators
---------
========================  =====================================================
``+ - * / ** % //``       arithmetic (``**`` is computed in float64); unary ``-``
``== != < <= > >=``       comparisons; chains ``0 < x < 1`` mean
                          ``(0 < x) & (x < 1)``
``& | ^ ~``               elementwise and / or / xor / not of **booleans**
``and or not``            the same as ``& | ~`` (elementwise, not Python's)
``( )``                   grouping
``x[i]``                  object ``i`` of each event (``i`` a constant integer,
                          ``-1`` is the last one); *missing* when the event has
                          too few objects
``x[mask]``               keep the objects where a jagged boolean mask is true:
                          ``jet_pt[abs(jet_eta) < 2.5]``
========================  =====================================================

Beware of precedence: ``&`` and ``|`` bind tighter than comparisons, so write
``(met > 20) & (njet >= 2)``.  The unparenthesised form is refused with an
error saying so.  Booleans used in arithmetic count as 0/1:
``(met > 20) + (njet > 2)`` is 0, 1 or 2.

Functions
---------
Elementwise (work on constants, event-level and jagged values):

* ``abs sqrt log log10 exp sin cos tan sinh cosh tanh``,
  ``arcsin``/``asin``, ``arccos``/``acos``, ``arctan``/``atan``,
  ``arctan2(y, x)``/``atan2(y, x)``, ``hypot(x, y)``
* ``min(a, b, ...)``, ``max(a, b, ...)`` with two or more arguments:
  elementwise minimum / maximum
* ``where(cond, a, b)``: ``a`` where ``cond`` is true, else ``b``
* ``fill(x, value)``: replace missing entries of ``x`` by ``value``

Reductions over the objects of each event (argument must be jagged; result is
event-level):

* ``count(x)``: number of objects; of a boolean mask, the number of true
  entries: ``count(jet_pt > 30)``.  Empty event: 0.
* ``sum(x)`` (empty: 0), ``max(x)``, ``min(x)``, ``mean(x)`` (empty: missing)
* ``any(mask)`` (empty: False), ``all(mask)`` (empty: True)

HEP helpers (angles in radians, massless objects unless a mass is given):

* ``delta_phi(phi1, phi2)``: ``phi1 - phi2`` wrapped to ``[-pi, pi)``
* ``delta_r(eta1, phi1, eta2, phi2)``: ``sqrt(deta**2 + delta_phi**2)``
* ``inv_mass(pt, eta, phi[, mass], i=0, j=1)``: invariant mass of objects
  ``i`` and ``j`` of one jagged collection, e.g. the two leading jets; missing
  when the event has too few objects.  ``mass`` is a constant or a jagged
  branch (may also be given as ``mass=...``).
* ``pair_mass(pt1, eta1, phi1, pt2, eta2, phi2[, m1, m2])``: invariant mass
  of two objects given by their kinematics, e.g.
  ``pair_mass(lep_pt[0], lep_eta[0], lep_phi[0], jet_pt[0], jet_eta[0], jet_phi[0])``
* ``mt(pt1, phi1, pt2, phi2)``: transverse mass
  ``sqrt(2 pt1 pt2 (1 - cos(phi1 - phi2)))``, e.g.
  ``mt(lep_pt[0], lep_phi[0], met, met_phi)``
* a scalar sum such as HT is just ``sum(jet_pt)``.

Collections and combinatorics (four-vector sums by scikit-hep ``vector``):

* ``objects(pt=lep_pt, eta=lep_eta, phi=lep_phi, mass=0.1057, charge=lep_q)``:
  a collection of objects from parallel jagged branches (constants and
  event-level values broadcast); ``lep.pt`` reads a field, ``lep[0]``,
  ``lep[lep.pt > 10]`` and ``count(lep)`` work as for branches.  Without a
  ``mass`` field objects are massless.
* ``concat(a, b, ...)``: the objects of several collections with the same
  fields, per event (electrons and muons into leptons).
* ``pairs(x)``: every pair ``i < j`` within ``x``; ``pairs(x, y)``: every
  object of ``x`` with every object of ``y``; ``combinations(x, n)``: every
  n-tuple (``n`` = 2..4).  Members are ``first``, ``second``, ``third``,
  ``fourth``: ``ll[ll.first.charge != ll.second.charge]`` keeps the
  opposite-charge pairs.
* ``min_by(x, key)`` / ``max_by(x, key)``: per event, the element of ``x``
  with the smallest / largest ``key`` (one number per element), missing when
  there is none: ``min_by(ll, abs(mass(ll) - 91.19))``.
* ``others(x, chosen)``: the objects of ``x`` that are not in ``chosen`` (an
  object or a pair picked from ``x``; objects of other collections in a cross
  pair are ignored); missing when ``chosen`` is.
* ``mass(a, b, ...)``, ``pt(...)``, ``eta(...)``, ``phi(...)``: of the
  four-vector sum of all the objects given (objects, pairs, n-tuples):
  ``mass(z1)``, ``mass(z1, z2)``, ``pt(lep[0], lep[1], jet[0])``.

Definitions and aliases
-----------------------
:func:`make_definitions` (the config's ``define:`` and ``aliases:`` blocks)
names expressions once, e.g. ``z1: "min_by(sfos, abs(mass(sfos) - 91.19))"``,
so features, selections and weights write ``mass(z1)``; definitions may use
each other (cycles are refused) and are computed once per chunk.  Aliases give
identifier names to branches that are not identifiers
(``{"el_pt": "Electron.pt"}``).  The four-lepton recipe (Z1, Z2, m4l, pT4l) is
in ``config/README.md`` and tested against a loop over events.

Recipes
-------
Each line is checked by the test suite (``tests/test_features.py``).

=====================================================================  ===========================================
``sum(jet_pt)``                                                        HT, scalar sum of jet pT (0 without jets)
``count((jet_pt > 30) & (abs(jet_eta) < 2.5))``                        central jets above 30 GeV
``fill(jet_pt[0], 0)``                                                 leading-jet pT, 0 without jets
``jet_pt[1] / jet_pt[0]``                                              sub-leading over leading pT (set a default)
``sum(jet_pt[jet_pt > 30])``                                           pT sum of the jets above 30 GeV
``jet_eta[jet_pt > 50][0]``                                            eta of the first jet above 50 GeV
``jet_eta[jet_pt == max(jet_pt)][0]``                                  eta of the object with the largest pT
``abs(jet_eta[0] - jet_eta[1])``                                       rapidity gap of the two leading jets
``inv_mass(jet_pt, jet_eta, jet_phi)``                                 dijet mass of the two leading jets
``inv_mass(lep_pt, lep_eta, lep_phi, mass=0.1057)``                    dimuon mass
``delta_r(jet_eta[0], jet_phi[0], jet_eta[1], jet_phi[1])``            Delta R of the two leading jets
``min(delta_r(lep_eta[0], lep_phi[0], jet_eta, jet_phi))``             Delta R of the lepton to the closest jet
``min(abs(delta_phi(jet_phi, met_phi)))``                              min Delta phi(jet, MET)
``mt(lep_pt[0], lep_phi[0], met, met_phi)``                            W transverse mass
``met / sqrt(fill(sum(jet_pt), 0) + 1)``                               MET significance proxy
``where(count(lep_pt) > 0, lep_pt[0], -1)``                            choose per event (= ``fill(lep_pt[0], -1)``)
``(count(lep_pt) >= 1) & ((njet == 0) | (jet_pt[0] > 30))``            a selection (three-valued logic)
=====================================================================  ===========================================

Missing values
--------------
``x[i]`` for an event with too few objects, and ``max``/``min``/``mean`` of an
empty list, are *missing*.  Missing propagates through arithmetic and
comparisons (``jet_pt[1] > 30`` is missing, not False, when there is no second
jet).  ``&``/``and`` and ``|``/``or`` use three-valued logic, so a known
operand decides when it can: ``False & missing`` is False and
``True | missing`` is True, hence ``(njet == 0) | (jet_pt[0] > 30)`` is True
for events without jets.  ``fill(x, value)`` replaces missing entries inline.

* A **feature** whose final value still has missing entries gets the
  feature's ``default`` (``Expression.evaluate(arrays, default=...)``); with
  no default this is an error telling you to set ``default:``.
* A **selection** treats a missing result as *False*: the event is rejected
  (``jet_pt[1] > 30`` rejects events without a second jet).  Note that
  ``~(jet_pt[1] > 30)`` rejects them too; write
  ``fill(jet_pt[1], 0) <= 30`` if those events should pass.

Results are float64, bool for boolean expressions, and keep their exact
integer dtype for integer results (``count(jet_pt)``, ``event``,
``event % 2``), so 64-bit event ids never round through float.

Floating-point edge cases follow numpy without warnings: ``log(0)`` is
``-inf``, ``sqrt(-1)`` and ``0/0`` are ``nan``.

Errors
------
Every problem raises a one-line :class:`ValueError` that quotes the expression:
syntax errors, constructs outside the whitelist (attribute access, lambdas,
comprehensions, strings, calls of other functions, ...), unknown branches
(listing the available ones), a jagged final result (reduce it with
``count``/``sum``/``max``/``[i]``), a non-boolean selection, and expressions
longer than :data:`MAX_LENGTH` characters, with more than :data:`MAX_NODES`
syntax nodes or nested deeper than :data:`MAX_DEPTH`, ``pairs``/``combinations``
that would build more than :data:`MAX_COMBINATIONS` tuples in one chunk, a
field a collection does not have (``lep.ptt``), and definitions that use
themselves.  Attribute syntax (``lep.pt``) only reads a field of a collection
built in the language or read from the file; names starting with ``_`` are
refused, and nothing is looked up on Python objects.

API
---
>>> expr = compile_expression("fill(jet_pt[0], 0) + met")
>>> sorted(expr.branches)
['jet_pt', 'met']
>>> import awkward as ak
>>> arrays = ak.Array({"jet_pt": [[50.0, 20.0], []], "met": [10.0, 5.0]})
>>> expr.evaluate(arrays)
array([60.,  5.])
>>> evaluate_selection("count(jet_pt > 30) >= 1", arrays)
array([ True, False])
"""

from __future__ import annotations

import ast
import difflib
import functools
import logging
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np

from hepmva.errors import ExpressionError

__all__ = [
    "ALLOWED_FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_NODES",
    "MAX_COMBINATIONS",
    "MAX_DEFINITIONS",
    "Definitions",
    "Expression",
    "compile_expression",
    "make_definitions",
    "evaluate_selection",
    "required_branches",
]

logger = logging.getLogger(__name__)

#: Most tuples pairs()/combinations() may build in one chunk (memory guard).
MAX_COMBINATIONS = 20_000_000
#: Longest accepted expression, in characters.
MAX_LENGTH = 2000
#: Most syntax-tree nodes in one expression.
MAX_NODES = 600
#: Deepest nesting of the syntax tree.
MAX_DEPTH = 100

_CONSTANTS: dict[str, float] = {"pi": float(np.pi)}
_MAX_INDEX = 2**31 - 1

# ---------------------------------------------------------------------------
# value helpers
# ---------------------------------------------------------------------------


class _ExprError(ExpressionError):
    """A ValueError whose message is already final (names the expression)."""


def _quote(text: str, limit: int = 160) -> str:
    """Return ``text`` quoted on one line, shortened past ``limit`` characters."""
    if len(text) > limit:
        text = text[:limit] + "..."
    return repr(text)


def _is_scalar(v: Any) -> bool:
    return isinstance(v, (bool, int, float, np.generic))


_TEXT_ARRAYS = ("string", "bytestring", "char", "byte")


def _describe(v: Any) -> tuple[int, str | None]:
    """Return (list depth, primitive) of a value.

    depth 0 is one value per event (or a constant), 1 is jagged (a list of
    objects per event); primitive is ``"bool"``, a numpy number name such as
    ``"float64"``, or None for anything else (records, strings).

    Read from the layout (what ``ak.type`` describes, without building the type: the evaluator asks this of
    every operand, and ``ak.type`` cost ~80 us a call, a sixth of evaluating the default study's features).
    """
    if _is_scalar(v):
        return 0, "bool" if isinstance(v, (bool, np.bool_)) else "float64"
    layout = ak.to_layout(v) if not isinstance(v, ak.Array) else v.layout
    depth = 0
    while True:
        if layout.parameter("__array__") in _TEXT_ARRAYS:
            return depth, None
        if layout.is_list or layout.is_regular:
            depth += 1
            layout = layout.content
        elif layout.is_option or layout.is_indexed:
            layout = layout.content
        elif layout.is_numpy:
            return depth + layout.data.ndim - 1, ak.types.numpytype.dtype_to_primitive(layout.dtype)
        else:
            return depth, None


def _is_optional(v: Any) -> bool:
    """True if the value's type allows missing entries (at any level)."""
    if _is_scalar(v):
        return False
    layout = ak.to_layout(v) if not isinstance(v, ak.Array) else v.layout
    while hasattr(layout, "content"):
        if layout.is_option:
            return True
        layout = layout.content
    return False


def _kleene(ufunc: np.ufunc, a: Any, b: Any) -> Any:
    """``&``/``|`` with three-valued logic: False & missing is False, True | missing is True."""
    if not (_is_optional(a) or _is_optional(b)) or ufunc is np.logical_xor:
        return ufunc(a, b)
    lo = ufunc(_fill_scalar(a, False), _fill_scalar(b, False))
    hi = ufunc(_fill_scalar(a, True), _fill_scalar(b, True))
    return ak.mask(lo, lo == hi)


def _fill_scalar(v: Any, value: bool) -> Any:
    return v if _is_scalar(v) else ak.fill_none(v, value, axis=-1)  # leaves only: a missing list stays missing


def _depth(v: Any) -> int:
    return _describe(v)[0]


def _is_bool(v: Any) -> bool:
    return _describe(v)[1] == "bool"


def _numeric(v: Any) -> Any:
    """Booleans count as 0/1 in arithmetic; everything else passes through."""
    if _is_scalar(v):
        if isinstance(v, (bool, np.bool_)):
            return int(v)
        return v
    if isinstance(v, np.ndarray):  # inside _on_flat_buffers
        return v.astype(np.int64) if v.dtype == np.bool_ else v
    if _is_bool(v):
        return ak.values_astype(v, np.int64)
    return v


def _float(v: Any) -> Any:
    """Cast to float64 (constants and arrays)."""
    if _is_scalar(v):
        return np.float64(v)
    if isinstance(v, np.ndarray):  # inside _on_flat_buffers
        return v.astype(np.float64)
    return ak.values_astype(v, np.float64)


def _flat_buffer(v: Any) -> tuple[Any, np.ndarray | None] | None:
    """``(values, valid)`` of a constant or a one-value-per-event array of numbers, in numpy; None otherwise.

    ``valid`` is None when nothing is missing; where it is False, ``values`` holds an arbitrary number.
    """
    if _is_scalar(v):
        return v, None
    if not isinstance(v, ak.Array) or ak.backend(v) != "cpu":
        return None
    layout, valid = v.layout, None
    if isinstance(layout, ak.contents.ByteMaskedArray) and not layout.parameters:
        valid = layout.mask_as_bool(valid_when=True)
        layout = layout.content
    elif isinstance(layout, ak.contents.IndexedOptionArray) and not layout.parameters:
        index = np.asarray(layout.index)
        valid = index >= 0
        content = layout.content
        if not isinstance(content, ak.contents.NumpyArray) or content.parameters or content.data.ndim != 1:
            return None
        data = np.asarray(content.data)
        return (data[np.where(valid, index, 0)] if len(data) else np.zeros(len(index), data.dtype)), valid
    elif isinstance(layout, ak.contents.UnmaskedArray) and not layout.parameters:
        layout = layout.content
    if not isinstance(layout, ak.contents.NumpyArray) or layout.parameters or layout.data.ndim != 1:
        return None
    return np.asarray(layout.data), valid


def _on_flat_buffers(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a numeric function of one-value-per-event arguments on their numpy buffers.

    awkward's broadcasting of option types (``jet_pt[1]`` is missing without a second jet) costs
    far more than the arithmetic; here the function computes on every buffer slot (missing ones too,
    under the evaluator's ``np.errstate(all="ignore")``) and the result is missing where any argument
    is: the same numbers and the same missing events as awkward gives, several times faster. Jagged
    arguments, records and keywords go to ``fn`` unchanged.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        parts = None if kwargs else [_flat_buffer(a) for a in args]
        if parts is None or any(p is None for p in parts) or all(_is_scalar(a) for a in args):
            return fn(*args, **kwargs)
        out = fn(*(p[0] for p in parts))
        if not isinstance(out, np.ndarray):
            out = np.full(len(next(p[0] for p in parts if isinstance(p[0], np.ndarray))), out)
        masks = [p[1] for p in parts if p[1] is not None]
        if not masks:
            return ak.Array(out)
        valid = functools.reduce(np.logical_and, masks)
        if valid.all():
            return ak.Array(out)
        return ak.Array(ak.contents.ByteMaskedArray(ak.index.Index8(valid.view(np.int8)), ak.contents.NumpyArray(out),
                                                    valid_when=True))

    return wrapper


def _take(x: Any, i: int) -> Any:
    """Object ``i`` of each event of a jagged array (missing if too few)."""
    fast = _take_numbers(x, i)
    if fast is not None:
        return fast
    enough = ak.fill_none(ak.num(x, axis=1) > (i if i >= 0 else -i - 1), False)
    return ak.mask(x, enough)[:, i]


def _take_numbers(x: Any, i: int) -> Any:
    """:func:`_take` of a plain jagged array of numbers, in numpy on its offsets (None for anything else).

    The same values as awkward's ``ak.mask(x, enough)[:, i]``; where every event has the object the result
    has no option type, so that the arithmetic after it stays on plain numpy buffers.
    """
    if not isinstance(x, ak.Array) or ak.backend(x) != "cpu":
        return None
    layout, index = x.layout, None
    if isinstance(layout, ak.contents.IndexedArray) and not layout.parameters:
        index, layout = np.asarray(layout.index), layout.content
    if isinstance(layout, ak.contents.ListOffsetArray):
        offsets = np.asarray(layout.offsets)
        start, stop = offsets[:-1], offsets[1:]
    elif isinstance(layout, ak.contents.ListArray):
        start, stop = np.asarray(layout.starts), np.asarray(layout.stops)
    else:
        return None
    content = layout.content
    if layout.parameters or not isinstance(content, ak.contents.NumpyArray) or content.parameters \
            or content.data.ndim != 1:
        return None
    if index is not None:
        start, stop = start[index], stop[index]
    data = np.asarray(content.data)
    ok = (stop - start) > i if i >= 0 else (stop - start) >= -i
    at = start + i if i >= 0 else stop + i
    if ok.all():
        return ak.Array(data[at])
    values = data[np.where(ok, at, 0)] if len(data) else np.zeros(len(ok), dtype=data.dtype)
    return ak.Array(ak.contents.ByteMaskedArray(ak.index.Index8(ok.view(np.int8)), ak.contents.NumpyArray(values),
                                                valid_when=True))


# ---------------------------------------------------------------------------
# function table
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Function:
    name: str
    min_args: int
    max_args: int
    impl: Callable[..., Any]
    help: str
    keywords: tuple[str, ...] = ()
    int_keywords: tuple[str, ...] = ()
    #: positions of arguments that must be constant integers (combinations(x, n))
    int_positions: tuple[int, ...] = ()
    #: any identifier is a keyword (objects(pt=..., eta=...)); positional arguments are refused
    field_keywords: bool = False
    #: the implementation receives ``tag=`` (a number naming the call, for collections)
    tagged: bool = False


class _Fail(Exception):
    """Raised by function implementations; turned into a ValueError naming the expression."""


def _need_jagged(fname: str, x: Any, hint: str = "") -> None:
    if _is_scalar(x) or _depth(x) < 1:
        raise _Fail(
            f"{fname}() reduces the objects of each event and needs a jagged collection "
            f"such as jet_pt{hint}"
        )


def _reduce_count(x: Any) -> Any:
    _need_jagged("count", x)
    if _describe(x)[1] is None:  # objects (records): count the objects
        return ak.num(x, axis=1)
    if _is_bool(x):
        return ak.count_nonzero(x, axis=-1)
    return ak.count(x, axis=-1)


def _reduce_sum(x: Any) -> Any:
    _need_jagged("sum", x)
    return ak.sum(_numeric(x), axis=-1)


def _reduce_mean(x: Any) -> Any:
    _need_jagged("mean", x)
    x = _numeric(x)
    n = ak.fill_none(ak.count(x, axis=-1), 0)
    return ak.mask(ak.sum(x, axis=-1) / ak.where(n > 0, n, 1), n > 0)


def _reduce_any(x: Any) -> Any:
    _need_jagged("any", x, " > 30")
    if not _is_bool(x):
        raise _Fail("any() needs a boolean collection, e.g. any(jet_pt > 30)")
    return ak.any(x, axis=-1)


def _reduce_all(x: Any) -> Any:
    _need_jagged("all", x, " > 30")
    if not _is_bool(x):
        raise _Fail("all() needs a boolean collection, e.g. all(jet_pt > 30)")
    return ak.all(x, axis=-1)


def _min(*args: Any) -> Any:
    if len(args) == 1:
        _need_jagged("min", args[0], " (for the elementwise minimum use min(a, b))")
        return ak.min(_numeric(args[0]), axis=-1)
    return functools.reduce(np.minimum, [_numeric(a) for a in args])


def _max(*args: Any) -> Any:
    if len(args) == 1:
        _need_jagged("max", args[0], " (for the elementwise maximum use max(a, b))")
        return ak.max(_numeric(args[0]), axis=-1)
    return functools.reduce(np.maximum, [_numeric(a) for a in args])


def _where(cond: Any, a: Any, b: Any) -> Any:
    if not _is_bool(cond):
        raise _Fail("the first argument of where(cond, a, b) must be boolean, e.g. met > 20")
    if _is_bool(a) != _is_bool(b):
        a, b = _numeric(a), _numeric(b)
    if _is_scalar(cond):
        return a if cond else b
    return ak.where(cond, a, b)


def _fill(x: Any, value: Any) -> Any:
    if _is_scalar(x):
        return x
    if _is_bool(x) != _is_bool(value):
        x, value = _numeric(x), _numeric(value)
    if _is_scalar(value):
        return ak.fill_none(x, value, axis=None)
    return ak.where(ak.is_none(x, axis=-1), value, x)


def _unary(ufunc: np.ufunc) -> Callable[[Any], Any]:
    @_on_flat_buffers
    def f(x: Any) -> Any:
        return ufunc(_numeric(x))

    return f


def _binary(ufunc: np.ufunc) -> Callable[[Any, Any], Any]:
    @_on_flat_buffers
    def f(x: Any, y: Any) -> Any:
        return ufunc(_numeric(x), _numeric(y))

    return f


@_on_flat_buffers
def _delta_phi(phi1: Any, phi2: Any) -> Any:
    dphi = _float(_numeric(phi1)) - _float(_numeric(phi2))
    return (dphi + np.pi) % (2.0 * np.pi) - np.pi


@_on_flat_buffers
def _delta_r(eta1: Any, phi1: Any, eta2: Any, phi2: Any) -> Any:
    deta = _float(_numeric(eta1)) - _float(_numeric(eta2))
    return np.sqrt(deta**2 + _delta_phi(phi1, phi2) ** 2)


@_on_flat_buffers
def _pair_mass(
    pt1: Any, eta1: Any, phi1: Any, pt2: Any, eta2: Any, phi2: Any, m1: Any = 0.0, m2: Any = 0.0
) -> Any:
    pt1, eta1, phi1, pt2, eta2, phi2, m1, m2 = (
        _float(_numeric(v)) for v in (pt1, eta1, phi1, pt2, eta2, phi2, m1, m2)
    )
    if _is_scalar(m1) and _is_scalar(m2) and m1 == 0.0 and m2 == 0.0:
        # massless: m^2 = 2 pt1 pt2 (cosh(deta) - cos(dphi)), numerically stable form
        m2_sum = 2.0 * pt1 * pt2 * (np.cosh(eta1 - eta2) - np.cos(phi1 - phi2))
    else:
        px = pt1 * np.cos(phi1) + pt2 * np.cos(phi2)
        py = pt1 * np.sin(phi1) + pt2 * np.sin(phi2)
        pz = pt1 * np.sinh(eta1) + pt2 * np.sinh(eta2)
        e1 = np.sqrt((pt1 * np.cosh(eta1)) ** 2 + m1**2)
        e2 = np.sqrt((pt2 * np.cosh(eta2)) ** 2 + m2**2)
        m2_sum = (e1 + e2) ** 2 - px**2 - py**2 - pz**2
    return np.sqrt(np.maximum(m2_sum, 0.0))


def _inv_mass(pt: Any, eta: Any, phi: Any, mass: Any = 0.0, *, i: int = 0, j: int = 1) -> Any:
    for v in (pt, eta, phi):
        if _is_scalar(v) or _depth(v) < 1:
            raise _Fail(
                "inv_mass(pt, eta, phi) needs jagged collections such as jet_pt, jet_eta, "
                "jet_phi; for two single objects use pair_mass(pt1, eta1, phi1, pt2, eta2, phi2)"
            )
    if i == j:
        raise _Fail(f"inv_mass() needs two different objects, got i = j = {i}")
    jagged_mass = not _is_scalar(mass) and _depth(mass) >= 1
    m_i = _take(mass, i) if jagged_mass else mass
    m_j = _take(mass, j) if jagged_mass else mass
    return _pair_mass(
        _take(pt, i), _take(eta, i), _take(phi, i), _take(pt, j), _take(eta, j), _take(phi, j),
        m_i, m_j,
    )  # fmt: skip


@_on_flat_buffers
def _mt(pt1: Any, phi1: Any, pt2: Any, phi2: Any) -> Any:
    pt1, pt2 = _float(_numeric(pt1)), _float(_numeric(pt2))
    m2 = 2.0 * pt1 * pt2 * (1.0 - np.cos(_float(_numeric(phi1)) - _float(_numeric(phi2))))
    return np.sqrt(np.maximum(m2, 0.0))


# ---------------------------------------------------------------------------
# objects and combinatorics (records built inside the language)
# ---------------------------------------------------------------------------

#: names of the members of a combination, in order (combinations(x, n) has the first n)
_MEMBERS = ("first", "second", "third", "fourth")
_MAX_COMBINATION = len(_MEMBERS)
#: hidden bookkeeping fields of a collection made by objects()/concat(): the object's index in its
#: event and a number naming the collection, so that others() knows which objects were chosen.
#: Names starting with "_" cannot be written in an expression.
_INDEX, _TAG = "_index", "_tag"
_KINEMATICS = ("pt", "eta", "phi")


def _fields(x: Any) -> list[str]:
    return [] if _is_scalar(x) else [f for f in ak.fields(x) if not f.startswith("_")]


def _is_record(x: Any) -> bool:
    return not _is_scalar(x) and bool(ak.fields(x))


def _objects(fields: dict[str, Any], *, tag: int) -> Any:
    jagged = [v for v in fields.values() if not _is_scalar(v) and _depth(v) >= 1]
    if not jagged:
        raise _Fail(
            "objects() needs at least one jagged field, e.g. objects(pt=lep_pt, eta=lep_eta, phi=lep_phi)"
        )
    for name, v in fields.items():
        if not _is_scalar(v) and (_depth(v) > 1 or _describe(v)[1] is None):
            raise _Fail(f"objects() field {name}= must be numbers or booleans per object or per event")
    ref = jagged[0]
    counts = ak.num(ref, axis=1)
    for v in jagged[1:]:
        if not ak.all(ak.num(v, axis=1) == counts):
            raise _Fail("the fields of objects() must have the same number of objects in every event")
    content = {
        k: ak.full_like(ref, v, dtype=bool if _describe(v)[1] == "bool" else np.float64) if _is_scalar(v) else v
        for k, v in fields.items()
    }
    content[_INDEX] = ak.local_index(ref, axis=1)
    content[_TAG] = ak.full_like(ref, tag, dtype=np.int64)
    return ak.zip(content, depth_limit=None)


def _need_collection(fname: str, x: Any) -> None:
    if _is_scalar(x) or _depth(x) != 1 or not _is_record(x):
        raise _Fail(
            f"{fname}() needs a collection of objects made by objects(...) (or a list of them), "
            f"e.g. {fname}(lep) with lep: objects(pt=lep_pt, eta=lep_eta, phi=lep_phi)"
        )


def _concat(*xs: Any, tag: int) -> Any:
    for x in xs:
        _need_collection("concat", x)
    names = [sorted(_fields(x)) for x in xs]
    if any(n != names[0] for n in names):
        raise _Fail(
            f"concat() needs collections with the same fields, got {' / '.join(', '.join(n) for n in names)}"
        )
    joined = ak.concatenate([x[names[0]] for x in xs], axis=1)
    return ak.with_field(
        ak.with_field(joined, ak.local_index(joined, axis=1), _INDEX),
        ak.full_like(joined[names[0][0]], tag, dtype=np.int64), _TAG,
    )  # fmt: skip


def _pairs(x: Any, y: Any = None) -> Any:
    for v in (x,) if y is None else (x, y):
        if _is_scalar(v) or _depth(v) != 1:
            raise _Fail("pairs() needs collections (one list of objects per event), e.g. pairs(lep)")
    if y is None:
        k = ak.num(x, axis=1)
        _check_combinatorics("pairs", k * (k - 1) / 2)
        return ak.combinations(x, 2, axis=1, fields=list(_MEMBERS[:2]))
    _check_combinatorics("pairs", ak.num(x, axis=1) * ak.num(y, axis=1))
    return ak.cartesian({_MEMBERS[0]: x, _MEMBERS[1]: y}, axis=1)


def _check_combinatorics(fname: str, n_tuples: Any) -> None:
    """Refuse a combination that would not fit in memory, before awkward builds it."""
    total = int(np.sum(ak.to_numpy(ak.fill_none(n_tuples, 0)), dtype=np.float64))
    if total > MAX_COMBINATIONS:
        raise _Fail(
            f"{fname}() would build {total:.3g} tuples in this chunk (limit {MAX_COMBINATIONS:.3g}); "
            f"select the objects first (x[x.pt > 20]) or lower reading.step_size"
        )


def _combinations(x: Any, n: int) -> Any:
    if _is_scalar(x) or _depth(x) != 1:
        raise _Fail("combinations() needs a collection (one list of objects per event), e.g. combinations(lep, 3)")
    if not 2 <= n <= _MAX_COMBINATION:
        raise _Fail(f"combinations(x, n) takes n from 2 to {_MAX_COMBINATION}, got {n}")
    k = ak.num(x, axis=1)
    n_tuples = k
    for i in range(1, n):
        n_tuples = n_tuples * (k - i) / (i + 1)
    _check_combinatorics("combinations", n_tuples)
    return ak.combinations(x, n, axis=1, fields=list(_MEMBERS[:n]))


def _pick(fname: str, reduce: Callable[..., Any], x: Any, key: Any) -> Any:
    if _is_scalar(x) or _depth(x) != 1 or _is_scalar(key) or _depth(key) != 1 or _is_record(key):
        raise _Fail(
            f"{fname}(x, key) picks one element of the collection x per event by a number per element, "
            f"e.g. {fname}(zz, abs(mass(zz) - 91.19))"
        )
    try:
        at = reduce(_numeric(key), axis=1, keepdims=True, mask_identity=True)
        return ak.firsts(x[at], axis=1)
    except ValueError:
        raise _Fail(f"the key of {fname}(x, key) must have one number per element of x") from None


def _members(x: Any, fname: str) -> list[Any]:
    """The objects a value stands for: itself (an object) or the members of a combination."""
    if _is_scalar(x) or not _is_record(x):
        raise _Fail(
            f"{fname}() needs objects with fields pt, eta, phi (made by objects(...)) or combinations of "
            f"them (pairs(...), min_by(...))"
        )
    fields = _fields(x)
    if all(k in fields for k in _KINEMATICS):
        return [x]
    if fields and all(_is_record(x[k]) for k in fields):
        return [o for k in fields for o in _members(x[k], fname)]
    raise _Fail(f"{fname}() needs objects with fields pt, eta, phi; got fields {', '.join(fields)}")


def _system(fname: str, xs: tuple[Any, ...]) -> Any:
    """The four-vector sum of every object in ``xs`` (scikit-hep vector, Momentum4D)."""
    import vector  # deferred: only combinatoric expressions need it

    objects = [o for x in xs for o in _members(x, fname)]
    columns = []
    for o in objects:
        mass = o["mass"] if "mass" in _fields(o) else 0.0
        columns.append([_float(_numeric(o[k])) for k in _KINEMATICS] + [_float(_numeric(mass))])
    flat = ak.broadcast_arrays(*[c for cols in columns for c in cols])
    total = None
    for i in range(len(objects)):
        pt, eta, phi, mass = flat[4 * i: 4 * i + 4]
        p4 = vector.zip({"pt": pt, "eta": eta, "phi": phi, "mass": mass})
        total = p4 if total is None else total + p4
    return total


def _mass(*xs: Any) -> Any:
    m2 = _system("mass", xs).mass2
    return np.sqrt(np.maximum(m2, 0.0))  # m^2 of massless sums may round below 0


_COMPONENTS: dict[str, Callable[[Any], Any]] = {
    "pt": lambda p4: p4.pt,
    "eta": lambda p4: p4.eta,
    "phi": lambda p4: p4.phi,
}


def _system_component(name: str) -> Callable[..., Any]:
    def f(*xs: Any) -> Any:
        return ak.without_parameters(_COMPONENTS[name](_system(name, xs)))

    return f


def _others(x: Any, chosen: Any) -> Any:
    _need_collection("others", x)
    if _is_scalar(chosen) or _depth(chosen) != 0:
        raise _Fail(
            "others(x, chosen) needs one chosen object or pair per event, e.g. others(lep, min_by(ll, ...)) "
            "or others(jet, jet[0])"
        )
    if _INDEX not in ak.fields(x):
        raise _Fail("others(x, chosen) needs a collection made by objects(...) or concat(...)")
    keep = ak.ones_like(x[_INDEX], dtype=bool)
    for o in _members(chosen, "others"):
        if _INDEX not in ak.fields(o):
            continue
        keep = keep & ~((x[_INDEX] == o[_INDEX]) & (x[_TAG] == o[_TAG]))
    missing = ak.is_none(chosen, axis=0) if _depth(chosen) == 0 else None
    out = x[ak.fill_none(keep, True)]
    return out if missing is None else ak.mask(out, ~missing)


def _table() -> dict[str, _Function]:
    fs: list[_Function] = []
    for name, ufunc in [
        ("abs", np.absolute), ("sqrt", np.sqrt), ("log", np.log), ("log10", np.log10),
        ("exp", np.exp), ("sin", np.sin), ("cos", np.cos), ("tan", np.tan),
        ("arcsin", np.arcsin), ("asin", np.arcsin), ("arccos", np.arccos), ("acos", np.arccos),
        ("arctan", np.arctan), ("atan", np.arctan),
        ("sinh", np.sinh), ("cosh", np.cosh), ("tanh", np.tanh),
    ]:  # fmt: skip
        fs.append(_Function(name, 1, 1, _unary(ufunc), f"{name}(x): elementwise {ufunc.__name__}"))
    for name, ufunc in [("arctan2", np.arctan2), ("atan2", np.arctan2), ("hypot", np.hypot)]:
        args = "x, y" if name == "hypot" else "y, x"
        fs.append(_Function(name, 2, 2, _binary(ufunc), f"{name}({args}): elementwise {ufunc.__name__}"))
    fs += [
        _Function("min", 1, 32, _min, "min(x): smallest object (empty: missing); min(a, b, ...): elementwise"),
        _Function("max", 1, 32, _max, "max(x): largest object (empty: missing); max(a, b, ...): elementwise"),
        _Function("where", 3, 3, _where, "where(cond, a, b): a where cond is true, else b"),
        _Function("fill", 2, 2, _fill, "fill(x, value): replace missing entries of x by value"),
        _Function("count", 1, 1, _reduce_count, "count(x): objects per event; count(mask): true entries"),
        _Function("sum", 1, 1, _reduce_sum, "sum(x): sum over the objects of each event (empty: 0)"),
        _Function("mean", 1, 1, _reduce_mean, "mean(x): mean over the objects (empty: missing)"),
        _Function("any", 1, 1, _reduce_any, "any(mask): some object passes (empty: False)"),
        _Function("all", 1, 1, _reduce_all, "all(mask): every object passes (empty: True)"),
        _Function("delta_phi", 2, 2, _delta_phi, "delta_phi(phi1, phi2): phi1 - phi2 wrapped to [-pi, pi)"),
        _Function("delta_r", 4, 4, _delta_r, "delta_r(eta1, phi1, eta2, phi2): sqrt(deta^2 + dphi^2)"),
        _Function(
            "inv_mass", 3, 4, _inv_mass,
            "inv_mass(pt, eta, phi[, mass], i=0, j=1): invariant mass of objects i and j",
            keywords=("mass", "i", "j"), int_keywords=("i", "j"),
        ),
        _Function(
            "pair_mass", 6, 8, _pair_mass,
            "pair_mass(pt1, eta1, phi1, pt2, eta2, phi2[, m1, m2]): invariant mass of two objects",
        ),
        _Function("mt", 4, 4, _mt, "mt(pt1, phi1, pt2, phi2): transverse mass"),
        _Function(
            "objects", 1, 32, _objects,
            "objects(pt=..., eta=..., phi=..., mass=..., name=...): a collection of objects",
            field_keywords=True, tagged=True,
        ),
        _Function("concat", 2, 8, _concat, "concat(a, b, ...): the objects of a, b, ... per event",
                  tagged=True),
        _Function("pairs", 1, 2, _pairs, "pairs(x): all pairs within x; pairs(x, y): every x with every y"),
        _Function(
            "combinations", 2, 2, _combinations,
            f"combinations(x, n): all n-tuples of objects of x (n = 2..{_MAX_COMBINATION})",
            int_positions=(1,),
        ),
        _Function("min_by", 2, 2, functools.partial(_pick, "min_by", ak.argmin),
                  "min_by(x, key): per event, the element of x with the smallest key (none: missing)"),
        _Function("max_by", 2, 2, functools.partial(_pick, "max_by", ak.argmax),
                  "max_by(x, key): per event, the element of x with the largest key (none: missing)"),
        _Function("others", 2, 2, _others, "others(x, chosen): the objects of x not in chosen"),
        _Function("mass", 1, 8, _mass, "mass(a, b, ...): invariant mass of the sum of the objects"),
        _Function("pt", 1, 8, _system_component("pt"), "pt(a, b, ...): pT of the sum of the objects"),
        _Function("eta", 1, 8, _system_component("eta"), "eta(a, b, ...): eta of the sum of the objects"),
        _Function("phi", 1, 8, _system_component("phi"), "phi(a, b, ...): phi of the sum of the objects"),
    ]  # fmt: skip
    return {f.name: f for f in fs}


_FUNCTIONS = _table()

#: Names of the functions an expression may call (see the module docstring).
ALLOWED_FUNCTIONS: tuple[str, ...] = tuple(sorted(_FUNCTIONS))

# ---------------------------------------------------------------------------
# operators
# ---------------------------------------------------------------------------


@_on_flat_buffers
def _pow(a: Any, b: Any) -> Any:
    return np.power(_float(_numeric(a)), _numeric(b))


def _arith(ufunc: np.ufunc) -> Callable[[Any, Any], Any]:
    @_on_flat_buffers
    def f(a: Any, b: Any) -> Any:
        a, b = _numeric(a), _numeric(b)
        if _is_scalar(a) and _is_scalar(b):
            a = np.float64(a)  # numpy semantics for constants too (1/0 -> inf, no huge ints)
        return ufunc(a, b)

    return f


_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: _arith(np.add),
    ast.Sub: _arith(np.subtract),
    ast.Mult: _arith(np.multiply),
    ast.Div: _arith(np.true_divide),
    ast.FloorDiv: _arith(np.floor_divide),
    ast.Mod: _arith(np.mod),
    ast.Pow: _pow,
}
_LOGICAL: dict[type[ast.AST], tuple[str, np.ufunc]] = {
    ast.BitAnd: ("&", np.logical_and),
    ast.BitOr: ("|", np.logical_or),
    ast.BitXor: ("^", np.logical_xor),
    ast.And: ("and", np.logical_and),
    ast.Or: ("or", np.logical_or),
}


def _comparison(ufunc: np.ufunc) -> Callable[[Any, Any], Any]:
    """A comparison, on numpy buffers where both sides have one value per event (awkward's ufunc dispatch
    cost ~2 ms a call: a selection such as ``nlep >= 1`` in every chunk)."""

    @_on_flat_buffers
    def f(a: Any, b: Any) -> Any:
        return ufunc(a, b)

    return f


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    op: _comparison(ufunc) for op, ufunc in ((ast.Eq, np.equal), (ast.NotEq, np.not_equal), (ast.Lt, np.less),
                                             (ast.LtE, np.less_equal), (ast.Gt, np.greater),
                                             (ast.GtE, np.greater_equal))
}
_OP_SYMBOL = {ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^"}

# ---------------------------------------------------------------------------
# validation (compile time)
# ---------------------------------------------------------------------------


def _static_index(node: ast.expr) -> int | None:
    """Return the constant integer of an index node, or None if it is not one."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) is int
    ):
        return -node.operand.value
    return None


_MASK_NODES = (ast.Compare, ast.BoolOp, ast.Name, ast.Call, ast.Subscript)


class _Validator:
    """Check a parsed expression against the whitelist; collect branch names."""

    def __init__(self, text: str, scope: _Scope | None = None) -> None:
        self.text = text
        self.scope = scope
        self.branches: set[str] = set()
        #: names of definitions the expression uses
        self.refs: set[str] = set()

    def fail(self, what: str, extra: str = "") -> _ExprError:
        if len(what) > 60:
            what = what[:57] + "..."
        return _ExprError(
            f"unsafe/unsupported construct {what!r} in expression {_quote(self.text)}{extra}"
        )

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.Constant):
            v = node.value
            if type(v) not in (bool, int, float):
                raise self.fail(f"{type(v).__name__} constant {v!r}")
            if type(v) is int and abs(v) >= 2**63:
                raise _ExprError(f"integer constant too large in expression {_quote(self.text)}")
        elif isinstance(node, ast.Name):
            if node.id.startswith("__"):
                raise self.fail(f"name {node.id}")
            if not isinstance(node.ctx, ast.Load):
                raise self.fail(f"assignment to {node.id}")
            if node.id in _CONSTANTS:
                pass
            elif self.scope is not None and node.id in self.scope.names:
                self.refs.add(node.id)
            elif self.scope is not None and node.id in self.scope.aliases:
                self.branches.add(self.scope.aliases[node.id])
            else:
                self.branches.add(node.id)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS and type(node.op) not in _LOGICAL:
                raise self.fail(f"operator {type(node.op).__name__}")
            self.visit(node.left)
            self.visit(node.right)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd, ast.Invert, ast.Not)):
                raise self.fail(f"operator {type(node.op).__name__}")
            self.visit(node.operand)
        elif isinstance(node, ast.BoolOp):
            for v in node.values:
                self.visit(v)
        elif isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in _COMPARE:
                    raise self.fail(f"comparison {type(op).__name__}")
            for operand in [node.left, *node.comparators]:
                if isinstance(operand, ast.BinOp) and type(operand.op) in _OP_SYMBOL:
                    sym = _OP_SYMBOL[type(operand.op)]
                    raise _ExprError(
                        f"ambiguous precedence in expression {_quote(self.text)}: '{sym}' binds "
                        f"tighter than comparisons; parenthesise each comparison, "
                        f"e.g. (met > 20) {sym} (njet >= 2)"
                    )
                self.visit(operand)
        elif isinstance(node, ast.Call):
            self.visit_call(node)
        elif isinstance(node, ast.Subscript):
            self.visit(node.value)
            idx = node.slice
            i = _static_index(idx)
            if i is not None:
                if abs(i) > _MAX_INDEX:
                    raise _ExprError(f"index {i} too large in expression {_quote(self.text)}")
            elif isinstance(idx, _MASK_NODES) or (
                isinstance(idx, ast.UnaryOp) and isinstance(idx.op, (ast.Invert, ast.Not))
            ) or (isinstance(idx, ast.BinOp) and type(idx.op) in _OP_SYMBOL):
                self.visit(idx)
            else:
                raise self.fail(
                    f"index [{_unparse(idx)}]",
                    "; an index must be a constant integer (x[0]) or a boolean mask (x[x > 30])",
                )
        elif isinstance(node, ast.Attribute):
            # a field of a collection (lep.pt, z1.first.charge): looked up by name in an awkward
            # record, never with getattr; hidden and dunder names are refused
            if node.attr.startswith("_") or isinstance(node.value, ast.Constant):
                raise self.fail(f"attribute access .{node.attr}")
            self.visit(node.value)
        else:
            raise self.fail(type(node).__name__)

    def visit_call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name):
            raise self.fail(f"call of {_unparse(node.func)}")
        name = node.func.id
        f = _FUNCTIONS.get(name)
        if f is None:
            raise self.fail(
                f"call of {name}()", f"; allowed functions: {', '.join(ALLOWED_FUNCTIONS)}"
            )
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail("*args")
        n = len(node.args)
        if f.field_keywords and n:
            raise _ExprError(
                f"{name}() takes only named fields ({f.help}) in expression {_quote(self.text)}"
            )
        seen: set[str] = set()
        for kw in node.keywords:
            if kw.arg is None:
                raise self.fail("**kwargs")
            if f.field_keywords:
                if kw.arg.startswith("_"):
                    raise self.fail(f"field name {kw.arg}")
            elif kw.arg not in f.keywords:
                allowed = ", ".join(f.keywords) if f.keywords else "none"
                raise _ExprError(
                    f"{name}() got unexpected keyword {kw.arg!r} in expression "
                    f"{_quote(self.text)} (allowed keywords: {allowed})"
                )
            if kw.arg in seen:
                raise _ExprError(f"{name}() got keyword {kw.arg!r} twice in {_quote(self.text)}")
            seen.add(kw.arg)
            if kw.arg in f.int_keywords:
                i = _static_index(kw.value)
                if i is None or abs(i) > _MAX_INDEX:
                    raise _ExprError(
                        f"{name}() keyword {kw.arg}= must be a constant integer in expression "
                        f"{_quote(self.text)}"
                    )
            else:
                n += 1  # an expression keyword (mass=) takes an argument slot
                self.visit(kw.value)
        if name == "inv_mass" and "mass" in seen and len(node.args) > 3:
            raise _ExprError(f"inv_mass() got mass twice in expression {_quote(self.text)}")
        if not f.min_args <= n <= f.max_args:
            want = str(f.min_args) if f.min_args == f.max_args else f"{f.min_args}-{f.max_args}"
            raise _ExprError(
                f"{name}() takes {want} arguments, got {n} in expression {_quote(self.text)}; "
                f"usage: {f.help}"
            )
        for k, a in enumerate(node.args):
            if k in f.int_positions:
                i = _static_index(a)
                if i is None or abs(i) > _MAX_INDEX:
                    raise _ExprError(
                        f"argument {k + 1} of {name}() must be a constant integer in expression "
                        f"{_quote(self.text)}; usage: {f.help}"
                    )
            else:
                self.visit(a)


def _unparse(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover - unparse of a parsed tree should not fail
        return type(node).__name__


def _check_size(tree: ast.AST, text: str) -> None:
    """Refuse trees with too many nodes or nesting too deep (iterative walk)."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise _ExprError(
                f"expression {_quote(text)} is too complex (more than {MAX_NODES} syntax nodes)"
            )
        if depth > MAX_DEPTH:
            raise _ExprError(
                f"expression {_quote(text)} is nested too deeply (more than {MAX_DEPTH} levels)"
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


# ---------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------


class _Source:
    """Uniform access to the branches of a chunk (awkward record array or mapping)."""

    def __init__(self, arrays: Any, text: str) -> None:
        if isinstance(arrays, ak.Array):
            fields = arrays.fields
            if not fields:
                raise TypeError(
                    f"cannot evaluate expression {_quote(text)}: arrays must be an awkward record "
                    f"array (fields = branches) or a mapping name -> array"
                )
            self.available = list(fields)
            self.n = len(arrays)
            self._get: Callable[[str], Any] = lambda name: arrays[name]
        elif isinstance(arrays, Mapping):
            self.available = [str(k) for k in arrays]
            lengths = {len(v) for v in arrays.values()}
            if len(lengths) > 1:
                raise ValueError(
                    f"cannot evaluate expression {_quote(text)}: the arrays have different "
                    f"lengths {sorted(lengths)}"
                )
            self.n = lengths.pop() if lengths else 0
            self._get = lambda name: arrays[name]
        else:
            raise TypeError(
                f"cannot evaluate expression {_quote(text)}: arrays must be an awkward record "
                f"array or a mapping name -> array, not {type(arrays).__name__}"
            )

    def get(self, name: str) -> ak.Array:
        v = self._get(name)
        return v if isinstance(v, ak.Array) else ak.Array(v)


def _unknown_branch_message(name: str, text: str, available: Iterable[str]) -> str:
    available = sorted(available)
    close = difflib.get_close_matches(name, available, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    shown = ", ".join(available[:60])
    if len(available) > 60:
        shown += f", ... ({len(available) - 60} more)"
    return (
        f"unknown branch {name!r} in expression {_quote(text)}{hint}; "
        f"available: {shown or '(none)'}"
    )


class _Evaluator:
    def __init__(
        self, text: str, source: _Source, scope: _Scope | None = None, cache: dict[str, Any] | None = None
    ) -> None:
        self.text = text
        self.source = source
        self.scope = scope
        self.cache: dict[str, Any] = {} if cache is None else cache

    def name(self, name: str) -> Any:
        """The value of a name: a definition (computed once per chunk), an aliased or a plain branch."""
        scope = self.scope
        if scope is not None and name in scope.names:
            key = f"define:{name}"
            if key not in self.cache:
                text, tree = scope.trees[name]
                try:
                    self.cache[key] = _Evaluator(text, self.source, scope, self.cache).visit(tree)
                except _ExprError as exc:
                    raise self.fail(f"definition {name!r}: {exc};") from None
            return self.cache[key]
        branch = scope.aliases.get(name, name) if scope is not None else name
        if branch not in self.cache:
            self.cache[branch] = self.source.get(branch)
        return self.cache[branch]

    def fail(self, msg: str) -> _ExprError:
        return _ExprError(f"{msg} in expression {_quote(self.text)}")

    def logical(self, sym: str, ufunc: np.ufunc, a: Any, b: Any) -> Any:
        if not (_is_bool(a) and _is_bool(b)):
            raise self.fail(
                f"'{sym}' needs boolean operands (comparisons such as (met > 20) {sym} (njet >= 2))"
            )
        return _kleene(ufunc, a, b)

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return self.visit(node.body)
        if isinstance(node, ast.Constant):
            v = node.value
            if type(v) is int and abs(v) >= 2**53:
                return float(v)
            return v
        if isinstance(node, ast.Name):
            if node.id in _CONSTANTS:
                return _CONSTANTS[node.id]
            return self.name(node.id)
        if isinstance(node, ast.BinOp):
            a, b = self.visit(node.left), self.visit(node.right)
            if type(node.op) in _LOGICAL:
                return self.logical(*_LOGICAL[type(node.op)], a, b)
            return _BINOPS[type(node.op)](a, b)
        if isinstance(node, ast.UnaryOp):
            v = self.visit(node.operand)
            if isinstance(node.op, (ast.Invert, ast.Not)):
                if not _is_bool(v):
                    sym = "~" if isinstance(node.op, ast.Invert) else "not"
                    raise self.fail(f"'{sym}' needs a boolean operand, e.g. ~(met > 20)")
                return np.logical_not(v)
            v = _numeric(v)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BoolOp):
            sym, ufunc = _LOGICAL[type(node.op)]
            return functools.reduce(
                lambda a, b: self.logical(sym, ufunc, a, b), [self.visit(v) for v in node.values]
            )
        if isinstance(node, ast.Compare):
            left = self.visit(node.left)
            result = None
            for op, right_node in zip(node.ops, node.comparators):
                right = self.visit(right_node)
                r = _COMPARE[type(op)](_numeric(left), _numeric(right))
                result = r if result is None else _kleene(np.logical_and, result, r)
                left = right
            return result
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        raise self.fail(f"unsupported construct {type(node).__name__!r}")  # pragma: no cover

    def subscript(self, node: ast.Subscript) -> Any:
        x = self.visit(node.value)
        what = _unparse(node.value)
        if _is_scalar(x) or _depth(x) < 1:
            raise self.fail(
                f"cannot index {what!r}: it has one value per event, not a list of objects"
            )
        i = _static_index(node.slice)
        if i is not None:
            return _take(x, i)
        mask = self.visit(node.slice)
        if _is_scalar(mask) or _depth(mask) < 1 or not _is_bool(mask):
            raise self.fail(
                f"index [{_unparse(node.slice)}] of {what!r} must be a constant integer or a "
                f"jagged boolean mask such as {what}[{what} > 30]"
            )
        try:
            return x[mask]
        except Exception as exc:
            raise self.fail(
                f"mask [{_unparse(node.slice)}] does not match the objects of {what!r} "
                f"({type(exc).__name__})"
            ) from None

    def attribute(self, node: ast.Attribute) -> Any:
        x = self.visit(node.value)
        fields = _fields(x)
        if node.attr not in fields:
            what = _unparse(node.value)
            if not fields:
                raise self.fail(
                    f"{what!r} has no field {node.attr!r}: it is not a collection of objects "
                    f"(make one with objects(pt=..., eta=..., ...))"
                )
            raise self.fail(f"{what!r} has no field {node.attr!r} (fields: {', '.join(fields)})")
        return x[node.attr]

    def call(self, node: ast.Call) -> Any:
        assert isinstance(node.func, ast.Name)
        f = _FUNCTIONS[node.func.id]
        args = [_static_index(a) if k in f.int_positions else self.visit(a) for k, a in enumerate(node.args)]
        kwargs: dict[str, Any] = {}
        for kw in node.keywords:
            assert kw.arg is not None
            if kw.arg in f.int_keywords:
                kwargs[kw.arg] = _static_index(kw.value)
            else:
                kwargs[kw.arg] = self.visit(kw.value)
        try:
            if f.field_keywords:
                args, kwargs = [kwargs], {}
            if f.tagged:  # names the collection for others(); the same text gives the same number
                kwargs["tag"] = zlib.crc32(_unparse(node).encode())
            return f.impl(*args, **kwargs)
        except _Fail as exc:
            raise self.fail(str(exc)) from None


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=True)
class Expression:
    """A parsed and validated expression; build it with :func:`compile_expression`.

    Attributes
    ----------
    text : str
        The expression as written.
    branches : frozenset of str
        Branch names the expression reads (read only these from the file).
    """

    text: str
    branches: frozenset[str]
    _tree: ast.Expression = field(repr=False, compare=False)
    definitions: Definitions | None = None

    def check_branches(self, available: Iterable[str]) -> None:
        """Raise ValueError if the expression uses a branch not in ``available``.

        Parameters
        ----------
        available : iterable of str
            Branch names of the tree (e.g. ``tree.keys()``), to fail before reading.
        """
        available = set(available)
        for name in sorted(self.branches):
            if name not in available:
                raise ValueError(_unknown_branch_message(name, self.text, available))

    def _evaluate_raw(self, arrays: Any, cache: dict[str, Any] | None = None) -> tuple[Any, int]:
        source = _Source(arrays, self.text)
        self.check_branches(source.available)
        scope = _scope(self.definitions) if self.definitions is not None else None
        try:
            with np.errstate(all="ignore"):
                value = _Evaluator(self.text, source, scope, cache).visit(self._tree)
        except _ExprError as exc:
            raise ValueError(str(exc)) from None
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            raise ValueError(
                f"cannot evaluate expression {_quote(self.text)}: {type(exc).__name__}: {first}"
            ) from None
        if not _is_scalar(value):
            depth, primitive = _describe(value)
            if depth > 0:
                raise ValueError(
                    f"expression {_quote(self.text)} gives a list of objects per event; reduce it "
                    f"to one value per event with count(), sum(), max(), min(), mean(), any(), "
                    f"all() or an index such as [0]"
                )
            if primitive is None:
                hint = (
                    "; take a field (z1.first.pt) or a property of the system (mass(z1), pt(z1))"
                    if _is_record(value) else ""
                )
                raise ValueError(
                    f"expression {_quote(self.text)} does not give numbers (type {ak.type(value)}){hint}"
                )
        return value, source.n

    def evaluate(
        self, arrays: Any, *, default: float | bool | None = None, cache: dict[str, Any] | None = None
    ) -> np.ndarray:
        """Evaluate the expression on one chunk of events.

        Parameters
        ----------
        arrays : awkward record array or mapping of str to array
            The branches of ``n_events`` events, e.g. a chunk from ``uproot.iterate``.
        default : float or bool, optional
            Value for events where the result is missing (too few objects, max of an
            empty list, no candidate for min_by, ...).  Without it, missing values raise
            ValueError.
        cache : dict, optional
            Shared by expressions evaluated on the *same* ``arrays`` (and definitions), so
            that branches and definitions are computed once per chunk.  Use a new dict for
            each chunk.

        Returns
        -------
        values : ndarray of shape (n_events,)
            bool when the expression is boolean (and ``default`` is None, a bool,
            0 or 1); the exact integer dtype when the result is an integer (a count,
            an integer branch such as an unsigned 64-bit ``event`` id: no rounding
            through float); float64 otherwise.  Cast with ``np.asarray(values,
            dtype=float)`` for a feature matrix.
        """
        value, n = self._evaluate_raw(arrays, cache)
        return _finish(self.text, value, n, default)

    def __str__(self) -> str:
        return self.text


def _finish(text: str, value: Any, n: int, default: float | bool | None) -> np.ndarray:
    """Turn an event-level value into a numpy array, applying ``default`` to missing entries."""
    is_bool = _is_bool(value)
    if _is_scalar(value):
        return np.full(n, value, dtype=bool if is_bool else np.float64)
    flat = _flat_buffer(value)
    n_missing = (0 if flat[1] is None else n - int(np.count_nonzero(flat[1]))) if flat is not None \
        else int(ak.sum(ak.is_none(value, axis=0)))
    if n_missing:
        if default is None:
            raise ValueError(
                f"expression {_quote(text)} is missing for {n_missing} of {n} events "
                f"(too few objects or an empty reduction); set `default:` for this feature "
                f"or use fill(x, value)"
            )
        logger.debug("expression %r: %d of %d events set to default %r", text, n_missing, n, default)
        if is_bool and not (isinstance(default, (bool, np.bool_)) or default in (0, 1)):
            value, is_bool = ak.values_astype(value, np.float64), False
        if is_bool:
            default = bool(default)
        if flat is not None:  # awkward's fill_none on the numpy buffer: its result type, its numbers
            data = flat[0].astype(np.float64) if flat[0].dtype == np.bool_ and not is_bool else flat[0]
            dtype = np.result_type(data.dtype, np.asarray(default))
            value = np.where(flat[1], data.astype(dtype, copy=False), np.asarray(default, dtype=dtype))
        else:
            value = ak.fill_none(value, default, axis=0)
    elif flat is not None:
        value = flat[0]
    out = value if isinstance(value, np.ndarray) else ak.to_numpy(value)
    if is_bool:
        return out.astype(bool, copy=False)
    if out.dtype.kind in "iu":
        return out
    return out.astype(np.float64, copy=False)


def compile_expression(text: str | Expression, definitions: Definitions | None = None) -> Expression:
    """Parse and validate an expression once.

    Parameters
    ----------
    text : str
        The expression, see the module docstring for the language.
    definitions : Definitions, optional
        Named definitions and branch aliases the expression may use (the config's
        ``define:`` and ``aliases:`` blocks, see :func:`make_definitions`).

    Returns
    -------
    expr : Expression
        Reusable on any number of chunks.

    Raises
    ------
    ValueError
        On syntax errors, constructs outside the whitelist, size limits.
    """
    if isinstance(text, Expression):
        return text
    if not isinstance(text, str):
        raise TypeError(f"expression must be a string, not {type(text).__name__} ({text!r:.60})")
    if definitions is not None and not (definitions.define or definitions.aliases):
        definitions = None
    return _compile(text, definitions)


def _parse(text: str, scope: _Scope | None) -> tuple[str, ast.Expression, _Validator]:
    """Normalise, parse and validate one expression (size limits, whitelist)."""
    stripped = " ".join(text.split())  # no string literals exist, so whitespace is free
    if not stripped:
        raise ValueError("empty expression ''")
    if len(stripped) > MAX_LENGTH:
        raise ValueError(
            f"expression {_quote(stripped, 60)} is too long ({len(stripped)} > {MAX_LENGTH} characters)"
        )
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        raise ValueError(
            f"invalid syntax in expression {_quote(stripped)}: {exc.msg}{where}"
        ) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ValueError(
            f"cannot parse expression {_quote(stripped)}: {type(exc).__name__}"
        ) from None
    validator = _Validator(stripped, scope)
    try:
        _check_size(tree, stripped)
        validator.visit(tree.body)
    except _ExprError as exc:
        raise ValueError(str(exc)) from None
    return stripped, tree, validator


@functools.lru_cache(maxsize=1024)
def _compile(text: str, definitions: Definitions | None = None) -> Expression:
    scope = _scope(definitions) if definitions is not None else None
    stripped, tree, validator = _parse(text, scope)
    branches = set(validator.branches)
    for name in validator.refs:
        assert scope is not None
        branches |= scope.branches[name]
    logger.debug("compiled expression %r (branches %s)", stripped, sorted(branches))
    return Expression(stripped, frozenset(branches), tree, definitions)


# ---------------------------------------------------------------------------
# definitions and aliases
# ---------------------------------------------------------------------------

#: Most named definitions in one study.
MAX_DEFINITIONS = 200


@dataclass(frozen=True)
class Definitions:
    """Named definitions (``define:``) and branch aliases (``aliases:``); build with :func:`make_definitions`.

    Attributes
    ----------
    define : tuple of (name, expression)
        Each name stands for the value of its expression (an event-level number, a jagged
        array or a collection of objects); definitions may use each other (no cycles).
    aliases : tuple of (name, branch)
        Each name reads the branch of that exact name, for branch names that are not
        identifiers (``Electron.pt``).
    """

    define: tuple[tuple[str, str], ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Scope:
    """Compiled definitions: each name's text and tree, and the branches it reads (transitively)."""

    names: frozenset[str]
    trees: dict[str, tuple[str, ast.Expression]]
    branches: dict[str, frozenset[str]]
    aliases: dict[str, str]


def _check_name(name: Any, what: str) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{what} name {name!r} must be an identifier (letters, digits, _)")
    if name.startswith("_") or name in _CONSTANTS or name in _FUNCTIONS or name in ("True", "False"):
        raise ValueError(
            f"{what} name {name!r} is reserved (names starting with _, pi, True, False and the "
            f"function names are)"
        )


def make_definitions(
    define: Mapping[str, str] | None = None, aliases: Mapping[str, str] | None = None
) -> Definitions:
    """Check and compile named definitions and branch aliases once.

    Parameters
    ----------
    define : mapping of str to str, optional
        Name -> expression, e.g. ``{"lep": "objects(pt=lep_pt, eta=lep_eta, phi=lep_phi)"}``.
    aliases : mapping of str to str, optional
        Name -> branch, e.g. ``{"el_pt": "Electron.pt"}``.

    Raises
    ------
    ValueError
        One line naming the definition or alias: bad names, an expression that does not
        compile, a definition that uses itself (directly or through others).
    """
    define, aliases = dict(define or {}), dict(aliases or {})
    if len(define) > MAX_DEFINITIONS:
        raise ValueError(f"too many definitions ({len(define)} > {MAX_DEFINITIONS})")
    for name, text in define.items():
        _check_name(name, "definition")
        if not isinstance(text, str):
            raise ValueError(f"definition {name!r} must be an expression string, not {type(text).__name__}")
    for name, branch in aliases.items():
        _check_name(name, "alias")
        if name in define:
            raise ValueError(f"alias {name!r} is also a definition; use one name for one thing")
        if not isinstance(branch, str) or not branch or branch.startswith("__"):
            raise ValueError(f"alias {name!r} must name a branch (a non-empty string), not {branch!r}")
    defs = Definitions(tuple(define.items()), tuple(aliases.items()))
    _scope(defs)  # compile now: errors surface here, not at the first chunk
    return defs


@functools.lru_cache(maxsize=64)
def _scope(defs: Definitions) -> _Scope:
    define = dict(defs.define)
    aliases = dict(defs.aliases)
    names = frozenset(define)
    shell = _Scope(names, {}, {}, aliases)
    own: dict[str, set[str]] = {}
    refs: dict[str, set[str]] = {}
    for name, text in define.items():
        try:
            stripped, tree, validator = _parse(text, shell)
        except ValueError as exc:
            raise ValueError(f"definition {name!r}: {exc}") from None
        shell.trees[name] = (stripped, tree)
        own[name], refs[name] = validator.branches, validator.refs

    def resolve(name: str, path: tuple[str, ...]) -> frozenset[str]:
        if name in shell.branches:
            return shell.branches[name]
        if name in path:
            cycle = " -> ".join((*path[path.index(name):], name))
            raise ValueError(f"definition {name!r} uses itself ({cycle})")
        out = set(own[name])
        for r in sorted(refs[name]):
            out |= resolve(r, (*path, name))
        shell.branches[name] = frozenset(out)
        return shell.branches[name]

    for name in define:
        resolve(name, ())
    return shell


def evaluate_selection(expr: Expression | str, arrays: Any, *, cache: dict[str, Any] | None = None) -> np.ndarray:
    """Evaluate a selection: which events pass.

    Parameters
    ----------
    expr : Expression or str
        A boolean expression, e.g. ``"(met > 20) & (count(jet_pt > 30) >= 2)"``.
    arrays : awkward record array or mapping of str to array
        The branches of ``n_events`` events.
    cache : dict, optional
        Shared with other expressions on the same ``arrays`` (see :meth:`Expression.evaluate`).

    Returns
    -------
    passed : ndarray of bool, shape (n_events,)
        Events whose result is missing (e.g. ``jet_pt[1] > 30`` without a second
        jet) do not pass.
    """
    if not isinstance(expr, Expression):
        expr = compile_expression(expr)
    value, n = expr._evaluate_raw(arrays, cache)
    if not _is_bool(value):
        raise ValueError(
            f"selection {_quote(expr.text)} is not boolean; use a comparison such as 'met > 20'"
        )
    return _finish(expr.text, value, n, False)


def required_branches(expressions: Iterable[str | Expression]) -> set[str]:
    """Union of the branch names read by some expressions.

    Parameters
    ----------
    expressions : iterable of str or Expression

    Returns
    -------
    branches : set of str
    """
    out: set[str] = set()
    for e in expressions:
        out |= (e if isinstance(e, Expression) else compile_expression(e)).branches
    return out
