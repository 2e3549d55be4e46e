"""A real snakemake run with a tiny training.memory_budget_mb: xgboost and the MLP train out of core (logged) and
their train jobs finish; a kind that cannot stream stops with one line naming the budget."""

import json

import pytest
import yaml

from tests.workflow.test_errors_cli import _light, _terminal
from tests.workflow.test_workflow import _small_config, _snakemake

pytestmark = pytest.mark.workflow


def test_tiny_budget_streams_xgboost_and_the_mlp_and_refuses_the_others(tmp_path):
    cfg = _light(_small_config(tmp_path))
    cfg["classifiers"] = [
        {"name": "bdt", "kind": "xgboost", "params": {"n_estimators": 20, "max_depth": 3}, "max_train_events": 2000},
        {"name": "mlp", "kind": "mlp", "params": {"hidden_layer_sizes": [8], "max_iter": 5, "early_stopping": True,
                                                  "n_iter_no_change": 2}},
    ]
    cfg["training"]["memory_budget_mb"] = 0.1  # a few hundred events: every training set is over it
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    targets = [f"results/models/{name}/fold{k}" for name in ("bdt", "mlp") for k in (0, 1)]
    dry = _snakemake(tmp_path, "-n", "--quiet", "host", "--", *targets)
    train_jobs = (dry.stdout + dry.stderr).split("rule train:")[1:]
    # one job per classifier for its two folds (training.jobs: per_classifier), the memory of one fold:
    # the budget + 1500 MB
    assert len(train_jobs) == 2 and all("mem_mb=1501," in job for job in train_jobs)
    _snakemake(tmp_path, "--cores", "2", "--", *targets)
    res = tmp_path / "results"
    for name in ("bdt", "mlp"):
        log = (res / "logs" / "train" / f"{name}.log").read_text()
        for fold in (0, 1):
            meta = json.loads((res / "models" / name / f"fold{fold}" / "model.json").read_text())
            assert meta["fit_mode"] == "stream" and meta["fit_memory_mb"] > 0.1
            assert f"classifier {name} fold {fold}: training" in log and "OUT OF CORE" in log
        curve = meta["learning_curve"]  # held-out loss per stage: training went somewhere
        assert curve["test_loss"][-1] < curve["test_loss"][0]
    bdt = json.loads((res / "models/bdt/fold0/model.json").read_text())
    assert bdt["learning_curve"]["test_auc"][-1] > 0.6
    assert bdt["n_train"] == 2000 and "external memory" in (res / "logs/train/bdt.log").read_text()

    # a kind that cannot stream stops in one line naming the budget (the features are there already)
    cfg["classifiers"].append({"name": "fisher", "kind": "fisher"})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = _snakemake(tmp_path, "--cores", "2", "--", "results/models/fisher/fold0", check=False)
    assert proc.returncode != 0
    errors = [ln for ln in _terminal(proc) if ln.startswith("hepmva error: ")]
    assert errors and "classifier 'fisher' (fisher)" in errors[0] and "training.memory_budget_mb = 0.1" in errors[0]
    assert "max_train_events to at most" in errors[0]
    assert not (res / "models" / "fisher" / "fold0").exists()
