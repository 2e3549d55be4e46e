"""Apply a trained study's bundle to new ntuples: out-of-fold reproduction, data, friend trees, templates, a fit."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot
from sklearn.metrics import roc_auc_score

from hepmva import score_parts
from hepmva.bundle import BundleError, load_bundle
from hepmva.datasets import load_feature_tables
from hepmva.io import InputError
from hepmva.models import classifier_score, load_estimator
from hepmva.preprocessing import Scaler
from hepmva.samples import assign_folds
from hepmva.stages.apply import (apply_files, apply_sample, make_templates, plot_sculpting, read_apply_tables,
                                 template_name)
from tests.apply_helpers import FEATURES, LUMI, SPECTATORS
from tests.conftest import write_ntuple

ROOT = Path(__file__).resolve().parents[1]


def _friend(path) -> dict:
    with uproot.open(path) as f:
        return f["hepmva"].arrays(library="np")


def _oof(study, clf: str, sample: str) -> pd.DataFrame:
    """Out-of-fold scores of a training sample, with the entry of each event in its file."""
    models = study["root"] / "results" / "models" / clf
    scores = score_parts.read_scores(sorted(models.glob("scores_fold*.parquet")), role="test", sample=sample)
    scores = scores.sort_values("row")
    feats = load_feature_tables([study["root"] / "features" / f"{sample}.json"])
    return pd.DataFrame({"entry": feats["entry"].to_numpy(), "event": feats["event"].to_numpy(),
                         "score": scores["score"].to_numpy()})


@pytest.mark.parametrize("step_size", ["50 MB", 170])
def test_reapplying_a_training_sample_reproduces_the_out_of_fold_scores_exactly(apply_study, tmp_path, step_size):
    root = apply_study["root"]
    records = apply_files(apply_study["models"], [str(root / "signal.root")], tmp_path / "out", trained_as="signal",
                          step_size=step_size)
    friend = _friend(records[0]["friend"])
    with uproot.open(root / "signal.root") as f:
        n, event = f["Events"].num_entries, f["Events"]["event"].array(library="np")
    assert len(friend["event"]) == n and np.array_equal(friend["event"], event)  # entry-aligned
    for clf in ("xgb", "mlp"):
        oof = _oof(apply_study, clf, "signal")
        sel = np.flatnonzero(friend["selected"])
        assert np.array_equal(sel, oof["entry"].to_numpy())  # the training selection (global + sample's) again
        if clf == "mlp" and step_size != "50 MB":
            # the MLP's BLAS products on other matrix shapes (chunks of 170 events instead of the whole
            # table at training) may round the last bit differently: equal to within 2 ulp
            np.testing.assert_allclose(friend[f"score_{clf}"][sel], oof["score"].to_numpy(), rtol=5e-16, atol=0)
        else:
            np.testing.assert_array_equal(friend[f"score_{clf}"][sel], oof["score"].to_numpy())
        assert np.isnan(friend[f"score_{clf}"][~friend["selected"]]).all()
    np.testing.assert_array_equal(friend["fold"][sel], assign_folds(event[sel], 2))
    assert (friend["fold"][~friend["selected"]] == -1).all()
    # spectator carried along, as in the training features table
    feats = load_feature_tables([root / "features" / "signal.json"])
    np.testing.assert_allclose(friend["ht"][sel], feats["ht"].to_numpy())


def _independent_scores(models: Path, clf: str, X: np.ndarray) -> np.ndarray:
    """(k, n) scores of each fold model, loaded and scaled by hand from the fold directories."""
    out = []
    for k in range(2):
        d = models / clf / f"fold{k}"
        scaler = Scaler.from_dict(json.loads((d / "model.json").read_text())["scaler"])
        out.append(classifier_score(load_estimator(d), scaler.transform(X)))
    return np.array(out)


def _features_by_hand(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features of the data file computed with awkward directly (not the expression language), and the selection."""
    with uproot.open(path) as f:
        a = f["Events"].arrays()
    pt, eta, phi = a.jet_pt, a.jet_eta, a.jet_phi
    njet = ak.to_numpy(ak.num(pt)).astype(float)
    pad = lambda x, i: ak.to_numpy(ak.fill_none(ak.pad_none(x, 2, clip=True)[:, i], 0.0)).astype(float)  # noqa: E731
    pt1, pt2, e1, e2, p1, p2 = pad(pt, 0), pad(pt, 1), pad(eta, 0), pad(eta, 1), pad(phi, 0), pad(phi, 1)
    px, py = pt1 * np.cos(p1) + pt2 * np.cos(p2), pt1 * np.sin(p1) + pt2 * np.sin(p2)
    pz, en = pt1 * np.sinh(e1) + pt2 * np.sinh(e2), pt1 * np.cosh(e1) + pt2 * np.cosh(e2)
    mjj = np.where(njet >= 2, np.sqrt(np.maximum(en**2 - px**2 - py**2 - pz**2, 0)), 0.0)
    met = ak.to_numpy(a.met).astype(float)
    X = np.column_stack([met, njet, pt1, mjj])
    return X, met > 5, ak.to_numpy(a.is_signal)


