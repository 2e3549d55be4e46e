"""A small trained study for the apply tests: ROOT files written with uproot, real training, a bundle."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from hepmva.io import write_ttree
from hepmva.stages.features import build_features
from hepmva.stages.train import collect_scores, train_fold
from hepmva.stages.apply import write_bundles, write_study_bundle
from tests.conftest import write_ntuple

FEATURES = [
    {"name": "met", "expr": "met"},
    {"name": "njet", "expr": "count(jet_pt)"},
    {"name": "jet1_pt", "expr": "jet_pt[0]", "default": 0},
    {"name": "mjj", "expr": "inv_mass(jet_pt, jet_eta, jet_phi)", "default": 0},
]
SPECTATORS = [{"name": "ht", "expr": "sum(jet_pt)", "label": "$H_T$ [GeV]"}]
SELECTION = "met > 5"
CLASSIFIERS = [
    {"name": "xgb", "kind": "xgboost", "params": {"n_estimators": 20, "max_depth": 3}},
    {"name": "mlp", "kind": "mlp", "params": {"hidden_layer_sizes": [8], "max_iter": 5}},
]
TRAINING = {"negative_weights": "abs", "class_balance": True, "scaler": "standard"}
LUMI = 1000.0
FOLDS = 2


def samples(root: Path) -> list[dict]:
    return [
        {"name": "signal", "label": "signal", "files": [str(root / "signal.root")], "tree": "Events",
         "weight": "genWeight", "xsec_pb": 2.0, "sum_weights": {"tree": "Runs", "branch": "genEventSumw"},
         "selection": "count(jet_pt) >= 1"},
        {"name": "bkg", "label": "background", "files": [str(root / "bkg.root")], "tree": "Events",
         "weight": "genWeight", "xsec_pb": 50.0, "sum_weights": "auto", "selection": None},
    ]


def study_definition(root: Path) -> dict:
    return {"features": FEATURES, "spectators": SPECTATORS, "selection": SELECTION,
            "samples": [{"name": s["name"], "label": s["label"], "selection": s["selection"]} for s in samples(root)],
            "event_id": "event", "folds": FOLDS, "training": TRAINING, "luminosity_pb": LUMI}


def mixed_data(path: Path, parts: list[tuple[Path, int]], *, seed: int = 5) -> Path:
    """A "data" file: events of several ntuples (path, how many) mixed in random order, with is_signal truth."""
    chunks, truth = [], []
    for i, (p, n) in enumerate(parts):
        with uproot.open(p) as f:
            a = f["Events"].arrays(["jet_pt", "jet_eta", "jet_phi", "met", "event", "genWeight"], entry_stop=n)
        chunks.append(a)
        truth.append(np.full(len(a), "signal" in p.name))
    a = ak.concatenate(chunks)
    order = np.random.default_rng(seed).permutation(len(a))
    a = a[order]
    data = {"jet": ak.zip({"pt": a.jet_pt, "eta": a.jet_eta, "phi": a.jet_phi}), "met": a.met,
            "event": ak.to_numpy(a.event), "is_signal": np.concatenate(truth)[order]}
    with uproot.recreate(path) as f:
        write_ttree(f, "Events", data)
    return path


def build_study(root: Path) -> dict:
    """Write the ntuples, build features, train both classifiers on both folds, collect scores, write the bundle."""
    root.mkdir(parents=True, exist_ok=True)
    write_ntuple(root / "signal.root", n=1500, seed=1, signal=True, first_id=0)
    write_ntuple(root / "bkg.root", n=1500, seed=2, first_id=100_000, negative_fraction=0.05)
    # never seen in training: new seeds, new ids
    write_ntuple(root / "signal_new.root", n=800, seed=11, signal=True, first_id=500_000)
    write_ntuple(root / "bkg_new.root", n=800, seed=12, first_id=600_000, negative_fraction=0.05)
    tables = []
    for s in samples(root):
        out = root / "features" / f"{s['name']}.json"
        build_features(s, s["files"], features=FEATURES, spectators=SPECTATORS, luminosity_pb=LUMI, folds=FOLDS,
                       selection=SELECTION, step_size=400, output=out)
        tables.append(out)
    models = root / "results" / "models"
    clf_bundles = []
    for c in CLASSIFIERS:
        for k in range(FOLDS):
            train_fold(tables, classifier=c, fold=k, feature_names=[f["name"] for f in FEATURES], training=TRAINING,
                       seed=3, model_dir=models / c["name"] / f"fold{k}",
                       scores_path=models / c["name"] / f"scores_fold{k}.parquet")
        scores = root / "results" / "scores" / f"{c['name']}.parquet"
        collect_scores([models / c["name"] / f"scores_fold{k}.parquet" for k in range(FOLDS)], tables, scores)
        out = models / c["name"] / "bundle.json"
        write_bundles([models / c["name"] / f"fold{k}" for k in range(FOLDS)], scores, classifier=c,
                      study=study_definition(root), output=out)
        clf_bundles.append(out)
    write_study_bundle(clf_bundles, study=study_definition(root), output=models / "bundle.json")
    mixed_data(root / "data.root", [(root / "signal_new.root", 300), (root / "bkg_new.root", 800)])
    return {"root": root, "models": models, "tables": tables}
