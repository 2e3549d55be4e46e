"""The stage functions on small real ROOT files (no Snakemake)."""

import json

import numpy as np
import pandas as pd
import pytest
import uproot

from hepmva import io
from hepmva.datasets import load_feature_tables
from hepmva.stages.evaluate import neyman_pearson_limit, summarize
from hepmva.models import classifier_score, load_estimator
from hepmva.stages.features import build_features
from hepmva.stages.train import collect_scores, train_fold
from hepmva.preprocessing import Scaler
from hepmva.stages.writeback import write_friend_trees

FEATURES = [
    {"name": "met", "expr": "met"},
    {"name": "njet", "expr": "count(jet_pt)"},
    {"name": "jet1_pt", "expr": "jet_pt[0]", "default": 0.0},
    {"name": "ht", "expr": "sum(jet_pt)"},
]


def _sample(name, label, **extra):
    return {"name": name, "label": label, "tree": "Events", "weight": "genWeight", "xsec_pb": 2.0,
            "sum_weights": {"tree": "Runs", "branch": "genEventSumw"}, "selection": None, **extra}


def _build(tmp_path, ntuple_factory, name, label, **kw):
    path = ntuple_factory(f"{name}.root", signal=(label == "signal"), **kw)
    out = tmp_path / f"{name}.json"
    info = build_features(_sample(name, label), [str(path)], features=FEATURES, luminosity_pb=1000.0, folds=2,
                          selection="met > 5", step_size=137, output=out)
    df = load_feature_tables([out])
    assert info["n_selected"] == len(df) and np.isclose(info["yield"], df["weight"].sum())
    return path, out, df


def test_build_features_weights_defaults_folds(tmp_path, ntuple_factory):
    path, out, df = _build(tmp_path, ntuple_factory, "bkg", "background", n=800, negative_fraction=0.1, seed=3)
    events = uproot.open(path)["Events"].arrays(["met", "jet_pt", "genWeight"], library="ak")
    sel = np.asarray(events.met) > 5
    assert len(df) == sel.sum()
    np.testing.assert_allclose(df["met"], np.asarray(events.met)[sel], rtol=1e-6)
    njet = np.asarray([len(j) for j in events.jet_pt])[sel]
    np.testing.assert_array_equal(df["njet"], njet)
    assert (df.loc[df["njet"] == 0, "jet1_pt"] == 0).all()
    # weights: genWeight * xsec * lumi / sum of all generated weights (before selection)
    gw = np.asarray(events.genWeight)
    np.testing.assert_allclose(df["weight"], gw[sel] * 2.0 * 1000.0 / gw.sum(), rtol=1e-6)
    assert (df["weight"] < 0).any()
    assert set(df["fold"]) == {0, 1}
    assert df["event"].dtype == np.uint64
    np.testing.assert_array_equal(df["entry"], np.flatnonzero(sel))


def test_sum_weights_auto_counts_all_events_before_selection(tmp_path, ntuple_factory):
    path = ntuple_factory("a.root", n=600, negative_fraction=0.2, seed=5)
    out = tmp_path / "a.json"
    info = build_features(_sample("a", "signal", sum_weights="auto"), [str(path)], features=FEATURES,
                          luminosity_pb=10.0, folds=2, selection="met > 20", step_size=100, output=out)
    gw = uproot.open(path)["Events/genWeight"].array(library="np")
    assert info["sum_weights"] == pytest.approx(gw.sum())
    assert load_feature_tables([out])["weight"].sum() == pytest.approx(info["yield"])


def test_missing_default_nan_and_empty_selection_are_clear_errors(tmp_path, ntuple_factory):
    path = ntuple_factory("s.root", n=200)
    common = dict(luminosity_pb=1.0, folds=2, output=tmp_path / "x.json")
    with pytest.raises(ValueError, match="jet_pt\\[0\\]"):
        build_features(_sample("s", "signal"), [str(path)], features=[{"name": "j", "expr": "jet_pt[0]"}], **common)
    with pytest.raises(ValueError, match="log\\(met - 1000\\).*NaN"):
        build_features(_sample("s", "signal"), [str(path)], features=[{"name": "l", "expr": "log(met - 1000)"}],
                       **common)
    with pytest.raises(ValueError, match="selection leaves no events"):
        build_features(_sample("s", "signal"), [str(path)], features=FEATURES, selection="met < 0", **common)
    with pytest.raises(ValueError, match="no branch 'nope'"):
        build_features(_sample("s", "signal", weight="nope"), [str(path)], features=FEATURES, **common)
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "x").exists()


