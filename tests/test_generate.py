"""Tests of the built-in event generator (hepmva.generate)."""

from __future__ import annotations

import math

import awkward as ak
import numpy as np
import pytest
import uproot

from hepmva import generate as g

SIGNAL = "signal"
BACKGROUNDS = [name for name, info in g.PROCESSES.items() if info.label == "background"]


# --------------------------------------------------------------------------------------------
# helpers (independent of the module under test)
# --------------------------------------------------------------------------------------------
def weighted_auc(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> float:
    """Weighted AUC (ties counted half) by sorting; negative weights allowed."""
    order = np.argsort(s, kind="stable")
    s, y, w = s[order], y[order], w[order]
    _, first = np.unique(s, return_index=True)
    ws = np.add.reduceat(np.where(y, w, 0.0), first)
    wb = np.add.reduceat(np.where(y, 0.0, w), first)
    below_b = np.cumsum(wb) - wb
    return float(np.sum(ws * (below_b + 0.5 * wb)) / (ws.sum() * wb.sum()))


def lumi_weights(events: dict, process: str) -> np.ndarray:
    """genWeight * xsec / sum of generator weights (luminosity 1/pb)."""
    w = np.asarray(events["genWeight"], dtype=np.float64)
    return w * g.PROCESSES[process].xsec_pb / w.sum()


def leading(jagged, i: int, default: float = -1.0) -> np.ndarray:
    return ak.to_numpy(ak.fill_none(ak.pad_none(jagged, i + 1)[:, i], default)).astype(np.float64)


def flat_features(events) -> np.ndarray:
    """Simple flat event features for the linear baseline."""
    return np.column_stack(
        [
            np.asarray(events["met"], dtype=np.float64),
            ak.to_numpy(ak.num(events["lep_pt"])),
            ak.to_numpy(ak.num(events["jet_pt"])),
            leading(events["lep_pt"], 0),
            leading(events["lep_eta"], 0),
            leading(events["jet_pt"], 0),
            leading(events["jet_eta"], 0),
            leading(events["jet_pt"], 1),
        ]
    )


def np_features(events) -> np.ndarray:
    """Hand-made features that carry the whole likelihood ratio (see g.NP_FEATURES)."""
    njet = ak.to_numpy(ak.num(events["jet_pt"]))
    pt0, pt1 = leading(events["jet_pt"], 0), leading(events["jet_pt"], 1)
    eta0, eta1 = leading(events["jet_eta"], 0), leading(events["jet_eta"], 1)
    phi0, phi1 = leading(events["jet_phi"], 0), leading(events["jet_phi"], 1)
    pair = njet >= 2
    deta = eta1 - eta0
    dphi = (phi1 - phi0 + np.pi) % (2 * np.pi) - np.pi
    mjj = np.sqrt(np.maximum(2 * pt0 * pt1 * (np.cosh(deta) - np.cos(dphi)), 0.0))
    return np.column_stack(
        [
            np.asarray(events["met"], dtype=np.float64),
            ak.to_numpy(ak.num(events["lep_pt"])),
            njet,
            leading(events["lep_pt"], 0),
            np.abs(leading(events["lep_eta"], 0)),
            pt0,
            pt1,
            np.where(pair, mjj, -1.0),
            np.where(pair, np.abs(dphi), -1.0),
            np.where(pair, np.abs(deta), -1.0),
        ]
    )


def mixed_sample(n: int, seed: int):
    """All processes, n events each: (events per process, y, lumi weight, llr)."""
    events = {name: g.generate_events(name, n, seed) for name in g.PROCESSES}
    y = np.concatenate([np.full(n, g.PROCESSES[k].label == "signal") for k in events])
    w = np.concatenate([lumi_weights(e, k) for k, e in events.items()])
    llr = np.concatenate([e["llr"] for e in events.values()])
    return events, y, w, llr


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("gen")
    meta = {name: g.write_sample(d / f"{name}.root", name, 20_000, seed=3) for name in g.PROCESSES}
    return d, meta


# --------------------------------------------------------------------------------------------
# file format
# --------------------------------------------------------------------------------------------
def test_branches_types_and_structure(sample_files):
    d, _ = sample_files
    with uproot.open(d / "wjets.root") as f:
        tree = f["Events"]
        assert set(tree.keys()) == set(g.EVENT_BRANCHES)
        assert tree.classname.startswith("TTree")
        ev = tree.arrays(library="ak")
        types = {k: tree[k].interpretation for k in tree.keys()}
    assert isinstance(types["event"], uproot.AsDtype) and types["event"].to_dtype == np.uint64
    assert types["genWeight"].to_dtype == np.float32
    assert types["llr"].to_dtype == np.float64
    assert types["met"].to_dtype == np.float32
    for name in ("lep_pt", "lep_eta", "lep_phi", "jet_pt", "jet_eta", "jet_phi"):
        assert isinstance(types[name], uproot.AsJagged), name
        assert types[name].content.to_dtype == np.float32
    njet = ak.to_numpy(ev["njet"])
    nlep = ak.to_numpy(ev["nlep"])
    np.testing.assert_array_equal(njet, ak.to_numpy(ak.num(ev["jet_pt"])))
    np.testing.assert_array_equal(nlep, ak.to_numpy(ak.num(ev["lep_eta"])))
    assert (njet == 0).any() and (njet >= 4).any() and njet.max() <= g.NJET_MAX
    assert (nlep == 0).any() and (nlep == 2).any()
    # pT ordering, thresholds, angle ranges
    assert ak.all(ev["jet_pt"][:, 1:] <= ev["jet_pt"][:, :-1])
    assert ak.all(ev["lep_pt"][:, 1:] <= ev["lep_pt"][:, :-1])
    assert ak.min(ev["jet_pt"]) >= g.JET_PT_MIN and ak.min(ev["lep_pt"]) >= g.LEP_PT_MIN
    assert ak.max(abs(ev["jet_phi"])) <= np.pi and ak.max(abs(ev["met_phi"])) <= np.pi
    assert np.all(np.isfinite(ak.to_numpy(ev["llr"])))
    event = ak.to_numpy(ev["event"])
    assert np.unique(event).size == event.size


def test_runs_metadata_matches_events(sample_files):
    d, meta = sample_files
    for name, info in g.PROCESSES.items():
        with uproot.open(d / f"{name}.root") as f:
            runs = f["Runs"].arrays(library="np")
            assert f["Runs"].num_entries == 1
            assert runs["genEventCount"].dtype == np.int64
            assert runs["genEventSumw"].dtype == np.float64
            w = f["Events"]["genWeight"].array(library="np")
            n = f["Events"].num_entries
        assert runs["genEventCount"][0] == n == 20_000 == meta[name]["genEventCount"]
        assert runs["genEventSumw"][0] == pytest.approx(w.sum(dtype=np.float64), rel=1e-12)
        assert meta[name]["genEventSumw"] == pytest.approx(runs["genEventSumw"][0], rel=1e-12)
        assert runs["xsec_pb"][0] == info.xsec_pb == meta[name]["xsec_pb"]
        assert meta[name]["label"] == info.label
        negative = np.mean(w < 0)
        if info.neg_weight_fraction > 0:
            assert 0.03 < negative < 0.15
            assert abs(negative - info.neg_weight_fraction) < 5 * math.sqrt(0.1 / n)
        else:
            assert negative == 0.0
    assert sum(info.neg_weight_fraction > 0 for info in g.PROCESSES.values()) == 1
    labels = [info.label for info in g.PROCESSES.values()]
    assert labels.count("signal") == 1 and labels.count("background") == 2


def test_stored_llr_equals_recomputed(sample_files):
    d, _ = sample_files
    for name in g.PROCESSES:
        with uproot.open(d / f"{name}.root") as f:
            ev = f["Events"].arrays(library="ak")
        np.testing.assert_allclose(
            g.log_likelihood_ratio(ev), ak.to_numpy(ev["llr"]), rtol=1e-12, atol=1e-12
        )


def test_determinism_and_step_size_independence(tmp_path):
    a = g.write_sample(tmp_path / "a.root", "ttbar", 10_000, seed=11, step_size=3_000)
    b = g.write_sample(tmp_path / "b.root", "ttbar", 10_000, seed=11)
    c = g.write_sample(tmp_path / "c.root", "ttbar", 10_000, seed=12)
    assert a["genEventSumw"] == b["genEventSumw"]
    with uproot.open(tmp_path / "a.root") as fa, uproot.open(tmp_path / "b.root") as fb:
        ea, eb = fa["Events"].arrays(library="ak"), fb["Events"].arrays(library="ak")
        assert fa["Events"]["met"].num_baskets > fb["Events"]["met"].num_baskets
    assert ak.to_list(ea) == ak.to_list(eb)
    with uproot.open(tmp_path / "c.root") as fc:
        ec = fc["Events"].arrays(["met"], library="np")
    assert not np.array_equal(ec["met"], ak.to_numpy(ea["met"]))
    assert c["genEventCount"] == 10_000
    # the in-memory generator gives the same events as the file
    mem = g.generate_events("ttbar", 10_000, seed=11)
    np.testing.assert_array_equal(mem["llr"], ak.to_numpy(ea["llr"]))
    assert ak.to_list(mem["jet_eta"]) == ak.to_list(ea["jet_eta"])


def test_first_event_offsets_ids(tmp_path):
    meta = g.write_sample(tmp_path / "s.root", "signal", 1000, seed=1, first_event=2**40)
    with uproot.open(meta["path"]) as f:
        event = f["Events"]["event"].array(library="np")
    np.testing.assert_array_equal(event, 2**40 + np.arange(1000, dtype=np.uint64))
    ev = g.generate_events("signal", 10, 1)
    np.testing.assert_array_equal(ev["event"], np.arange(1, 11, dtype=np.uint64))


def test_tree_in_tdirectory(tmp_path):
    g.write_sample(tmp_path / "s.root", "signal", 100, seed=1, tree="analysis/tree")
    with uproot.open(tmp_path / "s.root") as f:
        assert f["analysis/tree"].num_entries == 100


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"process": "zjets"}, "zjets"),
        ({"n_events": 0}, "n_events"),
        ({"n_events": 2.5}, "n_events"),
        ({"n_events": True}, "n_events"),
        ({"seed": -1}, "seed"),
        ({"first_event": -1}, "first_event"),
        ({"first_event": 2**64 - 5}, "first_event"),
    ],
)
def test_bad_input(kwargs, word, tmp_path):
    args = {"process": "signal", "n_events": 10, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=word):
        g.generate_events(**args)
    with pytest.raises(ValueError, match=word):
        g.write_sample(tmp_path / "x.root", **args)
    assert not (tmp_path / "x.root").exists()
    assert list(tmp_path.iterdir()) == []


