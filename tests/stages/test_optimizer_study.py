"""The optimizer-study stage function on real feature tables built from ROOT files."""

import json

import numpy as np

from hepmva.datasets import study_split
from hepmva.stages.features import build_features
from hepmva.stages.optimizer_study import run_optimizer_study

FEATURES = [{"name": "met", "expr": "met"}, {"name": "njet", "expr": "count(jet_pt)"},
            {"name": "jet1_pt", "expr": "jet_pt[0]", "default": 0.0}]


def _tables(tmp_path, ntuple_factory):
    paths = []
    for name, label, seed in (("sig", "signal", 1), ("bkg", "background", 2)):
        root = ntuple_factory(f"{name}.root", n=1500, seed=seed, signal=label == "signal", first_id=seed * 10**6)
        sample = {"name": name, "label": label, "tree": "Events", "weight": "genWeight", "xsec_pb": 1.0,
                  "sum_weights": {"tree": "Runs", "branch": "genEventSumw"}}
        out = tmp_path / f"{name}.json"
        build_features(sample, [str(root)], features=FEATURES, luminosity_pb=1.0, folds=2, output=out)
        paths.append(out)
    return paths


def test_study_split_is_scaled_capped_and_disjoint(tmp_path, ntuple_factory):
    tables = _tables(tmp_path, ntuple_factory)
    s = study_split(tables, ["met", "njet", "jet1_pt"], {}, n_train=500, n_val=400, seed=0, stream=1, study="t")
    assert s.X.shape == (500, 3) and s.X_val.shape == (400, 3)
    np.testing.assert_allclose(np.average(s.X, axis=0, weights=s.w), 0, atol=1e-9)
    assert np.isclose(s.w[s.y == 1].sum(), s.w[s.y == 0].sum())  # class balance


def test_run_optimizer_study_writes_summary_and_plots(tmp_path, ntuple_factory):
    tables = _tables(tmp_path, ntuple_factory)
    settings = {"optimizers": ["gd", "adam"], "epochs": 3, "learning_rates": [1e-4, 1.0, 1e3], "lr_scan_epochs": 2,
                "n_events": 1000, "n_val": 500, "hidden_layer_sizes": [8]}
    run_optimizer_study(tables, feature_names=["met", "njet", "jet1_pt"], training={}, settings=settings, seed=0,
                        summary_path=tmp_path / "s.json", comparison_plot_path=tmp_path / "c.png",
                        lr_scan_plot_path=tmp_path / "lr.png")
    out = json.loads((tmp_path / "s.json").read_text())
    assert out["n_train"] == 1000 and out["n_val"] == 500
    assert (tmp_path / "c.png").stat().st_size > 1000 and (tmp_path / "lr.png").stat().st_size > 1000
    labels = json.dumps(out["lr_scan"])
    assert "diverged" in labels  # a learning rate of 1e3 must be reported as divergence, not crash