@pytest.mark.parametrize("fold_mode", ["fold", "mean"])
def test_data_never_seen_in_training(apply_study, tmp_path, fold_mode):
    root, models = apply_study["root"], apply_study["models"]
    data = root / "data.root"
    friend = _friend(apply_files(models, [str(data)], tmp_path / fold_mode, fold_mode=fold_mode)[0]["friend"])
    X, selected, is_signal = _features_by_hand(data)
    with uproot.open(data) as f:
        event = f["Events"]["event"].array(library="np")
    assert np.array_equal(friend["event"], event) and np.array_equal(friend["selected"], selected)
    for clf in ("xgb", "mlp"):
        per_fold = _independent_scores(models, clf, X[selected])
        want = per_fold.mean(axis=0) if fold_mode == "mean" else \
            per_fold[assign_folds(event[selected], 2), np.arange(selected.sum())]
        np.testing.assert_allclose(friend[f"score_{clf}"][selected], want, rtol=1e-6, atol=1e-9)
        # the models separate the mixed-in signal from the background in a file they never saw
        assert roc_auc_score(is_signal[selected], friend[f"score_{clf}"][selected]) > 0.7


def test_python_function_scores_arrays(apply_study, tmp_path):
    bundle = load_bundle(apply_study["models"])
    assert bundle.feature_names == [f["name"] for f in FEATURES] and set(bundle.classifiers) == {"xgb", "mlp"}
    with uproot.open(apply_study["root"] / "data.root") as f:
        arrays = f["Events"].arrays(["jet_pt", "jet_eta", "jet_phi", "met", "event"])
    friend = _friend(apply_files(bundle, [str(apply_study["root"] / "data.root")], tmp_path)[0]["friend"])
    scores = bundle.score(arrays, with_selection=True)
    for clf in ("xgb", "mlp"):
        np.testing.assert_array_equal(np.isnan(scores[clf]), ~friend["selected"])
        np.testing.assert_allclose(scores[clf][friend["selected"]], friend[f"score_{clf}"][friend["selected"]])
    # a mapping of numpy / awkward columns, no selection, mean over folds (no event id needed)
    plain = {k: arrays[k] for k in ("jet_pt", "jet_eta", "jet_phi")} | {"met": ak.to_numpy(arrays.met)}
    mean = bundle.score(plain, fold_mode="mean", classifiers=["xgb"])
    assert list(mean) == ["xgb"] and np.isfinite(mean["xgb"]).all() and len(mean["xgb"]) == len(arrays)


def test_missing_branch_fails_in_one_line_naming_file_and_feature(apply_study, tmp_path):
    bad = tmp_path / "nomet.root"
    with uproot.open(apply_study["root"] / "data.root") as f:
        a = f["Events"].arrays(["jet_pt", "jet_eta", "jet_phi", "event"])
    from hepmva.io import write_ttree

    with uproot.recreate(bad) as f:
        write_ttree(f, "Events", {"jet": ak.zip({"pt": a.jet_pt, "eta": a.jet_eta, "phi": a.jet_phi}),
                                  "event": ak.to_numpy(a.event)})
    with pytest.raises(InputError) as err:
        apply_files(apply_study["models"], [str(bad)], tmp_path / "out")
    msg = str(err.value)
    assert "\n" not in msg and str(bad) in msg and "feature 'met'" in msg and "'met'" in msg
    assert not list((tmp_path / "out").glob("*.root"))  # nothing partial
    junk = tmp_path / "junk.root"
    junk.write_text("not a ROOT file\n")
    with pytest.raises(InputError, match="junk.root: not a readable ROOT file") as err:
        apply_files(apply_study["models"], [str(junk)], tmp_path / "out")
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="no tree 'Nope'"):
        apply_files(apply_study["models"], [str(apply_study["root"] / "data.root")], tmp_path / "out", tree="Nope")


