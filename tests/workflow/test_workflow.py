"""Run the real Snakemake workflow on a small study in a temporary directory."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import uproot
import yaml

from hepmva.datasets import load_feature_tables
from tests.conftest import write_ntuple
from tests.workflow.snakemake_run import run_snakemake as _snakemake

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.workflow


def _small_config(tmp_path: Path) -> dict:
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    # one generated signal sample, one background from "user" ntuples: two files, a glob, a TDirectory path
    for i in range(2):
        write_ntuple(tmp_path / "data" / f"bkg_{i}.root", n=1500, seed=10 + i, first_id=10_000 * i,
                     negative_fraction=0.05)
    cfg["samples"] = [
        {"name": "signal", "label": "signal", "generate": {"process": "signal", "n_events": 3000}},
        {"name": "ttbar", "label": "background", "generate": {"process": "ttbar", "n_events": 3000}},
        {"name": "user_bkg", "label": "background", "files": [str(tmp_path / "data" / "bkg_*.root")],
         "tree": "Events", "weight": "genWeight", "xsec_pb": 50.0,
         "sum_weights": {"tree": "Runs", "branch": "genEventSumw"}},
    ]
    # the user files have no leptons: the features must exist in every sample
    cfg["selection"] = None
    cfg["truth_llr"] = None
    cfg["features"] = [
        {"name": "met", "expr": "met"},
        {"name": "njet", "expr": "count(jet_pt)"},
        {"name": "jet1_pt", "expr": "jet_pt[0]", "default": 0},
        {"name": "mjj", "expr": "mass(jets[0], jets[1])", "default": 0},
    ]
    cfg["spectators"] = [{"name": "ht", "expr": "sum(jet_pt)"}]  # the default's mt_w needs leptons too
    cfg["define"] = {"jets": "objects(pt=jet_pt, eta=jet_eta, phi=jet_phi)"}  # reaches the jobs as a param
    cfg["classifiers"] = [
        {"name": "bdt", "kind": "xgboost", "params": {"n_estimators": 20, "max_depth": 3}},
        {"name": "mlp", "kind": "mlp", "params": {"hidden_layer_sizes": [8], "max_iter": 3}},
    ]
    cfg["evaluation"] = {"n_bootstrap": 10, "method": "binned"}  # the histograms of the score parts (auto: exact here)
    # every stage runs, on a budget fit for a test
    cfg["training_methods"].update(budget=20, n_train=1000, n_val=1000, ga_pop_size=10)
    cfg["optimizer_study"].update(epochs=2, n_events=2000, n_val=1000, learning_rates=[1e-3, 1.0, 100.0],
                                  lr_scan_epochs=2, optimizers=["gd", "sgd", "adam"])
    unsup = cfg["unsupervised"]
    for method, cap in {"gmm": 2000, "dbscan": 1000, "meanshift": 300, "agglomerative": 300, "affinity": 200}.items():
        unsup["clustering"]["methods"][method]["max_samples"] = cap
    unsup["clustering"]["plot_points"] = 500
    unsup["decomposition"]["n_bootstrap"] = 5
    unsup["anomaly"].update(max_eval=1000, n_bootstrap=5)
    unsup["anomaly"]["methods"].update(
        gmm={"n_components": 2, "max_train": 1000}, kde={"bandwidth": "scott", "max_train": 200},
        rbm={"n_components": 8, "n_iter": 2}, knn={"n_neighbors": 5, "max_train": 1000},
        iforest={"n_estimators": 20},
    )
    return cfg


def test_workflow_end_to_end_and_report(tmp_path):
    cfg = _small_config(tmp_path)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    _snakemake(tmp_path, "--cores", "2")
    res = tmp_path / "results"
    for sample in ("signal", "ttbar", "user_bkg"):
        df = load_feature_tables([res / "features" / f"{sample}.json"])
        assert {"met", "njet", "jet1_pt", "mjj", "weight", "label", "event", "fold"} <= set(df.columns)
    user = load_feature_tables([res / "features/user_bkg.json"])
    assert len(user) == 3000 and len(list((res / "features/user_bkg").glob("part-*.parquet"))) == 2  # one per file
    # the define: block went through Snakemake's params: mjj equals the older two-object helper
    data = uproot.concatenate([str(tmp_path / "data" / f"bkg_{i}.root:Events") for i in range(2)],
                              ["jet_pt", "jet_eta", "jet_phi"])
    from hepmva.features import compile_expression

    expected = compile_expression("inv_mass(jet_pt, jet_eta, jet_phi)").evaluate(data, default=0)
    np.testing.assert_allclose(user["mjj"], expected, rtol=1e-6)
    metrics = json.loads((res / "metrics/bdt.json").read_text())
    assert 0.5 < metrics["auc"] <= 1.0
    # scored per feature part by the train jobs, evaluated from per-part histograms; no per-classifier join
    assert not (res / "scores").exists()
    manifests = [res / "features" / f"{s}.json" for s in ("signal", "ttbar", "user_bkg")]
    assert metrics["evaluation_method"] == "binned" and metrics["n_events"] == len(load_feature_tables(manifests))
    import pyarrow.parquet as pq

    from hepmva.datasets import feature_parts

    for k in range(cfg["folds"]):  # a row group per feature part (the user sample's two files) and role
        groups = pq.ParquetFile(res / f"models/bdt/scores_fold{k}.parquet").metadata.num_row_groups
        assert groups == 2 * len(feature_parts(manifests)) == 8
    from hepmva.stages.evaluate import evaluate_classifier

    exact = evaluate_classifier(
        [res / f"models/bdt/scores_fold{k}.parquet" for k in range(cfg["folds"])],
        [res / f"models/bdt/fold{k}/model.json" for k in range(cfg["folds"])], name="bdt", eff_b=[0.1, 0.3],
        n_bootstrap=0, seed=0, luminosity_pb=cfg["luminosity_pb"], metrics_path=tmp_path / "exact.json",
        roc_path=tmp_path / "roc.png", score_plot_path=tmp_path / "score.png", evaluation={"method": "exact"})
    assert metrics["auc"] == pytest.approx(exact["auc"], abs=1e-4)
    for k in ("0.1", "0.3"):
        assert metrics["eff_s_at_eff_b"][k] == pytest.approx(exact["eff_s_at_eff_b"][k], abs=1e-3)
    assert json.loads((res / "metrics/neyman_pearson_roc.json").read_text()) == {"available": False}
    summary = pd.read_csv(res / "summary.csv")
    assert set(summary.classifier) == {"bdt", "mlp"}
    assert (res / "plots/roc_comparison.png").exists()
    assert {p.name for p in (res / "plots/inputs").glob("*.png")} == {"met.png", "njet.png", "jet1_pt.png", "mjj.png"}
    assert (res / "plots/correlation_signal.png").exists() and (res / "plots/correlation_background.png").exists()
    friends = json.loads((res / "friends/user_bkg/friends.json").read_text())
    assert len(friends) == 2
    t = uproot.open(tmp_path / friends[1]["friend"])["hepmva"]
    assert t.num_entries == 1500 and "score_bdt" in t.keys() and "ht" in t.keys()
    for rule in ("train", "features", "evaluate"):
        assert any((res / "logs" / rule).iterdir())
    # nothing to do on a second run
    again = _snakemake(tmp_path, "--cores", "2", "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    _snakemake(tmp_path, "--report", str(tmp_path / "report.html"))
    html = (tmp_path / "report.html").read_text(errors="replace")
    assert len(html) > 10_000 and "roc_comparison" in html


def test_bad_config_stops_with_one_line_naming_the_key(tmp_path):
    cfg = _small_config(tmp_path)
    cfg["features"][0]["expr"] = "__import__('os').system('true')"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = _snakemake(tmp_path, "--cores", "1", "-n", check=False)
    assert proc.returncode != 0
    assert "features[0].expr" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_missing_input_file_fails_cleanly(tmp_path):
    cfg = _small_config(tmp_path)
    cfg["samples"][2]["files"] = [str(tmp_path / "data" / "does_not_exist.root")]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = _snakemake(tmp_path, "--cores", "1", check=False)
    assert proc.returncode != 0
    assert "does_not_exist.root" in proc.stdout + proc.stderr


def test_lint_is_clean(tmp_path):
    cfg = _small_config(tmp_path)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = _snakemake(tmp_path, "--lint", check=False)
    out = proc.stdout + proc.stderr
    # The one accepted lint: rules run in the environment the README installs (no per-rule conda env,
    # since the package itself is the environment); every other lint is a defect.
    lints = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("* ")]
    assert lints, out  # the linter ran
    assert set(lints) == {"* Specify a conda environment or container for each rule.:"}, out


def test_features_split_into_entry_ranges_give_the_same_dataset(tmp_path):
    """reading.entries_per_job: the user sample's two files in entry ranges and the generated one split too,
    each part a job of its own; the same events, weights (bit for bit), folds and rows as one part per file."""
    results = {}
    for name, per_job in (("one", None), ("split", 700)):
        work = tmp_path / name
        work.mkdir()
        cfg = _small_config(work)
        cfg["samples"][2]["sum_weights"] = "auto"  # summed over the parts, exactly
        cfg["samples"][2]["weight"] = "genWeight * (1 + met / 1000)"
        cfg["reading"] = {"step_size": 400, "entries_per_job": per_job}
        (work / "config.yaml").write_text(yaml.safe_dump(cfg))
        _snakemake(work, "--cores", "2", *(f"results/features/{s}.json" for s in ("signal", "ttbar", "user_bkg")))
        results[name] = work / "results"
    parts = {name: {s: len(list((res / "logs/features" / s).glob("part-*.log")))
                    for s in ("signal", "ttbar", "user_bkg")} for name, res in results.items()}
    assert parts == {"one": {"signal": 1, "ttbar": 1, "user_bkg": 2}, "split": {"signal": 5, "ttbar": 5, "user_bkg": 6}}
    for s in ("signal", "ttbar", "user_bkg"):
        one, split = (load_feature_tables([results[n] / "features" / f"{s}.json"]) for n in ("one", "split"))
        pd.testing.assert_frame_equal(one, split, check_exact=True)
    # sum_weights: auto is the exact sum over every event of both files, whatever the split
    import math

    data = uproot.concatenate([str(tmp_path / "one/data" / f"bkg_{i}.root:Events") for i in range(2)],
                              ["genWeight", "met"], library="np")
    w = (data["genWeight"] * (1 + data["met"] / 1000)).astype(np.float64)
    for n in ("one", "split"):
        assert json.loads((results[n] / "features/user_bkg.json").read_text())["sum_weights"] == math.fsum(w)


def test_train_jobs_per_classifier_and_per_fold_give_the_same_models(tmp_path):
    """training.jobs: one job per classifier (its folds one after the other, the default) or one per fold (a
    cluster's, set by the SLURM and HTCondor profiles): the same score tables to the last bit; switching
    retrains (the rule's parameters changed)."""
    from tests.workflow.test_errors_cli import _light

    cfg = _light(_small_config(tmp_path))
    cfg["classifiers"] = [cfg["classifiers"][0], {"name": "fisher", "kind": "fisher"}]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    targets = [f"results/models/{c['name']}/scores_fold{k}.parquet" for c in cfg["classifiers"] for k in (0, 1)]

    def train(*config):
        proc = _snakemake(tmp_path, "--cores", "2", "--quiet", "host", *config, "--", *targets)
        jobs = (proc.stdout + proc.stderr).count("rule train:")
        return jobs, {t: pd.read_parquet(tmp_path / t) for t in targets}

    jobs, per_classifier = train()
    assert jobs == 2
    logs = {p.name for p in (tmp_path / "results/logs/train").iterdir()}
    assert logs == {"bdt.log", "fisher.log"}
    assert "fold 1 (2 of 2 in this job)" in (tmp_path / "results/logs/train/bdt.log").read_text()
    jobs, per_fold = train("--config", "training={jobs: per_fold}")
    assert jobs == 4  # every fold again: the train rule's parameters changed
    assert {"bdt_fold0.log", "fisher_fold1.log"} <= {p.name for p in (tmp_path / "results/logs/train").iterdir()}
    for t in targets:
        assert len(per_fold[t]) > 1000
        pd.testing.assert_frame_equal(per_fold[t], per_classifier[t], check_exact=True)
