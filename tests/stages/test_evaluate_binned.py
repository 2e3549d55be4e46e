"""The evaluate stage behind evaluation.method: binned (per-part histograms) and exact give the same numbers."""

import json

import numpy as np
import pandas as pd
import pytest

from hepmva import metrics, score_parts
from hepmva.datasets import feature_parts
from hepmva.errors import InputError
from hepmva.stages.evaluate import (_judge, evaluate_classifier, neyman_pearson_limit, plot_roc_comparison,
                                    read_limit_curve, read_rejection_curve, write_rejection_curve)
from hepmva.stages.train import train_fold
from tests.conftest import write_ntuple
from tests.stages.test_stages_end_to_end import FEATURES, _build
from tests.test_binned_metrics import study  # noqa: F401  (the generator samples with xgboost scores)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two samples in many feature parts, an xgboost trained per fold, its fold score tables."""
    tmp_path = tmp_path_factory.mktemp("trained")
    ntuple_factory_module = lambda name, **kw: write_ntuple(tmp_path / name, **kw)  # noqa: E731
    _, sig, _ = _build(tmp_path, ntuple_factory_module, "sig", "signal", n=4000, seed=1, negative_fraction=0.05)
    _, bkg, _ = _build(tmp_path, ntuple_factory_module, "bkg", "background", n=4000, seed=2, first_id=10**6,
                       negative_fraction=0.05)
    clf = {"name": "bdt", "kind": "xgboost", "params": {"n_estimators": 30, "max_depth": 3}}
    for fold in (0, 1):
        train_fold([sig, bkg], classifier=clf, fold=fold, feature_names=[f["name"] for f in FEATURES], training={},
                   seed=1, model_dir=tmp_path / f"m{fold}", scores_path=tmp_path / f"s{fold}.parquet")
    return {"dir": tmp_path, "tables": [sig, bkg], "scores": [tmp_path / "s0.parquet", tmp_path / "s1.parquet"],
            "models": [tmp_path / "m0/model.json", tmp_path / "m1/model.json"]}


def _evaluate(trained, method, tmp_path):
    return evaluate_classifier(
        trained["scores"], trained["models"], name="bdt", eff_b=[0.1, 0.3], n_bootstrap=100, seed=0,
        luminosity_pb=1000.0, metrics_path=tmp_path / f"{method}.json", roc_path=tmp_path / f"{method}_roc.png",
        score_plot_path=tmp_path / f"{method}_score.png", overtraining_plot_path=tmp_path / f"{method}_ot.png",
        cut_scan_plot_path=tmp_path / f"{method}_cut.png", evaluation={"method": method, "background_uncertainty": 0.1})


def test_evaluate_stage_binned_equals_exact_for_every_number(trained, tmp_path):
    """Everything evaluate reports, from the per-part histograms and from the events: the same numbers."""
    assert score_parts.score_summary(trained["scores"]).n["test"] > 5000
    out = {m: _evaluate(trained, m, tmp_path) for m in ("exact", "binned")}
    for method, result in out.items():
        assert json.loads((tmp_path / f"{method}.json").read_text())["evaluation_method"] == method
        for plot in ("roc", "score", "ot", "cut"):
            assert (tmp_path / f"{method}_{plot}.png").stat().st_size > 1000
    exact, binned = out["exact"], out["binned"]
    assert set(exact) <= set(binned)
    for k in ("n_events", "n_signal", "n_background", "kind", "n_train"):
        assert binned[k] == exact[k], k
    assert binned["auc"] == pytest.approx(exact["auc"], abs=1e-4)
    assert binned["auc_train"] == pytest.approx(exact["auc_train"], abs=1e-4)
    for key in ("eff_s_at_eff_b", "eff_s_at_eff_b_train"):
        for k, v in exact[key].items():
            assert binned[key][k] == pytest.approx(v, abs=1e-3), (key, k)
    assert binned["separation"] == pytest.approx(exact["separation"], abs=5e-3)
    assert binned["significance"] == pytest.approx(exact["significance"], rel=1e-9)
    assert binned["auc_err"] == pytest.approx(exact["auc_err"], rel=0.4)  # 100 replicas each: ~7 % on each std
    assert set(binned["overtraining"]) == set(exact["overtraining"]) == {"fold0", "fold1"}
    for fold, tests in exact["overtraining"].items():
        for name, t in tests.items():
            b = binned["overtraining"][fold][name]
            assert b["statistic"] == pytest.approx(t["statistic"], abs=5e-3 if name.startswith("ks") else 5e-2)
            assert b["pvalue"] == pytest.approx(t["pvalue"], abs=0.03, rel=0.1), (fold, name)
    for key, z in (("cut_scan_best", "z_asimov"), ("cut_scan_best_sys", "z_asimov_sys")):
        # the optimised significance: a bin (1e-3 in logit) holds a few events, so the binned scan cannot cut
        # between them; on these 8000 events that costs up to 1e-3 of Z
        assert binned[key][z] == pytest.approx(exact[key][z], rel=2e-3), key
        for q in ("eff_s", "eff_b"):  # the cut itself: the same within a few events
            assert binned[key][q] == pytest.approx(exact[key][q], abs=3e-3), (key, q)
        assert binned[key]["threshold"] == pytest.approx(exact[key]["threshold"], abs=1e-3)