def test_different_feature_definitions_fail_naming_the_feature(apply_study):
    bundle = load_bundle(apply_study["models"])
    changed = [dict(f) for f in FEATURES]
    changed[2]["expr"] = "jet_pt[1]"
    with pytest.raises(BundleError, match=r"feature 'jet1_pt' .*jet_pt\[1\]"):
        bundle.check_features(changed, where="my.yaml")
    with pytest.raises(BundleError, match="feature 'extra'"):
        bundle.check_features(FEATURES + [{"name": "extra", "expr": "met"}])
    bundle.check_features(FEATURES)  # the same definitions pass
    with pytest.raises(BundleError, match="definition 'jets'"):
        bundle.check_features(FEATURES, define={"jets": "objects(pt=jet_pt, eta=jet_eta, phi=jet_phi)"})


def test_a_bundle_loaded_for_a_one_core_job_predicts_on_one_thread_with_the_same_scores(apply_study):
    """load_bundle(n_jobs=1), as the apply jobs load it: the xgboost fold models predict on one thread (saved,
    their n_jobs is None: every core), and every classifier's scores are those of the bundle as saved."""
    import numpy as np

    saved, one = load_bundle(apply_study["models"]), load_bundle(apply_study["models"], n_jobs=1)
    assert [e.get_params()["n_jobs"] for e in one.classifiers["xgb"].estimators] == [1, 1]
    X = np.random.default_rng(5).normal(size=(300, len(FEATURES)))
    for name in saved.classifiers:
        for a, b in zip(saved.classifiers[name].estimators, one.classifiers[name].estimators):
            np.testing.assert_array_equal(classifier_score(a, X), classifier_score(b, X))


def test_bundle_is_self_describing_and_checked(apply_study, tmp_path):
    import shutil

    models = apply_study["models"]
    info = json.loads((models / "xgb" / "bundle.json").read_text())
    study = info["study"]
    assert study["features"] == FEATURES and study["spectators"] == SPECTATORS and study["selection"] == "met > 5"
    assert study["training_samples"]["signal"]["selection"] == "count(jet_pt) >= 1"
    assert study["fold_rule"] == {"hash": "splitmix64", "k": 2} and study["event_id"] == "event"
    assert info["classifier"]["kind"] == "xgboost" and info["classifier"]["params"]["n_estimators"] == 20
    assert info["hepmva_version"] and len(info["features_sha256"]) == 64
    assert len(info["folds"]) == 2 and info["folds"][0]["scaler"]["method"] == "standard"
    lo, hi = info["score_range"]
    assert 0 <= lo < hi <= 1
    # one classifier's directory, copied alone, is a bundle
    alone = tmp_path / "xgb"
    shutil.copytree(models / "xgb", alone)
    assert list(load_bundle(alone).classifiers) == ["xgb"]
    # a changed model file is refused, naming it
    est = next(p for p in (alone / "fold1").iterdir() if p.name.startswith("estimator."))
    est.write_bytes(est.read_bytes() + b" ")
    with pytest.raises(BundleError, match=f"{est.name}: changed since"):
        load_bundle(alone)
    # hand-edited feature definitions no longer match their hash
    edited = json.loads((models / "bundle.json").read_text())
    edited["study"]["features"][0]["expr"] = "met * 2"
    (tmp_path / "bundle.json").write_text(json.dumps(edited))
    with pytest.raises(BundleError, match="content hash"):
        load_bundle(tmp_path / "bundle.json")
    with pytest.raises(BundleError, match="no such file"):
        load_bundle(tmp_path / "nothing")
    with pytest.raises(BundleError, match="no classifier nope"):
        load_bundle(models, ["nope"])


def _sample(root: Path, name: str, **kw) -> dict:
    base = {"name": name, "kind": "mc", "label": "background", "tree": "Events", "selection": None,
            "weight": "genWeight", "sum_weights": {"tree": "Runs", "branch": "genEventSumw"}, "variations": {},
            "weight_variations": {}}
    return base | kw


