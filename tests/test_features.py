"""Tests of the safe expression language (hepmva.features).

Oracles: numpy applied by hand to the flat branches, plain Python loops over the
jagged lists, and four-vector sums (E, px, py, pz) for the invariant masses.
"""

from __future__ import annotations

import ast
import doctest
import inspect
import math

import awkward as ak
import numpy as np
import pytest
import uproot

import hepmva.features as features
from hepmva.features import (
    ALLOWED_FUNCTIONS,
    MAX_LENGTH,
    Expression,
    compile_expression,
    evaluate_selection,
    required_branches,
)

N_EVENTS = 300


def make_events(n: int = N_EVENTS, seed: int = 7) -> dict[str, object]:
    """Toy events: jets (0-5 per event, many with none), leptons, scalars."""
    rng = np.random.default_rng(seed)
    njet = rng.poisson(1.5, n)
    njet[:5] = 0  # certainly some empty events
    nlep = rng.integers(0, 3, n)
    total, ltotal = int(njet.sum()), int(nlep.sum())

    def jag(flat: np.ndarray, counts: np.ndarray) -> ak.Array:
        return ak.unflatten(flat, counts)

    jet_pt = np.sort(jag(rng.exponential(40.0, total) + 20.0, njet), axis=-1)[:, ::-1]
    return {
        "jet_pt": jet_pt,
        "jet_eta": jag(rng.uniform(-4.0, 4.0, total), njet),
        "jet_phi": jag(rng.uniform(-np.pi, np.pi, total), njet),
        "jet_m": jag(rng.uniform(0.0, 15.0, total), njet),
        "lep_pt": jag(rng.exponential(30.0, ltotal) + 10.0, nlep),
        "lep_eta": jag(rng.uniform(-2.5, 2.5, ltotal), nlep),
        "lep_phi": jag(rng.uniform(-np.pi, np.pi, ltotal), nlep),
        "met": rng.exponential(50.0, n),
        "met_phi": rng.uniform(-np.pi, np.pi, n),
        "njet": njet.astype(np.int32),
        "event": rng.integers(0, 2**62, n, dtype=np.uint64),
    }


@pytest.fixture(scope="module")
def events() -> ak.Array:
    return ak.Array(make_events())