def test_train_collect_evaluate_writeback(tmp_path, ntuple_factory):
    sig_root, sig, _ = _build(tmp_path, ntuple_factory, "sig", "signal", n=1500, seed=1)
    bkg_root, bkg, _ = _build(tmp_path, ntuple_factory, "bkg", "background", n=1500, seed=2, first_id=10**6)
    clf = {"name": "bdt", "kind": "xgboost", "params": {"n_estimators": 30, "max_depth": 3}}
    names = [f["name"] for f in FEATURES]
    infos = []
    for fold in (0, 1):
        infos.append(train_fold([sig, bkg], classifier=clf, fold=fold, feature_names=names, training={}, seed=1,
                                model_dir=tmp_path / f"m{fold}", scores_path=tmp_path / f"s{fold}.parquet"))
    # the saved model reproduces the scores it wrote
    est = load_estimator(tmp_path / "m0")
    meta = json.loads((tmp_path / "m0/model.json").read_text())
    feats = load_feature_tables([sig, bkg])
    Xs = Scaler.from_dict(meta["scaler"]).transform(feats[names].to_numpy())
    s0 = io.read_table(tmp_path / "s0.parquet")
    t0 = s0[s0.role == "test"]
    assert len(t0) == (feats.fold == 0).sum()
    np.testing.assert_allclose(classifier_score(est, Xs)[(feats.fold == 0).to_numpy()], t0.score, rtol=1e-6)

    scores = collect_scores([tmp_path / "s0.parquet", tmp_path / "s1.parquet"], [sig, bkg], tmp_path / "all.parquet")
    test = scores[scores.role == "test"]
    assert len(test) == len(feats) and (scores.role == "train").sum() == len(feats)

    from hepmva.stages.evaluate import evaluate_classifier

    m = evaluate_classifier(tmp_path / "all.parquet", [tmp_path / "m0/model.json", tmp_path / "m1/model.json"],
                            name="bdt", eff_b=[0.1], n_bootstrap=20, seed=0, luminosity_pb=1000.0,
                            metrics_path=tmp_path / "bdt.json", roc_path=tmp_path / "roc.png",
                            score_plot_path=tmp_path / "score.png")
    assert 0.6 < m["auc"] < 1.0 and m["auc_err"] > 0
    assert (tmp_path / "roc.png").stat().st_size > 1000
    neyman_pearson_limit([sig, bkg], eff_b=[0.1], n_bootstrap=0, seed=0, output=tmp_path / "np.json")
    table = summarize([tmp_path / "bdt.json"], tmp_path / "np.json", md_path=tmp_path / "s.md",
                      csv_path=tmp_path / "s.csv")
    assert list(table.classifier) == ["bdt"]
    md = (tmp_path / "s.md").read_text()
    assert "| bdt |" in md and "## Performance on held-out events" in md

    written = write_friend_trees([str(sig_root)], sig, {"bdt": tmp_path / "all.parquet"},
                                 sample=_sample("sig", "signal"), tree="hepmva", directory=tmp_path / "friends")
    friend = uproot.open(written[0])["hepmva"].arrays(library="np")
    parent = uproot.open(sig_root)["Events"]
    assert len(friend["score_bdt"]) == parent.num_entries
    met = parent["met"].array(library="np")
    np.testing.assert_array_equal(friend["selected"], met > 5)
    assert np.isnan(friend["score_bdt"][met <= 5]).all()
    assert np.isfinite(friend["score_bdt"][met > 5]).all()


def test_one_class_in_training_is_a_clear_error(tmp_path, ntuple_factory):
    _, sig, _ = _build(tmp_path, ntuple_factory, "sig", "signal", n=300)
    with pytest.raises(ValueError, match="only one class"):
        train_fold([sig], classifier={"name": "b", "kind": "xgboost", "params": {}}, fold=0,
                   feature_names=["met"], training={}, model_dir=tmp_path / "m", scores_path=tmp_path / "s.parquet")
    assert not (tmp_path / "m").exists()


def test_sample_with_non_positive_total_weight_fails_at_the_features_stage(tmp_path, ntuple_factory):
    path = ntuple_factory("neg.root", n=200, negative_fraction=1.0, seed=7)
    with pytest.raises(io.InputError, match=r"sample 'neg': the weights of its \d+ selected events sum to -"):
        build_features(_sample("neg", "background", sum_weights=100.0), [str(path)], features=FEATURES,
                       luminosity_pb=1000.0, folds=2, output=tmp_path / "neg.json")
    assert not (tmp_path / "neg.json").exists() and not (tmp_path / "neg").exists()


def test_sum_weights_auto_on_an_empty_tree_names_the_cause(tmp_path, ntuple_factory, caplog):
    empty = tmp_path / "empty.root"
    with uproot.recreate(empty) as f:
        io.write_ttree(f, "Events", {"met": np.zeros(0, dtype=np.float32), "genWeight": np.zeros(0, dtype=np.float32)})
    with pytest.raises(io.InputError, match=r"sample 'e': sum_weights: auto, but the tree 'Events' has no entries"):
        build_features(_sample("e", "background", sum_weights="auto"), [str(empty)], features=FEATURES[:1],
                       luminosity_pb=1.0, folds=2, output=tmp_path / "e.json")
    path = ntuple_factory("a.root", n=100, seed=3)
    with caplog.at_level("INFO", logger="hepmva"):
        build_features(_sample("a", "background", sum_weights="auto"), [str(path)], features=FEATURES[:1],
                       luminosity_pb=1.0, folds=2, output=tmp_path / "a.json")
    assert "sum_weights: auto = 100 (the weights of the 100 events in the files" in caplog.text