@pytest.fixture(scope="module")
def applied(apply_study, tmp_path_factory):
    """The apply stage on data, new signal (nominal + jes variations) and new background (weight variations)."""
    root, models = apply_study["root"], apply_study["models"]
    out = tmp_path_factory.mktemp("applied")
    # a "jes" variation of the new signal: the same events, jets scaled by 1.05 / 0.95
    for tag, factor in (("up", 1.05), ("down", 0.95)):
        write_ntuple(out / f"signal_jes_{tag}.root", n=800, seed=11, signal=True, first_id=500_000,
                     jet_scale=factor)
    samples = [
        {"name": "data", "kind": "data", "files": [str(root / "data.root")], "tree": "Events", "selection": None,
         "variations": {}, "weight_variations": {}},
        _sample(root, "sig", label="signal", process="signal", files=[str(root / "signal_new.root")], xsec_pb=2.0,
                variations={"jes_up": {"files": [str(out / "signal_jes_up.root")]},
                            "jes_down": {"files": [str(out / "signal_jes_down.root")]}}),
        _sample(root, "bkg", process="bkg", files=[str(root / "bkg_new.root")], xsec_pb=50.0,
                weight_variations={"norm_up": "genWeight * 1.1", "norm_down": "genWeight * 0.9"}),
    ]
    tables, summaries = [], {}
    for s in samples:
        summaries[s["name"]] = apply_sample(models, s, features=FEATURES, luminosity_pb=LUMI, fold_mode="mean",
                                            step_size=300, directory=out / s["name"])
        tables.append(out / s["name"] / "summary.json")
    return {"out": out, "tables": tables, "summaries": summaries, "samples": samples}


def test_apply_stage_friend_trees_and_tables(applied, apply_study):
    out = applied["out"]
    assert set(applied["summaries"]["sig"]["variations"]) == {"nominal", "jes_up", "jes_down"}
    assert json.loads((out / "sig" / "summary.json").read_text()) == applied["summaries"]["sig"]
    assert applied["summaries"]["data"]["variations"]["nominal"]["entries"] == 1100
    for var in ("nominal", "jes_up"):
        friend = _friend(out / "sig" / "friends" / var / f"0_signal{'_new' if var == 'nominal' else '_jes_up'}.root")
        assert len(friend["event"]) == 800 and np.array_equal(friend["event"], np.arange(500_000, 500_800))
        assert np.isfinite(friend["weight"][friend["selected"]]).all()
    bkg = _friend(out / "bkg" / "friends" / "nominal" / "0_bkg_new.root")
    sel = bkg["selected"]
    np.testing.assert_allclose(bkg["weight_norm_up"][sel], 1.1 * bkg["weight"][sel])
    # physics weights: generator weight x xsec x L / sum of generator weights
    with uproot.open(apply_study["root"] / "bkg_new.root") as f:
        gw = f["Events"]["genWeight"].array(library="np")
        sumw = f["Runs"]["genEventSumw"].array(library="np").sum()
    np.testing.assert_allclose(bkg["weight"][sel], gw[sel] * 50.0 * LUMI / sumw)
    data = _friend(out / "data" / "friends" / "nominal" / "0_data.root")
    assert "weight" not in data and "score_xgb" in data and "ht" in data
    table = read_apply_tables(applied["tables"][1])
    assert set(table["variation"]) == {"nominal", "jes_up", "jes_down"}
    assert table.loc[table["variation"] != "nominal", "weight"].notna().all()
    # the jes-up variation moves the jets, hence the scores
    nominal = table[table["variation"] == "nominal"].set_index("event")["score_xgb"]
    up = table[table["variation"] == "jes_up"].set_index("event")["score_xgb"]
    common = nominal.index.intersection(up.index)
    assert len(common) > 700 and not np.allclose(nominal[common], up[common])