@pytest.fixture(scope="module")
def root_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real ROOT file written with uproot: TTree `Events` with jagged branches."""
    ev = make_events(seed=11)
    path = str(tmp_path_factory.mktemp("root") / "events.root")
    branches = {
        **{f"jet_{k}": ev[f"jet_{k}"] for k in ("pt", "eta", "phi", "m")},
        **{f"lep_{k}": ev[f"lep_{k}"] for k in ("pt", "eta", "phi")},
        **{k: ev[k] for k in ("met", "met_phi", "event")},
    }
    with uproot.recreate(path) as f:
        # one shared counter per collection (njet, nlep), as in real ntuples
        f.mktree(
            "Events",
            {k: ak.type(v).content for k, v in branches.items()},
            counter_name=lambda name: "n" + name.split("_")[0],
        )
        f["Events"].extend(branches)
    return path


@pytest.fixture(scope="module")
def root_events(root_file: str) -> ak.Array:
    with uproot.open(root_file) as f:
        return f["Events"].arrays()


def lists(x: ak.Array) -> list[list[float]]:
    return ak.to_list(x)


def evaluate(text: str, arrays: object, **kwargs: object) -> np.ndarray:
    return compile_expression(text).evaluate(arrays, **kwargs)


# ---------------------------------------------------------------------------
# arithmetic, comparisons, logic on event-level values
# ---------------------------------------------------------------------------

met_oracles = [
    ("met", lambda m, p, n: m),
    ("met + 2", lambda m, p, n: m + 2),
    ("met - met_phi", lambda m, p, n: m - p),
    ("2 * met", lambda m, p, n: 2 * m),
    ("met / 3", lambda m, p, n: m / 3),
    ("met ** 2", lambda m, p, n: m**2),
    ("met ** 0.5", lambda m, p, n: np.sqrt(m)),
    ("njet ** 2", lambda m, p, n: n.astype(float) ** 2),
    ("met % 7", lambda m, p, n: m % 7),
    ("met // 7", lambda m, p, n: m // 7),
    ("-met", lambda m, p, n: -m),
    ("+met", lambda m, p, n: m),
    ("-(met + 1) * 2", lambda m, p, n: -(m + 1) * 2),
    ("1 + 2 * 3", lambda m, p, n: np.full_like(m, 7.0)),
    ("2 ** -1", lambda m, p, n: np.full_like(m, 0.5)),
    ("pi * met", lambda m, p, n: np.pi * m),
    ("1e3 / (met + 1)", lambda m, p, n: 1e3 / (m + 1)),
    ("njet / 2", lambda m, p, n: n / 2),
    ("abs(met_phi)", lambda m, p, n: np.abs(p)),
    ("sqrt(met)", lambda m, p, n: np.sqrt(m)),
    ("log(met)", lambda m, p, n: np.log(m)),
    ("log10(met)", lambda m, p, n: np.log10(m)),
    ("exp(-met / 50)", lambda m, p, n: np.exp(-m / 50)),
    ("sin(met_phi)", lambda m, p, n: np.sin(p)),
    ("cos(met_phi)", lambda m, p, n: np.cos(p)),
    ("tan(met_phi)", lambda m, p, n: np.tan(p)),
    ("arcsin(met_phi / 4)", lambda m, p, n: np.arcsin(p / 4)),
    ("asin(met_phi / 4)", lambda m, p, n: np.arcsin(p / 4)),
    ("arccos(met_phi / 4)", lambda m, p, n: np.arccos(p / 4)),
    ("acos(met_phi / 4)", lambda m, p, n: np.arccos(p / 4)),
    ("arctan(met)", lambda m, p, n: np.arctan(m)),
    ("atan(met)", lambda m, p, n: np.arctan(m)),
    ("arctan2(met_phi, met)", lambda m, p, n: np.arctan2(p, m)),
    ("atan2(met_phi, met)", lambda m, p, n: np.arctan2(p, m)),
    ("hypot(met_phi, met)", lambda m, p, n: np.hypot(p, m)),
    ("sinh(met_phi)", lambda m, p, n: np.sinh(p)),
    ("cosh(met_phi)", lambda m, p, n: np.cosh(p)),
    ("tanh(met_phi)", lambda m, p, n: np.tanh(p)),
    ("min(met, 40)", lambda m, p, n: np.minimum(m, 40)),
    ("max(met, 40)", lambda m, p, n: np.maximum(m, 40)),
    ("max(met, njet * 10, 30)", lambda m, p, n: np.maximum(np.maximum(m, n * 10), 30)),
    ("min(met_phi, 0, met)", lambda m, p, n: np.minimum(np.minimum(p, 0), m)),
    ("where(met > 40, met, -1)", lambda m, p, n: np.where(m > 40, m, -1)),
    ("where(njet >= 2, met_phi, met)", lambda m, p, n: np.where(n >= 2, p, m)),
    ("(met > 40) + (njet > 1)", lambda m, p, n: (m > 40).astype(int) + (n > 1)),
    ("delta_phi(met_phi, 2.5)", lambda m, p, n: np.angle(np.exp(1j * (p - 2.5)))),
]


@pytest.mark.parametrize(("text", "oracle"), met_oracles, ids=[t for t, _ in met_oracles])
def test_event_level_arithmetic_and_functions(events: ak.Array, text: str, oracle) -> None:
    m, p, n = (ak.to_numpy(events[k]) for k in ("met", "met_phi", "njet"))
    got = evaluate(text, events)
    assert got.dtype.kind in "fi" and got.shape == (N_EVENTS,)
    if got.dtype.kind == "i":  # integer results keep an exact integer dtype
        assert ("njet" in text or text.startswith("1 + ")) and "/" not in text
    np.testing.assert_allclose(got, oracle(m, p, n), rtol=1e-12, atol=1e-12)


bool_oracles = [
    ("met > 40", lambda m, p, n: m > 40),
    ("met >= 40", lambda m, p, n: m >= 40),
    ("met < 40", lambda m, p, n: m < 40),
    ("met <= 40", lambda m, p, n: m <= 40),
    ("njet == 2", lambda m, p, n: n == 2),
    ("njet != 2", lambda m, p, n: n != 2),
    ("20 < met < 60", lambda m, p, n: (m > 20) & (m < 60)),
    ("0 <= njet <= 1 < 2", lambda m, p, n: (n >= 0) & (n <= 1)),
    ("-1 < met_phi <= met < 50", lambda m, p, n: (p > -1) & (p <= m) & (m < 50)),
    ("(met > 40) & (njet >= 1)", lambda m, p, n: (m > 40) & (n >= 1)),
    ("(met > 40) | (njet >= 1)", lambda m, p, n: (m > 40) | (n >= 1)),
    ("(met > 40) ^ (njet >= 1)", lambda m, p, n: (m > 40) ^ (n >= 1)),
    ("~(met > 40)", lambda m, p, n: ~(m > 40)),
    ("met > 40 and njet >= 1", lambda m, p, n: (m > 40) & (n >= 1)),
    ("met > 40 or njet >= 1 or met_phi > 0", lambda m, p, n: (m > 40) | (n >= 1) | (p > 0)),
    ("not met > 40", lambda m, p, n: ~(m > 40)),
    ("not (met > 40 and njet >= 1)", lambda m, p, n: ~((m > 40) & (n >= 1))),
    ("abs(met_phi) < pi / 2", lambda m, p, n: np.abs(p) < np.pi / 2),
    ("event % 2 == 0", None),  # uint64 ids beyond 2**53: must stay exact
    ("True", lambda m, p, n: np.ones(len(m), bool)),
    ("met > 40 & True", None),  # '&' binds tighter: refused (see test_precedence_trap)
]


@pytest.mark.parametrize(
    ("text", "oracle"),
    [b for b in bool_oracles if b[1] is not None],
    ids=[b[0] for b in bool_oracles if b[1] is not None],
)
def test_event_level_comparisons_and_logic(events: ak.Array, text: str, oracle) -> None:
    m, p, n = (ak.to_numpy(events[k]) for k in ("met", "met_phi", "njet"))
    got = evaluate(text, events)
    assert got.dtype == bool
    np.testing.assert_array_equal(got, oracle(m, p, n))
    np.testing.assert_array_equal(evaluate_selection(text, events), oracle(m, p, n))


def test_integer_branch_arithmetic_stays_exact(events: ak.Array) -> None:
    ev = ak.to_numpy(events["event"])
    assert ev.max() > 2**53
    np.testing.assert_array_equal(evaluate_selection("event % 2 == 0", events), ev % 2 == 0)
    np.testing.assert_array_equal(evaluate_selection("event % 3 == 1", events), ev % 3 == 1)


def test_integer_results_keep_exact_dtype(events: ak.Array) -> None:
    ev = ak.to_numpy(events["event"])
    got = evaluate("event", events)
    assert got.dtype == np.uint64 and np.array_equal(got, ev)
    assert evaluate("event % 2", events).dtype == np.uint64
    got = evaluate("count(jet_pt)", events)
    assert got.dtype.kind == "i" and got.tolist() == ak.to_list(ak.num(events["jet_pt"]))
    assert evaluate("njet / 2", events).dtype == np.float64
    assert evaluate("njet ** 2", events).dtype == np.float64
    assert evaluate("met + njet", events).dtype == np.float64


def test_constant_arithmetic_follows_numpy() -> None:
    arrays = {"met": np.array([1.0, 2.0])}
    np.testing.assert_array_equal(evaluate("1 / 0", arrays), [np.inf, np.inf])
    np.testing.assert_array_equal(evaluate("10 ** 10 ** 10", arrays), [np.inf, np.inf])
    assert np.isnan(evaluate("0 / 0 + met", arrays)).all()
    assert np.isneginf(evaluate("log(met - met)", arrays)).all()
    assert np.isnan(evaluate("sqrt(-met)", arrays)).all()
    np.testing.assert_array_equal(evaluate("7 // 2 + 7 % 2", arrays), [4.0, 4.0])


# ---------------------------------------------------------------------------
# jagged collections: reductions, indexing, masks, broadcasting
# ---------------------------------------------------------------------------


def _reduce(values: list[list[float]], fn, empty: float | None) -> list[float | None]:
    return [fn(v) if v else empty for v in values]


def test_reductions_against_python_loops(events: ak.Array) -> None:
    pt = lists(events["jet_pt"])
    eta = lists(events["jet_eta"])
    assert any(len(v) == 0 for v in pt)
    cases = {
        "count(jet_pt)": [float(len(v)) for v in pt],
        "count(jet_pt > 50)": [float(sum(x > 50 for x in v)) for v in pt],
        "count((jet_pt > 30) & (abs(jet_eta) < 2.5))": [
            float(sum(p > 30 and abs(e) < 2.5 for p, e in zip(vp, ve))) for vp, ve in zip(pt, eta)
        ],
        "sum(jet_pt)": [float(sum(v)) for v in pt],
        "sum(jet_pt > 50)": [float(sum(x > 50 for x in v)) for v in pt],
        "sum(jet_pt * cosh(jet_eta))": [
            sum(p * math.cosh(e) for p, e in zip(vp, ve)) for vp, ve in zip(pt, eta)
        ],
        "fill(max(jet_pt), -1)": _reduce(pt, max, -1.0),
        "fill(min(jet_eta), -9)": _reduce(eta, min, -9.0),
        "fill(mean(jet_pt), 0)": _reduce(pt, lambda v: sum(v) / len(v), 0.0),
        "fill(max(jet_pt / met), -1)": [
            max(v) / m if v else -1.0 for v, m in zip(pt, ak.to_list(events["met"]))
        ],
        "sum(jet_pt[jet_pt > 50])": [sum(x for x in v if x > 50) for v in pt],
        "count(jet_pt[abs(jet_eta) < 1])": [float(sum(abs(e) < 1 for e in v)) for v in eta],
        "fill(jet_pt[abs(jet_eta) < 1][0], -1)": [
            next((p for p, e in zip(vp, ve) if abs(e) < 1), -1.0) for vp, ve in zip(pt, eta)
        ],
    }
    for text, expected in cases.items():
        np.testing.assert_allclose(evaluate(text, events), expected, rtol=1e-12, err_msg=text)


def test_any_all(events: ak.Array) -> None:
    pt = lists(events["jet_pt"])
    np.testing.assert_array_equal(
        evaluate_selection("any(jet_pt > 80)", events), [any(x > 80 for x in v) for v in pt]
    )
    np.testing.assert_array_equal(
        evaluate_selection("all(jet_pt > 30)", events), [all(x > 30 for x in v) for v in pt]
    )


def test_empty_reductions_are_well_defined() -> None:
    arrays = ak.Array({"jet_pt": [[], [10.0, 30.0]]})
    np.testing.assert_array_equal(evaluate("count(jet_pt)", arrays), [0.0, 2.0])
    np.testing.assert_array_equal(evaluate("sum(jet_pt)", arrays), [0.0, 40.0])
    np.testing.assert_array_equal(evaluate("count(jet_pt > 20)", arrays), [0.0, 1.0])
    np.testing.assert_array_equal(evaluate("any(jet_pt > 0)", arrays), [False, True])
    np.testing.assert_array_equal(evaluate("all(jet_pt > 20)", arrays), [True, False])
    for text, value in (("max(jet_pt)", 30.0), ("min(jet_pt)", 10.0), ("mean(jet_pt)", 20.0)):
        np.testing.assert_array_equal(evaluate(text, arrays, default=-7), [-7.0, value])
        with pytest.raises(ValueError, match=r"missing for 1 of 2 events.*default:"):
            evaluate(text, arrays)


def test_indexing_and_missing(events: ak.Array) -> None:
    pt = lists(events["jet_pt"])
    for i in (0, 1, 2, -1, -2):
        expected = [v[i] if len(v) > (i if i >= 0 else -i - 1) else -99.0 for v in pt]
        np.testing.assert_allclose(evaluate(f"jet_pt[{i}]", events, default=-99), expected)
        np.testing.assert_allclose(evaluate(f"fill(jet_pt[{i}], -99)", events), expected)
    # fill with another expression, elementwise
    expected = [v[1] if len(v) > 1 else (v[0] if v else -1.0) for v in pt]
    np.testing.assert_allclose(evaluate("fill(fill(jet_pt[1], jet_pt[0]), -1)", events), expected)


def test_missing_without_default_is_a_one_line_error(events: ak.Array) -> None:
    n_missing = sum(len(v) < 2 for v in lists(events["jet_pt"]))
    with pytest.raises(ValueError) as info:
        evaluate("jet_pt[1] / met", events)
    msg = str(info.value)
    assert "\n" not in msg
    assert "'jet_pt[1] / met'" in msg and f"missing for {n_missing} of {N_EVENTS}" in msg
    assert "default:" in msg


def test_missing_propagates_and_selections_reject_it() -> None:
    arrays = ak.Array({"jet_pt": [[50.0, 40.0], [50.0], []], "met": [1.0, 2.0, 3.0]})
    np.testing.assert_array_equal(evaluate_selection("jet_pt[1] > 30", arrays), [True, False, False])
    np.testing.assert_array_equal(evaluate_selection("~(jet_pt[1] > 30)", arrays), [False] * 3)
    np.testing.assert_array_equal(
        evaluate_selection("fill(jet_pt[1], 0) <= 30", arrays), [False, True, True]
    )
    np.testing.assert_array_equal(
        evaluate_selection("(met > 0) | (jet_pt[1] > 30)", arrays), [True, True, True]
    )
    # a boolean feature keeps dtype bool with a bool default, becomes float otherwise
    got = evaluate("jet_pt[1] > 30", arrays, default=False)
    assert got.dtype == bool and got.tolist() == [True, False, False]
    got = evaluate("jet_pt[1] > 30", arrays, default=-1)
    assert got.dtype == np.float64 and got.tolist() == [1.0, -1.0, -1.0]
    np.testing.assert_array_equal(evaluate("met + jet_pt[0]", arrays, default=0), [51, 52, 0])


def test_broadcast_event_level_against_jagged(events: ak.Array) -> None:
    pt, met = lists(events["jet_pt"]), ak.to_list(events["met"])
    got = evaluate("count(jet_pt > met)", events)
    np.testing.assert_array_equal(got, [sum(x > m for x in v) for v, m in zip(pt, met)])


# ---------------------------------------------------------------------------
# HEP helpers against four-vector hand computations
# ---------------------------------------------------------------------------


def four_vector(pt: float, eta: float, phi: float, m: float = 0.0) -> np.ndarray:
    px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
    return np.array([math.sqrt(px**2 + py**2 + pz**2 + m**2), px, py, pz])


def mass(p: np.ndarray) -> float:
    return math.sqrt(max(p[0] ** 2 - p[1] ** 2 - p[2] ** 2 - p[3] ** 2, 0.0))


@pytest.mark.parametrize("use_root", [False, True], ids=["awkward", "root"])
def test_inv_mass_matches_four_vectors(events: ak.Array, root_events: ak.Array, use_root: bool) -> None:
    arrays = root_events if use_root else events
    pt, eta, phi, m = (lists(arrays[f"jet_{k}"]) for k in ("pt", "eta", "phi", "m"))

    def oracle(i: int, j: int, with_mass: bool) -> list[float]:
        out = []
        for vp, ve, vf, vm in zip(pt, eta, phi, m):
            if len(vp) <= max(i, j):
                out.append(-1.0)
                continue
            mi, mj = (vm[i], vm[j]) if with_mass else (0.0, 0.0)
            out.append(mass(four_vector(vp[i], ve[i], vf[i], mi) + four_vector(vp[j], ve[j], vf[j], mj)))
        return out

    np.testing.assert_allclose(
        evaluate("inv_mass(jet_pt, jet_eta, jet_phi)", arrays, default=-1), oracle(0, 1, False),
        rtol=1e-9,
    )  # fmt: skip
    np.testing.assert_allclose(
        evaluate("inv_mass(jet_pt, jet_eta, jet_phi, i=0, j=2)", arrays, default=-1),
        oracle(0, 2, False), rtol=1e-9,
    )  # fmt: skip
    np.testing.assert_allclose(
        evaluate("inv_mass(jet_pt, jet_eta, jet_phi, jet_m)", arrays, default=-1),
        oracle(0, 1, True), rtol=1e-9,
    )  # fmt: skip
    np.testing.assert_allclose(
        evaluate("inv_mass(jet_pt, jet_eta, jet_phi, mass=jet_m, i=1, j=2)", arrays, default=-1),
        oracle(1, 2, True), rtol=1e-9,
    )  # fmt: skip
    with pytest.raises(ValueError, match="missing for"):
        evaluate("inv_mass(jet_pt, jet_eta, jet_phi)", arrays)


def test_inv_mass_constant_mass_and_pair_mass(events: ak.Array) -> None:
    lp, le, lf = (lists(events[f"lep_{k}"]) for k in ("pt", "eta", "phi"))
    jp, je, jf = (lists(events[f"jet_{k}"]) for k in ("pt", "eta", "phi"))
    mmu = 0.1057
    expected = [
        mass(four_vector(p[0], e[0], f[0], mmu) + four_vector(p[1], e[1], f[1], mmu))
        if len(p) > 1 else 0.0
        for p, e, f in zip(lp, le, lf)
    ]  # fmt: skip
    got = evaluate(f"inv_mass(lep_pt, lep_eta, lep_phi, mass={mmu})", events, default=0)
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    expected = [
        mass(four_vector(a[0], b[0], c[0], mmu) + four_vector(d[0], e[0], f[0], 5.0))
        if a and d else 0.0
        for a, b, c, d, e, f in zip(lp, le, lf, jp, je, jf)
    ]  # fmt: skip
    text = f"pair_mass(lep_pt[0], lep_eta[0], lep_phi[0], jet_pt[0], jet_eta[0], jet_phi[0], {mmu}, 5)"
    np.testing.assert_allclose(evaluate(text, events, default=0), expected, rtol=1e-9)


def test_delta_phi_delta_r_mt(events: ak.Array) -> None:
    ep, lf, jf = lists(events["lep_eta"]), lists(events["lep_phi"]), lists(events["jet_phi"])
    je = lists(events["jet_eta"])
    dphi = evaluate("delta_phi(lep_phi[0], jet_phi[0])", events, default=-10)
    expected = [
        math.remainder(a[0] - b[0], 2 * math.pi) if a and b else -10.0 for a, b in zip(lf, jf)
    ]
    np.testing.assert_allclose(dphi, expected, atol=1e-12)
    valid = dphi > -10
    assert np.all(np.abs(dphi[valid]) <= np.pi) and valid.sum() > 50
    dr = evaluate("delta_r(lep_eta[0], lep_phi[0], jet_eta[0], jet_phi[0])", events, default=-1)
    expected = [
        math.hypot(a[0] - c[0], math.remainder(b[0] - d[0], 2 * math.pi)) if a and c else -1.0
        for a, b, c, d in zip(ep, lf, je, jf)
    ]
    np.testing.assert_allclose(dr, expected, atol=1e-12)
    # the smallest delta R between the leading lepton and any jet (jagged broadcast)
    dr_min = evaluate("min(delta_r(lep_eta[0], lep_phi[0], jet_eta, jet_phi))", events, default=-1)
    expected = [
        min(math.hypot(a[0] - e, math.remainder(b[0] - f, 2 * math.pi)) for e, f in zip(c, d))
        if a and c else -1.0
        for a, b, c, d in zip(ep, lf, je, jf)
    ]  # fmt: skip
    np.testing.assert_allclose(dr_min, expected, atol=1e-12)
    lp, met, mphi = lists(events["lep_pt"]), ak.to_list(events["met"]), ak.to_list(events["met_phi"])
    mt = evaluate("mt(lep_pt[0], lep_phi[0], met, met_phi)", events, default=-1)
    expected = [
        mass(four_vector(p[0], 0.0, f[0]) * [1, 1, 1, 0] + four_vector(m, 0.0, g) * [1, 1, 1, 0])
        if p else -1.0
        for p, f, m, g in zip(lp, lf, met, mphi)
    ]  # fmt: skip
    np.testing.assert_allclose(mt, expected, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------
# real ROOT files through uproot
# ---------------------------------------------------------------------------


def test_root_file_round_trip_and_iterate(root_file: str, root_events: ak.Array) -> None:
    exprs = [
        compile_expression(t)
        for t in ("met", "count(jet_pt > 30)", "fill(jet_pt[0], -1)", "sum(jet_pt)")
    ]
    branches = required_branches(exprs)
    assert branches == {"met", "jet_pt"}
    whole = [e.evaluate(root_events) for e in exprs]
    pieces: list[list[np.ndarray]] = [[] for _ in exprs]
    with uproot.open(root_file) as f:
        exprs[0].check_branches(f["Events"].keys())
    for chunk in uproot.iterate(f"{root_file}:Events", sorted(branches), step_size=70):
        for k, e in enumerate(exprs):
            pieces[k].append(e.evaluate(chunk))
    for w, p in zip(whole, pieces):
        np.testing.assert_array_equal(w, np.concatenate(p))
    pt = lists(root_events["jet_pt"])
    np.testing.assert_array_equal(whole[1], [sum(x > 30 for x in v) for v in pt])
    np.testing.assert_array_equal(root_events["njet"], [len(v) for v in pt])  # uproot's counter
    np.testing.assert_allclose(whole[3], [sum(v) for v in pt], rtol=1e-12)
    sel = evaluate_selection("(met > 30) & (count(jet_pt > 30) >= 1)", root_events)
    assert 0 < sel.sum() < len(sel)


def test_unknown_branch_lists_available(root_events: ak.Array) -> None:
    with pytest.raises(ValueError) as info:
        evaluate("jetpt[0]", root_events, default=0)
    msg = str(info.value)
    assert msg.startswith("unknown branch 'jetpt' in expression 'jetpt[0]'")
    assert "did you mean jet_pt" in msg and "available: event, jet_eta, jet_m, jet_phi, jet_pt" in msg
    assert "\n" not in msg
    with pytest.raises(ValueError, match="unknown branch 'x' in expression 'x > 1'"):
        compile_expression("x > 1").check_branches(["met", "jet_pt"])


# ---------------------------------------------------------------------------
# inputs: mappings, empty chunks, results
# ---------------------------------------------------------------------------


def test_mapping_input_with_numpy_and_lists() -> None:
    arrays = {"met": np.array([10.0, 20.0]), "jet_pt": [[1.0, 2.0], []], "flag": np.array([True, False])}
    np.testing.assert_array_equal(evaluate("met + count(jet_pt)", arrays), [12.0, 20.0])
    np.testing.assert_array_equal(evaluate_selection("flag & (met > 5)", arrays), [True, False])
    np.testing.assert_array_equal(evaluate_selection("flag", arrays), [True, False])
    np.testing.assert_array_equal(evaluate("3", arrays), [3.0, 3.0])
    with pytest.raises(ValueError, match="different lengths"):
        evaluate("met", {"met": np.zeros(2), "x": np.zeros(3)})
    with pytest.raises(TypeError):
        evaluate("met", [1, 2])


def test_empty_chunk(events: ak.Array) -> None:
    empty = events[:0]
    for text in ("met", "jet_pt[0]", "count(jet_pt)", "inv_mass(jet_pt, jet_eta, jet_phi)", "1"):
        got = evaluate(text, empty)
        assert got.shape == (0,) and got.dtype.kind in "fi"
    assert evaluate_selection("met > 1", empty).shape == (0,)


def test_selection_must_be_boolean(events: ak.Array) -> None:
    with pytest.raises(ValueError, match=r"^selection 'met \+ 1' is not boolean"):
        evaluate_selection("met + 1", events)
    with pytest.raises(ValueError, match="is not boolean"):
        evaluate_selection("count(jet_pt > 30)", events)


def test_jagged_result_must_be_reduced(events: ak.Array) -> None:
    for text in ("jet_pt", "jet_pt * 2", "jet_pt > 30", "jet_pt[jet_pt > 30]"):
        with pytest.raises(ValueError, match=r"list of objects per event; reduce it .*count\(\)"):
            evaluate(text, events)


def test_branches_and_required_branches() -> None:
    e = compile_expression("inv_mass(jet_pt, jet_eta, jet_phi, mass=jet_m) + pi * met")
    assert isinstance(e, Expression)
    assert e.branches == frozenset({"jet_pt", "jet_eta", "jet_phi", "jet_m", "met"})
    assert e.text == "inv_mass(jet_pt, jet_eta, jet_phi, mass=jet_m) + pi * met"
    assert required_branches(["met > 1", e, "count(lep_pt)"]) == {
        "jet_pt", "jet_eta", "jet_phi", "jet_m", "met", "lep_pt",
    }  # fmt: skip
    assert compile_expression("  met >\n  20 ").text == "met > 20"
    assert compile_expression(e) is e
    assert {"count", "inv_mass", "delta_r", "delta_phi", "sqrt", "where", "fill"} <= set(
        ALLOWED_FUNCTIONS
    )


def test_docstring_examples_run() -> None:
    result = doctest.testmod(features, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_module_has_no_eval_exec_or_compile() -> None:
    tree = ast.parse(inspect.getsource(features))
    calls = {
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    assert not calls & {"eval", "exec", "compile", "__import__", "getattr"}


# ---------------------------------------------------------------------------
# hostile and invalid inputs
# ---------------------------------------------------------------------------

hostile = [
    "__import__('os').system('x')",
    "().__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "open('f')",
    "lambda: 1",
    "[x for x in y]",
    "{x for x in y}",
    "(x for x in y)",
    "{'a': 1}",
    "[1, 2]",
    "(1, 2)",
    "met.__class__",
    "met._index",
    "(1).real",
    "objects(_tag=met)",
    "objects(jet_pt)",
    "combinations(jet_pt, met)",
    "__builtins__",
    "__import__",
    "globals()",
    "getattr(met, 'real')",
    "eval('1')",
    "exec('1')",
    "'abc'",
    "b'abc'",
    "f'{met}'",
    "None",
    "...",
    "1j",
    "met if njet else 0",
    "(x := 1)",
    "met[0:2]",
    "jet_pt[::2]",
    "jet_pt[1, 2]",
    "jet_pt['a']",
    "jet_pt[1.0]",
    "jet_pt[met + 1]",
    "sqrt(*met)",
    "sqrt(**met)",
    "sqrt.__call__(met)",
    "met << 2",
    "met @ met",
    "met in jet_pt",
    "met is None",
    "yield met",
    "await met",
    "import os",
    "met; met",
    "met = 1",
    "",
    "   ",
    "met +",
    "sqrt()",
    "sqrt(met, met)",
    "where(met > 1, met)",
    "abs(x=met)",
    "inv_mass(jet_pt, jet_eta, jet_phi, i=met)",
    "inv_mass(jet_pt, jet_eta, jet_phi, k=1)",
    "inv_mass(jet_pt, jet_eta, jet_phi, 0.1, mass=0.1)",
    "met > 20 & njet > 2",
    "met > 20 | njet > 2",
    "1" * 5000,
    "met + " * 400 + "met",
    "-" * 500 + "met",
    "(" * 300 + "met" + ")" * 300,
    "sqrt(" * 100 + "met" + ")" * 100,
    "met\x00",
    "9" * 100,
]


@pytest.mark.parametrize("text", hostile, ids=lambda t: repr(t[:30]))
def test_hostile_inputs_are_refused_at_compile_time(text: str) -> None:
    with pytest.raises(ValueError) as info:
        compile_expression(text)
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 1200
    shown = " ".join(text.split())[:20]
    assert repr(shown)[1:-1] in msg, msg  # names the expression


runtime_errors = [
    ("jet_pt[met]", r"must be a constant integer or a jagged boolean mask.*'jet_pt\[met\]'"),
    ("jet_pt[jet_eta]", r"jagged boolean mask"),
    ("jet_pt[lep_pt > 10]", r"does not match the objects of 'jet_pt'"),
    ("met[0]", r"cannot index 'met': it has one value per event"),
    ("met & njet", r"'&' needs boolean operands"),
    ("(met > 1) | njet", r"'\|' needs boolean operands"),
    ("~met", r"'~' needs a boolean operand"),
    ("not met", r"'not' needs a boolean operand"),
    ("met and njet", r"'and' needs boolean operands"),
    ("count(met)", r"count\(\) reduces the objects of each event"),
    ("max(met)", r"elementwise maximum use max\(a, b\)"),
    ("any(jet_pt)", r"any\(\) needs a boolean collection"),
    ("where(met, 1, 2)", r"first argument of where"),
    ("inv_mass(jet_pt[0], jet_eta[0], jet_phi[0])", r"pair_mass"),
    ("inv_mass(jet_pt, jet_eta, jet_phi, i=1, j=1)", r"two different objects"),
    ("jet_pt + lep_pt", r"cannot evaluate expression 'jet_pt \+ lep_pt'"),
    # attribute syntax is a field lookup in a collection, never Python's getattr
    ("met.real", r"'met' has no field 'real': it is not a collection of objects"),
    ("objects(pt=jet_pt).eta[0]", r"has no field 'eta' \(fields: pt\)"),
    ("mass(jet_pt)", r"mass\(\) needs objects with fields pt, eta, phi"),
    ("count(pairs(met))", r"pairs\(\) needs collections"),
    ("objects(pt=jet_pt, eta=lep_eta)[0].pt", r"same number of objects in every event"),
    ("count(combinations(jet_pt, 7))", r"n from 2 to 4"),
    ("min_by(jet_pt, met)", r"min_by\(x, key\) picks one element"),
    ("count(others(jet_pt, jet_pt))", r"others\(\) needs a collection of objects"),
    ("objects(pt=jet_pt)[0]", r"does not give numbers.*take a field"),
]


@pytest.mark.parametrize(("text", "pattern"), runtime_errors, ids=[t for t, _ in runtime_errors])
def test_invalid_expressions_fail_at_evaluate_time(events: ak.Array, text: str, pattern: str) -> None:
    expr = compile_expression(text)  # valid syntax, wrong types
    with pytest.raises(ValueError, match=pattern) as info:
        expr.evaluate(events, default=0)
    msg = str(info.value)
    assert "\n" not in msg and repr(text) in msg


def test_length_limit_message() -> None:
    text = "met + " * (MAX_LENGTH // 6) + "met"
    with pytest.raises(ValueError, match=rf"too long \({len(text)} > {MAX_LENGTH} characters\)"):
        compile_expression(text)
    # just under the limits is fine
    ok = "+".join(["met"] * 90)
    np.testing.assert_array_equal(evaluate(ok, {"met": np.array([1.0])}), [90.0])


def test_disallowed_construct_message_format() -> None:
    with pytest.raises(ValueError) as info:
        compile_expression("met.__class__")
    assert str(info.value) == (
        "unsafe/unsupported construct 'attribute access .__class__' in expression 'met.__class__'"
    )
    with pytest.raises(ValueError, match=r"construct 'call of open\(\)'.*allowed functions: abs"):
        compile_expression("open('f')")
    with pytest.raises(ValueError, match=r"ambiguous precedence.*\(met > 20\) & \(njet >= 2\)"):
        compile_expression("met > 20 & njet > 2")


def test_three_valued_logic_with_missing() -> None:
    arrays = ak.Array({"jet_pt": [[50.0], [10.0], []], "njet": [1, 1, 0]})
    np.testing.assert_array_equal(
        evaluate_selection("(njet == 0) | (jet_pt[0] > 30)", arrays), [True, False, True]
    )
    np.testing.assert_array_equal(
        evaluate_selection("(njet == 0) or jet_pt[0] > 30", arrays), [True, False, True]
    )
    # False & missing is False, True & missing is missing (-> default)
    got = evaluate("(njet > 0) & (jet_pt[0] > 30)", arrays)
    assert got.tolist() == [True, False, False]
    got = evaluate("(njet == 0) & (jet_pt[0] > 30)", arrays, default=-1)
    assert got.tolist() == [0.0, 0.0, -1.0]
    # xor and not propagate missing
    assert evaluate("(njet == 0) ^ (jet_pt[0] > 30)", arrays, default=-1).tolist() == [1, 0, -1]
    assert evaluate("~(jet_pt[0] > 30)", arrays, default=-1).tolist() == [0, 1, -1]
    # chained comparisons follow the same rule
    assert evaluate("0 < jet_pt[0] < 30", arrays, default=-1).tolist() == [0, 1, -1]


def _docstring_recipes() -> list[str]:
    doc = features.__doc__ or ""
    section = doc.split("Recipes\n-------")[1].split("Missing values\n")[0]
    return [line.split("``")[1] for line in section.splitlines() if line.startswith("``")]


def test_docstring_recipes_evaluate(events: ak.Array) -> None:
    recipes = _docstring_recipes()
    assert len(recipes) >= 15
    for text in recipes:
        got = compile_expression(text).evaluate(events, default=-1)
        assert got.shape == (N_EVENTS,), text
    # spot-check two recipes against loops
    pt, eta = lists(events["jet_pt"]), lists(events["jet_eta"])
    got = evaluate("jet_eta[jet_pt == max(jet_pt)][0]", events, default=-9)
    np.testing.assert_allclose(got, [e[int(np.argmax(p))] if p else -9 for p, e in zip(pt, eta)])
    got = evaluate("min(abs(delta_phi(jet_phi, met_phi)))", events, default=-9)
    expected = [
        min(abs(math.remainder(f - m, 2 * math.pi)) for f in v) if v else -9
        for v, m in zip(lists(events["jet_phi"]), ak.to_list(events["met_phi"]))
    ]
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_bad_argument_types() -> None:
    with pytest.raises(TypeError, match="expression must be a string, not list"):
        compile_expression(["met"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"'met'.*not list"):
        evaluate("met", [1, 2])
    with pytest.raises(TypeError, match="record array"):
        evaluate("met", ak.Array([1.0, 2.0]))
    assert compile_expression("met > 1") is compile_expression("met > 1")  # cached


def test_deepest_allowed_expression_evaluates() -> None:
    # Expression > Call x n > UnaryOp > Name > Load: n + 3 levels below the root
    depth = features.MAX_DEPTH - 3
    text = "abs(" * depth + "-met" + ")" * depth
    np.testing.assert_array_equal(evaluate(text, {"met": np.array([2.0])}), [2.0])
    with pytest.raises(ValueError, match="nested too deeply"):
        compile_expression("abs(" * (depth + 1) + "-met" + ")" * (depth + 1))


def test_every_function_of_the_table_is_documented() -> None:
    """Adding an expression function = its implementation + one entry in the table; the docs must list it."""
    import re

    section = (features.__doc__ or "").split("Functions\n---------")[1]
    missing = [name for name in ALLOWED_FUNCTIONS if not re.search(rf"\b{name}\b", section)]
    assert not missing, f"document these functions in the 'Functions' section of hepmva.features: {missing}"


def test_numpy_fast_paths_equal_awkward_bit_for_bit() -> None:
    """Indexing and the arithmetic on one-value-per-event arrays run on numpy buffers (features._take_numbers,
    _on_flat_buffers): the same numbers, dtypes and missing events as awkward's own broadcasting, also on the
    lazily selected (IndexedArray / ListArray) layouts a selection leaves."""
    rng = np.random.default_rng(3)
    n = 2000
    counts = rng.poisson(1.2, n)
    flat = rng.exponential(40, counts.sum()).astype(np.float32)
    arrays = ak.zip({"jet_pt": ak.unflatten(flat, counts),
                     "jet_phi": ak.unflatten(rng.uniform(-3, 3, counts.sum()), counts),
                     "met": rng.exponential(30, n).astype(np.float32), "njet": counts.astype(np.int32)},
                    depth_limit=1)
    selected = arrays[np.asarray(arrays.met) > 10]  # IndexedArray fields, as uproot chunks after a cut
    as_lists = {k: selected[k] for k in selected.fields}
    pt, phi, met = selected.jet_pt, selected.jet_phi, selected.met

    def second(x):
        return ak.mask(x, ak.num(x) > 1)[:, 1]

    def last(x):
        return ak.mask(x, ak.num(x) > 0)[:, -1]

    def kleene_and(a, b):  # a may be missing, b is not: False & missing is False, True & missing is missing
        a_val, a_ok, b = ak.to_numpy(ak.fill_none(a, False)), ~ak.to_numpy(ak.is_none(a)), ak.to_numpy(b)
        return ak.mask(ak.Array(a_val & b), (a_ok & a_val & b) | (a_ok & ~a_val) | ~b)

    oracles = {
        "jet_pt[1]": second(pt),
        "jet_pt[-1] * 2 + met": last(pt) * 2 + met,
        "abs(delta_phi(jet_phi[0], jet_phi[1]))": abs((ak.firsts(phi) - second(phi) + np.pi) % (2 * np.pi) - np.pi),
        "mt(jet_pt[0], jet_phi[0], met, 0)": np.sqrt(np.maximum(
            2.0 * ak.values_astype(ak.firsts(pt), np.float64) * ak.values_astype(met, np.float64)
            * (1.0 - np.cos(ak.firsts(phi) - 0.0)), 0.0)),
        "(jet_pt[1] > 30) + njet": ak.values_astype(second(pt) > 30, np.int64) + selected.njet,
        "jet_pt[1] ** 2 / met": np.power(ak.values_astype(second(pt), np.float64), 2) / met,
        # comparisons of one value per event run on the buffers too, missing where an operand is
        "(met > 20) + 0": ak.values_astype(met > 20, np.int64),
        "(jet_pt[1] >= met) * 1.5": ak.values_astype(second(pt) >= met, np.int64) * 1.5,
        "((jet_pt[1] > 30) & (met < 50)) + 2 * (njet == 1)":
            ak.values_astype(kleene_and(second(pt) > 30, met < 50), np.int64) + 2 * ak.values_astype(selected.njet == 1, np.int64),
    }
    for text, oracle in oracles.items():
        for source in (selected, as_lists):
            got = compile_expression(text).evaluate(source, default=-7.0)
            want = ak.to_numpy(ak.fill_none(oracle, -7.0))
            assert got.dtype == np.asarray(want).dtype or got.dtype == np.float64, (text, got.dtype, want.dtype)
            np.testing.assert_array_equal(got, np.asarray(want, dtype=got.dtype), err_msg=text)