def test_bad_step_size(tmp_path):
    with pytest.raises(ValueError, match="step_size"):
        g.write_sample(tmp_path / "x.root", "signal", 10, 0, step_size=0)


def test_missing_branch():
    ev = g.generate_events("signal", 10, 0)
    del ev["met"]
    with pytest.raises(ValueError, match="met"):
        g.log_likelihood_ratio(ev)


# --------------------------------------------------------------------------------------------
# the science: calibration, normalisation, separation
# --------------------------------------------------------------------------------------------
def calibration_chi2(y, w, llr, prior, n_bins=20):
    """Chi2 of observed signal weight vs background reweighted by prior * exp(llr), llr bins."""
    edges = np.quantile(llr, np.linspace(0, 1, n_bins + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    b = np.digitize(llr, edges[1:-1])
    ws, wb = np.where(y, w, 0.0), np.where(y, 0.0, w * prior * np.exp(llr))
    obs = np.bincount(b, ws, n_bins)
    pred = np.bincount(b, wb, n_bins)
    var = np.bincount(b, ws**2, n_bins) + np.bincount(b, wb**2, n_bins)
    return float(np.sum((obs - pred) ** 2 / var)), n_bins


def test_llr_calibration():
    _, y, w, llr = mixed_sample(100_000, seed=21)
    sigma_s = g.PROCESSES[SIGNAL].xsec_pb
    sigma_b = sum(g.PROCESSES[b].xsec_pb for b in BACKGROUNDS)
    prior = sigma_s / sigma_b
    # lumi-weighted S / B in llr bins = prior * exp(llr): chi2 / ndf ~ 1
    chi2, ndf = calibration_chi2(y, w, llr, prior)
    assert chi2 < ndf + 5 * math.sqrt(2 * ndf), chi2
    # the test has power: a 15 % mis-scaled llr, or a wrong background mixture, fails it
    assert calibration_chi2(y, w, 1.15 * llr, prior)[0] > ndf + 10 * math.sqrt(2 * ndf)
    mis_mixed = np.concatenate(
        [
            lumi_weights({"genWeight": np.ones(100_000)}, k) * (1.0 if k == SIGNAL else f)
            for k, f in zip(g.PROCESSES, (1.0, 2.0, 0.6))
        ]
    )
    assert calibration_chi2(y, mis_mixed, llr, prior)[0] > ndf + 10 * math.sqrt(2 * ndf)


def _proposal(rng: np.random.Generator, n: int, nlep: int, njet: int):
    """Events with fixed multiplicities from a simple proposal q, and log q (independent of the
    generator's densities).

    Objects are drawn in descending pT: ``pt1 - ptmin ~ Exp(mean)``, each further
    ``pt_k ~ Uniform(ptmin, pt_{k-1})``; ``eta ~ Normal(0, s)``, ``phi ~ Uniform(-pi, pi)``;
    ``met ~ Exp(70)``, ``met_phi ~ Uniform``.  q is evaluated before the float32 rounding (a
    negligible difference).
    """
    logq = np.zeros(n)
    arrays = {}
    for prefix, count, ptmin, mean, eta_sigma in (
        ("lep", nlep, 20.0, 50.0, 2.0),
        ("jet", njet, 25.0, 60.0, 2.5),
    ):
        pt = np.empty((n, count))
        for k in range(count):
            if k == 0:
                pt[:, 0] = ptmin + rng.exponential(mean, n)
            else:
                pt[:, k] = rng.uniform(ptmin, pt[:, k - 1])
        eta = rng.normal(0.0, eta_sigma, (n, count))
        phi = rng.uniform(-np.pi, np.pi, (n, count))
        if count:
            logq += -math.log(mean) - (pt[:, 0] - ptmin) / mean
            logq -= np.log(pt[:, :-1] - ptmin).sum(axis=1)
            logq += (-0.5 * (eta / eta_sigma) ** 2).sum(axis=1)
            logq -= count * (math.log(eta_sigma * math.sqrt(2 * math.pi)) + math.log(2 * math.pi))
        for name, a in (("pt", pt), ("eta", eta), ("phi", phi)):
            arrays[f"{prefix}_{name}"] = ak.Array(a.astype(np.float32))
    met = rng.exponential(70.0, n)
    logq += -math.log(70.0) - met / 70.0 - math.log(2 * math.pi)
    arrays["met"] = met.astype(np.float32)
    arrays["met_phi"] = rng.uniform(-np.pi, np.pi, n).astype(np.float32)
    return arrays, logq


@pytest.mark.parametrize("process", list(g.PROCESSES))
def test_density_normalises(process):
    """Importance sampling with an independent proposal, slice by slice in multiplicity:
    the integral of exp(log_density) over the events with (nlep, njet) equals the fraction of
    generated events with that multiplicity."""
    n_gen, n_is = 200_000, 100_000
    sample = g.generate_events(process, n_gen, seed=6)
    nlep = ak.to_numpy(ak.num(sample["lep_pt"]))
    njet = ak.to_numpy(ak.num(sample["jet_pt"]))
    rng = np.random.default_rng(5)
    total = 0.0
    for nl, nj in ((0, 0), (1, 1), (1, 2), (2, 3), (1, 4), (3, 5)):
        events, logq = _proposal(rng, n_is, nl, nj)
        ratio = np.exp(g.log_density(events, process) - logq)
        integral, err_is = ratio.mean(), ratio.std() / math.sqrt(n_is)
        frac = np.mean((nlep == nl) & (njet == nj))
        err_gen = math.sqrt(frac * (1 - frac) / n_gen)
        err = math.hypot(err_is, err_gen)
        assert err < 0.1 * frac + 1e-4, (nl, nj, integral, err_is, frac)
        assert abs(integral - frac) < 4 * err, (nl, nj, integral, err_is, frac, err_gen)
        total += frac
    assert total > 0.2


def test_neyman_pearson_auc_and_linear_gap():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ev_train, y_train, w_train, _ = mixed_sample(40_000, seed=31)
    ev_test, y_test, w_test, llr = mixed_sample(40_000, seed=32)
    auc_np = weighted_auc(y_test, llr, w_test)
    assert 0.85 <= auc_np <= 0.95, auc_np

    def flat(evs):
        return np.concatenate([flat_features(e) for e in evs.values()])

    w_fit = np.abs(w_train)
    w_fit = np.where(y_train, w_fit / w_fit[y_train].sum(), w_fit / w_fit[~y_train].sum())
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    clf.fit(flat(ev_train), y_train, logisticregression__sample_weight=w_fit * len(w_fit))
    auc_lin = weighted_auc(y_test, clf.decision_function(flat(ev_test)), w_test)
    assert auc_lin <= auc_np - 0.03, (auc_lin, auc_np)


def np_feature_matrix(events) -> np.ndarray:
    """g.NP_FEATURES evaluated with the pipeline's expression language."""
    from hepmva.features import compile_expression

    arrays = ak.Array(
        {k: v for k, v in events.items()}
        | {"nlep": ak.num(events["lep_pt"]), "njet": ak.num(events["jet_pt"])}
    )
    return np.column_stack(
        [
            np.asarray(compile_expression(expr).evaluate(arrays, default=default), dtype=float)
            for expr, default in g.NP_FEATURES.values()
        ]
    )


def test_np_feature_expressions():
    """The recommended feature expressions evaluate and agree with a direct computation."""
    events = g.generate_events("signal", 2_000, seed=8)
    X = np_feature_matrix(events)
    names = list(g.NP_FEATURES)
    ref = np_features(events)  # met, nlep, njet, lep_pt0, |lep_eta0|, pt0, pt1, mjj, |dphi|, |deta|
    for i, name in enumerate(["met", "nlep", "njet", "lep_pt0"]):
        np.testing.assert_allclose(X[:, names.index(name)], ref[:, i])
    for i, name in zip((5, 6, 7, 8, 9), ("jet_pt0", "jet_pt1", "m_jj", "dphi_jj", "deta_jj")):
        np.testing.assert_allclose(X[:, names.index(name)], ref[:, i], rtol=1e-6, atol=1e-4)


@pytest.mark.slow
def test_xgboost_reaches_np_limit():
    """xgboost on g.NP_FEATURES (pipeline expression language), 100k events per sample."""
    xgb = pytest.importorskip("xgboost")
    ev_train, y_train, w_train, _ = mixed_sample(100_000, seed=41)
    ev_test, y_test, w_test, llr = mixed_sample(100_000, seed=42)
    X_train = np.concatenate([np_feature_matrix(e) for e in ev_train.values()])
    X_test = np.concatenate([np_feature_matrix(e) for e in ev_test.values()])
    w_fit = np.abs(w_train)  # xgboost rejects negative weights
    w_fit = np.where(y_train, w_fit / w_fit[y_train].sum(), w_fit / w_fit[~y_train].sum())
    model = xgb.XGBClassifier(n_estimators=300, learning_rate=0.1, max_depth=4, n_jobs=2)
    model.fit(X_train, y_train, sample_weight=w_fit * len(w_fit))
    auc_xgb = weighted_auc(y_test, model.predict_proba(X_test)[:, 1], w_test)
    auc_np = weighted_auc(y_test, llr, w_test)
    assert auc_np - 0.01 < auc_xgb <= auc_np + 0.003, (auc_xgb, auc_np)


def test_smaller_default_baskets_write_the_same_events(tmp_path):
    """BASKET_EVENTS (16k, for readers' bounded chunks) against the 262k-event baskets of before: every branch
    of every event and the Runs tree bit for bit the same, only the baskets differ."""
    old = g.write_sample(tmp_path / "old.root", "wjets", 40_000, seed=5, step_size=262_144, first_event=7)
    new = g.write_sample(tmp_path / "new.root", "wjets", 40_000, seed=5, first_event=7)
    assert old["genEventSumw"] == new["genEventSumw"]
    with uproot.open(tmp_path / "old.root") as fo, uproot.open(tmp_path / "new.root") as fn:
        assert fo["Events"]["jet_pt"].num_baskets == 1
        assert fn["Events"]["jet_pt"].num_baskets == -(-40_000 // g.BASKET_EVENTS)
        for tree in ("Events", "Runs"):
            assert fo[tree].keys() == fn[tree].keys()
            for branch in fo[tree].keys():
                a, b = fo[tree][branch].array(library="ak"), fn[tree][branch].array(library="ak")
                assert a.type == b.type
                if a.ndim == 1:
                    assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), branch
                else:
                    assert np.asarray(ak.num(a)).tobytes() == np.asarray(ak.num(b)).tobytes(), branch
                    assert np.asarray(ak.flatten(a)).tobytes() == np.asarray(ak.flatten(b)).tobytes(), branch