@pytest.mark.parametrize("name", ["sig", "bkg"])
def test_apply_sample_in_entry_ranges_is_the_same(applied, apply_study, tmp_path, name):
    """In this process too: files split into entry ranges give the same friend entries, rows and weights."""
    sample = next(s for s in applied["samples"] if s["name"] == name)
    got = apply_sample(apply_study["models"], sample, features=FEATURES, luminosity_pb=LUMI, fold_mode="mean",
                       step_size=300, entries_per_job=300, directory=tmp_path / name)
    want = applied["summaries"][name]
    for var, v in want["variations"].items():
        g = got["variations"][var]
        assert len(g["parts"]) == 3 and [p["entry_stop"] for p in g["parts"]] == [266, 533, 800]  # 800 entries
        for key in ("entries", "selected", "yield", "sum_weights", "scale"):
            assert g.get(key) == v.get(key), (var, key)
        whole = _friend(applied["out"] / name / v["files"][0]["friends"][0])
        parts = [_friend(tmp_path / name / f) for f in g["files"][0]["friends"]]
        for k in whole:
            joined = np.concatenate([p[k] for p in parts])
            if k == "score_mlp":  # BLAS on other chunk shapes (ranges start elsewhere) may round the last bit
                np.testing.assert_allclose(joined, whole[k], rtol=5e-16, atol=0)
            else:
                np.testing.assert_array_equal(joined, whole[k], err_msg=k)
    split = read_apply_tables(tmp_path / name / "summary.json")
    one = read_apply_tables(applied["out"] / name / "summary.json")
    np.testing.assert_allclose(split.pop("score_mlp"), one.pop("score_mlp"), rtol=5e-16, atol=0)
    pd.testing.assert_frame_equal(split, one, check_exact=True)


def test_templates_are_root_histograms_with_sumw2(applied, apply_study, tmp_path):
    path = tmp_path / "xgb.root"
    meta = make_templates(applied["tables"], classifier="xgb", score_range=apply_study["models"] / "xgb" / "bundle.json",
                          bins=10, luminosity_pb=LUMI, output=path, plot=tmp_path / "stack.png")
    names = {"data_obs", "signal", "signal__jes_up", "signal__jes_down", "bkg", "bkg__norm_up", "bkg__norm_down"}
    assert set(meta) == names
    assert (tmp_path / "stack.png").stat().st_size > 10_000
    # by hand from the table: clipped into the training score range, weights and sum of w^2
    table = read_apply_tables(applied["tables"][2])
    nominal = table[table["variation"] == "nominal"]
    lo, hi = json.loads((apply_study["models"] / "xgb" / "bundle.json").read_text())["score_range"]
    edges = np.linspace(lo, hi, 11)
    s = np.clip(nominal["score_xgb"].to_numpy(), lo, np.nextafter(hi, lo))
    for name, col in (("bkg", "weight"), ("bkg__norm_up", "weight_norm_up")):
        w = nominal[col].to_numpy()
        want, _ = np.histogram(s, edges, weights=w)
        want2, _ = np.histogram(s, edges, weights=w**2)
        with uproot.open(path) as f:
            h = f[name]
            assert h.classname == "TH1D"
            np.testing.assert_allclose(h.values(), want, rtol=1e-10)
            np.testing.assert_allclose(h.variances(), want2, rtol=1e-10)
            np.testing.assert_allclose(h.axis().edges(), edges)
    assert template_name("bkg", "norm_up") == "bkg__norm_up" and template_name("bkg") == "bkg"
    # ROOT itself reads them: bin errors are sqrt(sum w^2)
    ROOT = pytest.importorskip("ROOT")
    f = ROOT.TFile.Open(str(path))
    h = f.Get("bkg")
    assert h.GetNbinsX() == 10 and h.GetSumw2N() == 12
    want, _ = np.histogram(s, edges, weights=nominal["weight"].to_numpy() ** 2)
    for b in range(1, 11):
        assert h.GetBinError(b) == pytest.approx(np.sqrt(want[b - 1]), rel=1e-9)
    assert f.Get("data_obs").Integral() == pytest.approx(len(read_apply_tables(applied["tables"][0])))
    f.Close()


def test_friend_tree_is_a_root_friend(applied):
    ROOT = pytest.importorskip("ROOT")
    data_file = applied["samples"][0]["files"][0]
    friend_file = applied["out"] / "data" / "friends" / "nominal" / "0_data.root"
    f = ROOT.TFile.Open(data_file)
    t = f.Get("Events")
    t.AddFriend("hepmva", str(friend_file))
    n_bad = t.GetEntries("hepmva.event != event")
    n_sel = t.GetEntries("hepmva.selected")
    assert n_bad == 0 and n_sel == int(_friend(friend_file)["selected"].sum())
    f.Close()


