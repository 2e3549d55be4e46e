"""The evaluate stage behind evaluation.method: binned and exact give the same numbers."""

import json

import pandas as pd
import pytest

from hepmva import metrics
from hepmva.stages.evaluate import evaluate_classifier, neyman_pearson_limit
from hepmva.stages.train import collect_scores, train_fold
from tests.stages.test_stages_end_to_end import FEATURES, _build
from tests.test_binned_metrics import study  # noqa: F401  (the generator samples with xgboost scores)


def test_evaluate_stage_binned_equals_exact(tmp_path, ntuple_factory):
    """The evaluate and Neyman-Pearson stage functions behind evaluation.method: same numbers, method recorded."""
    _, sig, _ = _build(tmp_path, ntuple_factory, "sig", "signal", n=1500, seed=1)
    _, bkg, _ = _build(tmp_path, ntuple_factory, "bkg", "background", n=1500, seed=2, first_id=10**6)
    clf = {"name": "bdt", "kind": "xgboost", "params": {"n_estimators": 30, "max_depth": 3}}
    for fold in (0, 1):
        train_fold([sig, bkg], classifier=clf, fold=fold, feature_names=[f["name"] for f in FEATURES], training={},
                   seed=1, model_dir=tmp_path / f"m{fold}", scores_path=tmp_path / f"s{fold}.parquet")
    collect_scores([tmp_path / "s0.parquet", tmp_path / "s1.parquet"], [sig, bkg], tmp_path / "all.parquet")
    out = {}
    for method in ("exact", "binned"):
        out[method] = evaluate_classifier(
            tmp_path / "all.parquet", [tmp_path / "m0/model.json", tmp_path / "m1/model.json"], name="bdt",
            eff_b=[0.1, 0.3], n_bootstrap=100, seed=0, luminosity_pb=1000.0, metrics_path=tmp_path / f"{method}.json",
            roc_path=tmp_path / f"{method}_roc.png", score_plot_path=tmp_path / f"{method}_score.png",
            evaluation={"method": method})
        assert json.loads((tmp_path / f"{method}.json").read_text())["evaluation_method"] == method
        assert (tmp_path / f"{method}_roc.png").stat().st_size > 1000
    exact, binned = out["exact"], out["binned"]
    assert binned["auc"] == pytest.approx(exact["auc"], abs=1e-4)
    for k, v in exact["eff_s_at_eff_b"].items():
        assert binned["eff_s_at_eff_b"][k] == pytest.approx(v, abs=1e-3)
    assert binned["separation"] == pytest.approx(exact["separation"], abs=5e-3)
    assert binned["auc_err"] == pytest.approx(exact["auc_err"], rel=0.4)  # 100 replicas each: ~7 % on each std


def test_neyman_pearson_limit_binned(tmp_path, study):
    table = tmp_path / "features.parquet"
    pd.DataFrame({"sample": "s", "label": study["y"], "weight": study["w"], "fold": 0,
                  "truth_llr": study["llr"]}).to_parquet(table)
    limit = neyman_pearson_limit([table], eff_b=[0.01, 0.1], n_bootstrap=10, seed=0, output=tmp_path / "np.json",
                                 evaluation={"method": "auto", "exact_max_events": 1000})
    assert limit["evaluation_method"] == "binned" and limit["n_events"] == len(study["y"])
    assert limit["auc"] == pytest.approx(metrics.roc_auc(study["y"], study["llr"], study["w"]), abs=1e-4)
