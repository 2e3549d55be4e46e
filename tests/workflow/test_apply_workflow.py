"""The apply stage run by the real Snakemake: data, a re-applied training sample, variations, templates."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import uproot
import yaml

from hepmva.datasets import feature_columns
from tests.apply_helpers import mixed_data
from tests.conftest import write_ntuple
from tests.workflow.snakemake_run import run_snakemake as _snakemake

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.workflow


def _config(tmp_path: Path) -> dict:
    d = tmp_path / "data"
    write_ntuple(d / "signal.root", n=1500, seed=1, signal=True, first_id=0)
    write_ntuple(d / "bkg.root", n=1500, seed=2, first_id=100_000, negative_fraction=0.05)
    write_ntuple(d / "signal_new.root", n=600, seed=11, signal=True, first_id=500_000)
    write_ntuple(d / "bkg_new.root", n=800, seed=12, first_id=600_000)
    write_ntuple(d / "bkg_new_jes_up.root", n=800, seed=12, first_id=600_000, jet_scale=1.05)
    mixed_data(d / "collisions.root", [(d / "signal_new.root", 200), (d / "bkg_new.root", 800)])
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    common = {"tree": "Events", "weight": "genWeight", "sum_weights": {"tree": "Runs", "branch": "genEventSumw"}}
    cfg["samples"] = [
        {"name": "signal", "label": "signal", "files": [str(d / "signal.root")], "xsec_pb": 2.0, **common},
        {"name": "bkg", "label": "background", "files": [str(d / "bkg.root")], "xsec_pb": 50.0, **common},
    ]
    cfg.update(selection="met > 5", truth_llr=None, luminosity_pb=1000.0)
    cfg["features"] = [
        {"name": "met", "expr": "met"},
        {"name": "njet", "expr": "count(jet_pt)"},
        {"name": "jet1_pt", "expr": "jet_pt[0]", "default": 0},
        {"name": "mjj", "expr": "mass(jets[0], jets[1])", "default": 0},
    ]
    cfg["define"] = {"jets": "objects(pt=jet_pt, eta=jet_eta, phi=jet_phi)"}  # carried in the bundle
    cfg["spectators"] = [{"name": "ht", "expr": "sum(jet_pt)", "label": "$H_T$ [GeV]"}]
    cfg["classifiers"] = [
        {"name": "bdt", "kind": "xgboost", "params": {"n_estimators": 20, "max_depth": 3}},
        {"name": "mlp", "kind": "mlp", "params": {"hidden_layer_sizes": [8], "max_iter": 3}},
    ]
    cfg["evaluation"] = {"n_bootstrap": 5, "importance_events": 500, "importance_repeats": 1}
    cfg["training_methods"]["activate"] = False
    cfg["optimizer_study"]["activate"] = False
    for study in ("clustering", "decomposition", "anomaly"):
        cfg["unsupervised"][study]["activate"] = False
    cfg["apply"] = {
        "activate": True, "fold_mode": "mean", "bins": 10,
        "samples": [
            {"name": "collisions", "kind": "data", "files": [str(d / "collisions.root")]},
            {"name": "signal-again", "kind": "mc", "label": "signal", "process": "signal", "trained_as": "signal",
             "files": [str(d / "signal.root")], "xsec_pb": 2.0, **common},
            {"name": "bkg_new", "kind": "mc", "files": [str(d / "bkg_new.root")], "xsec_pb": 50.0, **common,
             "variations": {"jes_up": {"files": [str(d / "bkg_new_jes_up.root")]}},
             "weight_variations": {"norm_up": "genWeight * 1.1", "norm_down": "genWeight * 0.9"}},
        ],
    }
    return cfg


def test_apply_stage_end_to_end(tmp_path):
    cfg = _config(tmp_path)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    # the apply stage's targets (and the writeback of the training signal, to compare): no evaluation
    targets = ["results/models/bundle.json", "results/friends/signal"]
    targets += [f"results/apply/{s}/summary.json" for s in ("collisions", "signal-again", "bkg_new")]
    targets += [f"results/apply/plots/{c}_{p}.png" for c in ("bdt", "mlp") for p in ("stack", "sculpting")]
    _snakemake(tmp_path, "--cores", "2", *targets)
    res = tmp_path / "results"
    bundle = json.loads((res / "models/bundle.json").read_text())
    assert set(bundle["classifiers"]) == {"bdt", "mlp"} and bundle["study"]["spectators"][0]["name"] == "ht"
    assert bundle["study"]["define"] == cfg["define"]
    # the training sample re-applied: the out-of-fold scores of the writeback stage, exactly, entry by entry
    again = uproot.open(res / "apply/signal-again/friends/nominal/0_signal.root")["hepmva"].arrays(library="np")
    wb = uproot.open(res / "friends/signal/0_signal.root")["hepmva"].arrays(library="np")
    assert np.array_equal(again["selected"], wb["selected"])
    np.testing.assert_array_equal(again["ht"], wb["ht"])  # the spectator, in both friend trees
    for clf in ("bdt", "mlp"):
        np.testing.assert_array_equal(again[f"score_{clf}"], wb[f"score_{clf}"])
    # data: entry-aligned with the input by event id
    data = uproot.open(res / "apply/collisions/friends/nominal/0_collisions.root")["hepmva"].arrays(library="np")
    with uproot.open(tmp_path / "data/collisions.root") as f:
        assert np.array_equal(data["event"], f["Events"]["event"].array(library="np"))
    # templates: every process x variation, data as data_obs
    with uproot.open(res / "apply/templates/bdt.root") as f:
        names = {k.split(";")[0] for k in f.keys()}
        assert names == {"data_obs", "signal", "bkg_new", "bkg_new__jes_up", "bkg_new__norm_up", "bkg_new__norm_down"}
        assert f["bkg_new__norm_up"].values().sum() == pytest.approx(1.1 * f["bkg_new"].values().sum())
    for plot in ("bdt_stack.png", "mlp_stack.png", "bdt_sculpting.png"):
        assert (res / "apply/plots" / plot).stat().st_size > 10_000
    assert "events/s" in (res / "logs/apply/collisions/nominal/0_collisions.log").read_text()
    assert "ht" in uproot.open(res / "apply/collisions/friends/nominal/0_collisions.root")["hepmva"].keys()
    # the features tables carry the spectator too (never a training input)
    assert "ht" in feature_columns([res / "features/bkg.json"])
    assert json.loads((res / "models/bdt/fold0/model.json").read_text())["features"] == ["met", "njet", "jet1_pt", "mjj"]


def test_trained_as_with_mean_fold_mode_is_a_config_error(tmp_path):
    cfg = _config(tmp_path)
    cfg["apply"]["samples"][1]["fold_mode"] = "mean"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = _snakemake(tmp_path, "--cores", "1", "-n", check=False)
    assert proc.returncode != 0 and "apply.samples[1].fold_mode" in proc.stdout + proc.stderr