def test_pyhf_fit_of_an_asimov_data_set_gives_mu_one(applied, tmp_path):
    pyhf = pytest.importorskip("pyhf")
    path = tmp_path / "mlp.root"
    make_templates(applied["tables"], classifier="mlp", score_range=(0.0, 1.0), bins=8, luminosity_pb=LUMI,
                   output=path)
    with uproot.open(path) as f:
        sig, bkg = f["signal"].values(), f["bkg"].values()
        bkg_err = np.sqrt(f["bkg"].variances())
        up, down = f["bkg__norm_up"].values().sum(), f["bkg__norm_down"].values().sum()
    keep = (sig + bkg) > 0
    spec = {"channels": [{"name": "sr", "samples": [
        {"name": "signal", "data": sig[keep].tolist(), "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        {"name": "bkg", "data": bkg[keep].tolist(), "modifiers": [
            {"name": "bkg_norm", "type": "normsys", "data": {"hi": up / bkg.sum(), "lo": down / bkg.sum()}},
            {"name": "staterror_sr", "type": "staterror", "data": bkg_err[keep].tolist()}]}]}]}
    pyhf.set_backend("numpy", "minuit")
    try:
        model = pyhf.Model(spec)
        asimov = model.expected_data(model.config.suggested_init())  # mu = 1, nuisances nominal
        result = pyhf.infer.mle.fit(asimov, model, return_uncertainties=True)
    finally:
        pyhf.set_backend("numpy", "scipy")
    mu, sigma = result[model.config.poi_index]
    assert up / bkg.sum() == pytest.approx(1.1) and down / bkg.sum() == pytest.approx(0.9)
    assert 0 < sigma < 5 and abs(mu - 1.0) < sigma
    assert mu == pytest.approx(1.0, abs=1e-3)


def test_sculpting_plot(applied, tmp_path):
    out = tmp_path / "sculpt.png"
    got = plot_sculpting(applied["tables"], classifier="xgb", spectators=SPECTATORS, output=out, fine=4000)
    assert out.stat().st_size > 10_000
    # streamed through fine histograms: the cuts are the background's |w|-weighted score quantiles (by sorting
    # here) to within one fine bin, and each score bin holds the weight of its events
    table = read_apply_tables(applied["tables"])
    bkg = table[(table["kind"] == "mc") & (table["label"] == "background") & (table["variation"] == "nominal")]
    score, w, ht = bkg["score_xgb"].to_numpy(), bkg["weight"].to_numpy(), bkg["ht"].to_numpy()
    order = np.argsort(score)
    cum = np.cumsum(np.abs(w[order]))
    exact = [score[order][np.searchsorted(cum, q * cum[-1])] for q in (0.25, 0.5, 0.75)]
    assert len(got["cuts"]) == 3
    np.testing.assert_allclose(got["cuts"], exact, atol=(score.max() - score.min()) / 4000 * 1.01)
    which = np.searchsorted(got["cuts"], score, side="right")
    edges = got["edges"]["ht"]
    for b in range(4):
        want, _ = np.histogram(np.clip(ht[which == b], edges[0], np.nextafter(edges[-1], 0)), edges,
                               weights=w[which == b])
        np.testing.assert_allclose(got["counts"]["ht"][b], want, rtol=1e-12, atol=1e-12)
    # the plot range: the 0.5 % and 99.5 % quantiles (the first event reaching them), to within one fine bin
    width = (ht.max() - ht.min()) / 4000
    for edge, q in ((edges[0], 0.005), (edges[-1], 0.995)):
        assert 0 <= edge - np.quantile(ht, q, method="inverted_cdf") <= width * 1.01