def test_binned_evaluation_reads_part_by_part(trained, tmp_path, caplog):
    """The binned path fills one set of histograms per row group (feature part x role) of the score tables."""
    import pyarrow.parquet as pq

    n_groups = sum(pq.ParquetFile(p).metadata.num_row_groups for p in trained["scores"])
    assert n_groups == 2 * 2 * len(feature_parts(trained["tables"]))  # folds x roles x parts
    with caplog.at_level("INFO", logger="hepmva"):
        _evaluate(trained, "binned", tmp_path)
    assert f"rows of {n_groups} parts in 50000-bin logit histograms" in caplog.text


def test_roc_comparison_and_limit_curve(trained, tmp_path, study):
    table = tmp_path / "features.parquet"
    pd.DataFrame({"label": study["y"], "weight": study["w"], "truth_llr": study["llr"],
                  "sample": "x", "fold": 0}).to_parquet(table)
    curves = {}
    for method in ("exact", "binned"):
        limit = neyman_pearson_limit([table], eff_b=[0.01, 0.1], n_bootstrap=0, seed=0, output=tmp_path / "np.json",
                                     curve_path=tmp_path / f"np_{method}.json", evaluation={"method": method})
        assert limit["evaluation_method"] == method
        curves[method] = read_limit_curve(tmp_path / f"np_{method}.json")
    assert curves["binned"].auc == pytest.approx(curves["exact"].auc, abs=1e-4)
    ok = np.isfinite(curves["exact"].rejection) & np.isfinite(curves["binned"].rejection)
    np.testing.assert_allclose(1 / curves["binned"].rejection[ok], 1 / curves["exact"].rejection[ok], atol=1e-3)
    for method in ("exact", "binned"):
        ev = {"method": method, "roc_bootstrap": 5}
        curve_path = tmp_path / f"bdt_{method}_curve.json"
        evaluate_classifier(trained["scores"], trained["models"], name="bdt", eff_b=[0.1], n_bootstrap=0, seed=3,
                            luminosity_pb=1000.0, metrics_path=tmp_path / "m.json", roc_path=tmp_path / "r.png",
                            score_plot_path=tmp_path / "s.png", curve_path=curve_path, evaluation=ev)
        # the curve the comparison draws is the one evaluate computed from the held-out rows, band included,
        # read back bit for bit
        curve = read_rejection_curve(curve_path)
        expected = _judge(trained["scores"], "bdt", ev, 3).curve(ev, 3)
        for field in ("eff_s", "rejection", "lo", "hi"):
            assert getattr(curve, field).tobytes() == getattr(expected, field).tobytes(), field
        assert (curve.eff_s_min, curve.auc) == (expected.eff_s_min, expected.auc)
        plot_roc_comparison({"bdt": curve_path, "bdt_again": curve_path}, luminosity_pb=1000.0,
                            path=tmp_path / f"roc_{method}.png", limit_path=tmp_path / f"np_{method}.json",
                            evaluation=ev)
        assert (tmp_path / f"roc_{method}.png").stat().st_size > 1000
    with pytest.raises(InputError, match="no ROC curve in .*none.json: re-run their evaluate jobs"):
        write_rejection_curve(None, tmp_path / "none.json")
        plot_roc_comparison({"bdt": tmp_path / "none.json"}, luminosity_pb=1000.0, path=tmp_path / "never.png")
    assert not (tmp_path / "never.png").exists()
    pd.DataFrame({"label": study["y"], "weight": study["w"], "sample": "x", "fold": 0}).to_parquet(table)
    assert neyman_pearson_limit([table], eff_b=[0.1], n_bootstrap=0, seed=0, output=tmp_path / "np.json",
                                curve_path=tmp_path / "none.json") == {"available": False}
    assert read_limit_curve(tmp_path / "none.json") is None


def test_neyman_pearson_limit_binned(tmp_path, study):
    table = tmp_path / "features.parquet"
    pd.DataFrame({"label": study["y"], "weight": study["w"], "truth_llr": study["llr"], "sample": "x",
                  "fold": 0}).to_parquet(table)
    limit = neyman_pearson_limit([table], eff_b=[0.01, 0.1], n_bootstrap=10, seed=0, output=tmp_path / "np.json",
                                 evaluation={"method": "auto", "exact_max_events": 1000})
    assert limit["evaluation_method"] == "binned" and limit["n_events"] == len(study["y"])
    assert limit["auc"] == pytest.approx(metrics.roc_auc(study["y"], study["llr"], study["w"]), abs=1e-4)
