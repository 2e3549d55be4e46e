"""Issue-5 evaluation: train vs test numbers, overtraining tests, cut scan, permutation importance, plots."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hepmva import metrics
from hepmva.stages.evaluate import summarize
from hepmva.studies.scores import evaluate_train_test
from hepmva.plotting.evaluation import plot_cut_scan, plot_importance, plot_overtraining


def _scores(n=4000, seed=0, overtrain=0.0):
    """Collected-scores table for 2 folds: every event one test row and one train row."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    fold = rng.integers(0, 2, n)
    w = np.where(y == 1, 0.01, 1.0) * rng.uniform(0.5, 1.5, n)
    w[(y == 0) & (rng.random(n) < 0.05)] *= -1
    base = rng.normal(size=n) + 1.2 * y
    test = pd.DataFrame({"label": y, "weight": w, "fold": fold, "role": "test", "score": base})
    # the model of fold k trained on the events of the other fold; overtraining shifts train scores apart
    train_score = base + overtrain * (2 * y - 1) + 0.05 * rng.normal(size=n)
    train = pd.DataFrame({"label": y, "weight": w, "fold": 1 - fold, "role": "train", "score": train_score})
    return pd.concat([test, train], ignore_index=True)


def test_evaluate_train_test_numbers_and_plots(tmp_path):
    df = _scores()
    out = evaluate_train_test(df, name="toy", eff_b=[0.1, 0.3], luminosity_pb=1000.0,
                              overtraining_plot_path=tmp_path / "ot.png", cut_scan_plot_path=tmp_path / "cut.png")
    test = df[df.role == "test"]
    y, s, w = test.label.to_numpy(), test.score.to_numpy(), test.weight.to_numpy()
    assert out["separation"] == pytest.approx(metrics.separation(y, s, w))
    assert out["significance"] == pytest.approx(metrics.discrimination_significance(y, s, w))
    assert set(out["eff_s_at_eff_b_train"]) == {"0.1", "0.3"}
    assert set(out["overtraining"]) == {"fold0", "fold1"}
    assert set(out["overtraining_min_p"]) == {"ks_p_signal", "ks_p_background", "ad_p_signal", "ad_p_background"}
    # no overtraining in this toy: train and test agree, p-values not tiny
    assert min(out["overtraining_min_p"].values()) > 1e-3
    assert out["auc_train"] == pytest.approx(metrics.roc_auc(y, s, w), abs=0.01)
    best = out["cut_scan_best"]
    scan = metrics.cut_scan(y, s, w)
    assert best["z_asimov"] == pytest.approx(np.nanmax(np.where(scan.n_b_events >= 10, scan.z_asimov, np.nan)))
    assert (tmp_path / "ot.png").stat().st_size > 5000 and (tmp_path / "cut.png").stat().st_size > 5000
    json.dumps(out)  # JSON-able


def test_overtraining_is_detected():
    out = evaluate_train_test(_scores(overtrain=0.3), name="toy", eff_b=[0.1])
    assert max(out["overtraining_min_p"].values()) < 0.01
    assert out["auc_train"] > metrics.roc_auc(*(_scores()[lambda d: d.role == "test"][c].to_numpy()
                                                for c in ("label", "score", "weight"))) + 0.02


def test_summary_has_issue5_columns(tmp_path):
    m = {"classifier": "toy", "kind": "svm", "auc": 0.8, "auc_err": 0.01, "eff_s_at_eff_b": {"0.1": 0.5},
         "fit_note": "nystroem on 1000",
         **evaluate_train_test(_scores(), name="toy", eff_b=[0.1])}
    (tmp_path / "toy.json").write_text(json.dumps(m))
    (tmp_path / "np.json").write_text(json.dumps({"available": False}))
    (tmp_path / "imp.json").write_text(json.dumps({"classifier": "toy", "features": ["a", "b", "c", "d"],
                                                   "importances_mean": [0.1, 0.3, 0.0, 0.2]}))
    table = summarize([tmp_path / "toy.json"], tmp_path / "np.json", md_path=tmp_path / "s.md",
                      csv_path=tmp_path / "s.csv", importance_paths=[tmp_path / "imp.json"])
    row = table.iloc[0]
    assert row["top_features"] == "b, d, a"
    assert row["training"] == "nystroem on 1000"
    for col in ("eff_s@eff_b=0.1 (train)", "separation", "significance", "ks_p_signal", "ad_p_background",
                "best_cut", "S_best", "B_best", "Z_asimov_best"):
        assert np.isfinite(row[col]), col


def test_plots_return_figures(tmp_path):
    rng = np.random.default_rng(1)
    s = rng.normal(size=500)
    y = rng.integers(0, 2, 500)
    w = np.ones(500)
    fig = plot_overtraining(s, y, w, s, y, w, tests={"ks_signal": {"pvalue": 0.5}}, path=tmp_path / "a.png")
    assert fig is not None and (tmp_path / "a.png").exists()
    scan = metrics.cut_scan(y, s + y, w)
    plot_cut_scan(scan.thresholds, scan.s, scan.b, scan.s_over_sqrt_s_plus_b, scan.z_asimov,
                  best_threshold=scan.best.threshold, max_points=50, path=tmp_path / "b.png")
    plot_importance(["a", "b"], np.array([0.1, 0.02]), np.array([0.01, 0.01]), own_importance=np.array([0.7, 0.3]),
                    title="t", path=tmp_path / "c.png")
    assert (tmp_path / "b.png").exists() and (tmp_path / "c.png").exists()


def test_summary_quotes_z_with_sigma_b_beside_sigma_b_zero_and_ad_pvalues_as_the_plot(tmp_path):
    m = {"classifier": "toy", "kind": "xgboost", "auc": 0.8, "auc_err": 0.01, "eff_s_at_eff_b": {"0.1": 0.5},
         **evaluate_train_test(_scores(), name="toy", eff_b=[0.1], rel_unc_b=0.1, min_b_events=5)}
    m["overtraining_min_p"].update(ad_p_signal=0.25, ad_p_background=0.001, ks_p_signal=0.4321)
    (tmp_path / "toy.json").write_text(json.dumps(m))
    (tmp_path / "np.json").write_text(json.dumps({"available": False}))
    table = summarize([tmp_path / "toy.json"], tmp_path / "np.json", md_path=tmp_path / "s.md",
                      csv_path=tmp_path / "s.csv")
    row = table.iloc[0]
    assert row["sigma_b_rel"] == 0.1
    assert row["Z_asimov_sys_best"] <= row["Z_asimov_best"] and row["Z_asimov_sys@best_cut"] <= row["Z_asimov_sys_best"]
    y, s, w = (_scores()[lambda d: d.role == "test"][c].to_numpy() for c in ("label", "score", "weight"))
    ref = metrics.cut_scan(y, s, w, rel_unc_b=0.1, min_b_events=5).best_sys
    assert row["Z_asimov_sys_best"] == pytest.approx(ref.z_asimov_sys) and row["best_cut_sys"] == ref.threshold
    md = (tmp_path / "s.md").read_text()
    header = next(line for line in md.splitlines() if "Z_asimov_best" in line)
    assert "Z_asimov_sys_best" in header and "sigma_b_rel" in header
    ot = next(line for line in md.splitlines() if line.startswith("| toy") and ">= 0.25" in line)
    assert "<= 0.001" in ot and "0.432" in ot  # the same words as the overtraining plot's legend