@pytest.mark.slow
def test_installed_console_script(apply_study, tmp_path):
    """``pip install`` puts a ``hepmva`` command on the PATH that applies a bundle."""
    import shutil

    source, prefix = tmp_path / "source", tmp_path / "prefix"  # built from a copy: no build/ in the checkout
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--prefix",
                    str(prefix), str(source)], check=True, capture_output=True, timeout=600)
    site = next(prefix.glob("lib/python*/site-packages"))
    env = {"PYTHONPATH": str(site), "PATH": f"{prefix / 'bin'}:/usr/bin:/bin"}
    out = tmp_path / "out"
    proc = subprocess.run([str(prefix / "bin" / "hepmva"), "apply", str(apply_study["models"]),
                           str(apply_study["root"] / "data.root"), "-o", str(out), "--classifier", "mlp"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "score_mlp" in _friend(out / "0_data.root")


def test_command_line(apply_study, tmp_path):
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["hepmva"] == "hepmva.cli:main"
    env = {"PYTHONPATH": str(ROOT / "src") + ":" + str(ROOT), "PATH": "/usr/bin:/bin"}
    data = apply_study["root"] / "data.root"
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "hepmva", "apply", str(apply_study["models"] / "xgb"), str(data),
                           "-o", str(out), "--fold-mode", "mean"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    friend = _friend(out / "0_data.root")
    with uproot.open(data) as f:
        assert np.array_equal(friend["event"], f["Events"]["event"].array(library="np"))
    assert set(friend) == {"event", "selected", "fold", "score_xgb", "ht"}
    bundle = load_bundle(apply_study["models"])
    with uproot.open(data) as f:
        want = bundle.score(f["Events"].arrays(), fold_mode="mean", classifiers=["xgb"], with_selection=True)["xgb"]
    np.testing.assert_allclose(friend["score_xgb"], want)
    # bad input: one line on the terminal, exit status 2, traceback in --log
    log = tmp_path / "apply.log"
    proc = subprocess.run([sys.executable, "-m", "hepmva", "apply", str(tmp_path / "nothing"), str(data), "-o",
                           str(tmp_path / "o2"), "--log", str(log)], capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "bundle.json: no such file" in proc.stderr
    assert "Traceback" in log.read_text()
    proc = subprocess.run([sys.executable, "-m", "hepmva", "apply", "--help"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and "--fold-mode" in proc.stdout


def test_readme_score_new_data_example_runs(apply_study, tmp_path):
    import re

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Score new data"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "models").symlink_to(apply_study["models"])
    (tmp_path / "data.root").symlink_to(apply_study["root"] / "data.root")
    (tmp_path / "example.py").write_text(code)
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert re.search(r"xgb: mean score 0\.\d+ on \d+ selected events", out.stdout)
    assert (tmp_path / "scored" / "0_data.root").exists()


def test_score_files_returns_the_friend_tree_scores_as_a_table(apply_study, tmp_path):
    from hepmva.stages.apply import score_files

    data = str(apply_study["root"] / "data.root")
    table = score_files(apply_study["models"], [data], fold_mode="mean", step_size=250)
    friend = _friend(apply_files(apply_study["models"], [data], tmp_path, fold_mode="mean")[0]["friend"])
    sel = np.flatnonzero(friend["selected"])
    assert list(table.columns) == ["file_index", "entry", "event", "fold", "score_xgb", "score_mlp", "ht"]
    np.testing.assert_array_equal(table["entry"], sel)
    np.testing.assert_array_equal(table["event"], friend["event"][sel])
    np.testing.assert_allclose(table["score_mlp"], friend["score_mlp"][sel])


def test_an_rntuple_input_gets_the_same_scores(apply_study, tmp_path):
    """The apply reads RNTuples like TTrees (hepmva.io); the friend is a TTree either way."""
    data = apply_study["root"] / "data.root"
    with uproot.open(data) as f:
        a = f["Events"].arrays(["jet_pt", "jet_eta", "jet_phi", "met", "event"])
    rntuple = tmp_path / "data_rntuple.root"
    with uproot.recreate(rntuple) as f:
        f.mkrntuple("Events", {k: a[k] for k in a.fields})
    with uproot.open(rntuple) as f:
        assert "RNTuple" in type(f["Events"]).__name__
    want = _friend(apply_files(apply_study["models"], [str(data)], tmp_path / "a", fold_mode="mean")[0]["friend"])
    got = _friend(apply_files(apply_study["models"], [str(rntuple)], tmp_path / "b", fold_mode="mean")[0]["friend"])
    np.testing.assert_array_equal(got["event"], want["event"])
    np.testing.assert_allclose(got["score_xgb"], want["score_xgb"])
