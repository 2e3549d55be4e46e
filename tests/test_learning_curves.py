"""Learning curves of real boosted models and the in-house MLP on a small toy."""

import json

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.metrics import log_loss
from threadpoolctl import threadpool_limits

from hepmva.learning_curves import LearningCurve, learning_curve, stage_grid, weighted_log_loss
from hepmva.metrics import roc_auc


def _toy(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 3)) + 0.8 * y[:, None] * np.array([1.0, -0.5, 0.3])
    w = rng.uniform(0.5, 2.0, n)
    return X, y, w


@pytest.fixture(scope="module")
def data():
    return _toy(1500, 1), _toy(1500, 2)


def _check_final_stage(est, curve, train, test):
    (X, y, w), (Xt, yt, wt) = train, test
    assert np.all(np.diff(curve.x) > 0) and curve.x[0] == 1
    np.testing.assert_allclose(curve.test_loss[-1], weighted_log_loss(yt, est.predict_proba(Xt)[:, 1], wt),
                               rtol=1e-6)
    np.testing.assert_allclose(curve.train_loss[-1], weighted_log_loss(y, est.predict_proba(X)[:, 1], w),
                               rtol=1e-6)
    assert curve.train_loss[-1] < 0.9 * curve.train_loss[0]  # training loss decreases overall
    if curve.test_auc is not None:
        np.testing.assert_allclose(curve.test_auc[-1], roc_auc(yt, est.predict_proba(Xt)[:, 1], wt), rtol=1e-9)


def test_weighted_log_loss_matches_sklearn():
    rng = np.random.default_rng(0)
    y, p, w = rng.integers(0, 2, 200), rng.uniform(0.01, 0.99, 200), rng.uniform(0.1, 3.0, 200)
    assert weighted_log_loss(y, p, w) == pytest.approx(log_loss(y, p, sample_weight=w), rel=1e-12)
    with pytest.raises(ValueError, match="sum of the event weights"):
        weighted_log_loss(y, p, -w)


def test_stage_grid():
    g = stage_grid(400, 25)
    assert g[0] == 1 and g[-1] == 400 and 20 <= len(g) <= 25
    np.testing.assert_array_equal(stage_grid(3, 25), [1, 2, 3])


def test_xgboost(data):
    from xgboost import XGBClassifier

    (X, y, w), test = data
    est = XGBClassifier(n_estimators=60, max_depth=3, learning_rate=0.2, n_jobs=1).fit(X, y, sample_weight=w)
    curve = learning_curve(est, X, y, w, *test, n_points=10)
    assert curve.x_label == "boosting rounds" and curve.x[-1] == 60 and len(curve.x) == 10
    _check_final_stage(est, curve, (X, y, w), test)


@pytest.mark.parametrize("cls", [GradientBoostingClassifier, HistGradientBoostingClassifier])
def test_sklearn_staged(data, cls):
    (X, y, w), test = data
    kw = {"early_stopping": False} if cls is HistGradientBoostingClassifier else {}
    est = cls(max_iter=40, **kw) if cls is HistGradientBoostingClassifier else cls(n_estimators=40)
    with threadpool_limits(1):  # OpenMP HGB on a busy 2-core machine: 9 s with all threads, 0.2 s with one
        est.fit(X, y, sample_weight=w)
    curve = learning_curve(est, X, y, w, *test, n_points=8)
    assert curve.x_label == "boosting rounds" and curve.x[-1] == 40
    _check_final_stage(est, curve, (X, y, w), test)


def test_adaboost_peer(data):
    from hepmva.peers import AdaBoostBDT

    (X, y, w), test = data
    est = AdaBoostBDT(n_estimators=30, random_state=0).fit(X, y, sample_weight=w)
    curve = learning_curve(est, X, y, w, *test, n_points=6)
    assert curve.x[-1] == len(est.estimators_)
    np.testing.assert_allclose(curve.test_loss[-1], weighted_log_loss(test[1], est.predict_proba(test[0])[:, 1],
                                                                      test[2]), rtol=1e-6)


def test_mlp_with_and_without_validation(data):
    from hepmva.nn import MLPClassifier

    (X, y, w), (Xt, yt, wt) = data
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=15, random_state=0, dtype="float64")
    est.fit(X, y, sample_weight=w, validation_data=(Xt, yt, wt))
    curve = learning_curve(est, X, y, w, Xt, yt, wt)
    assert curve.x_label == "epoch" and len(curve.x) == est.n_iter_ == len(curve.test_loss)
    np.testing.assert_allclose(curve.test_loss[-1], weighted_log_loss(yt, est.predict_proba(Xt)[:, 1], wt),
                               rtol=1e-6)
    assert curve.train_loss[-1] < curve.train_loss[0] and curve.test_label == "validation events of fit"
    est2 = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y, sample_weight=w)
    curve2 = learning_curve(est2, X, y, w, Xt, yt, wt)
    assert curve2.test_loss is None and len(curve2.train_loss) == 5 and "no validation" in curve2.note


def test_unsupported_is_none_and_json_roundtrip(data):
    (X, y, w), test = data
    rf = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y, sample_weight=w)
    assert learning_curve(rf, X, y, w, *test) is None
    gb = GradientBoostingClassifier(n_estimators=10).fit(X, y, sample_weight=w)
    curve = learning_curve(gb, X, y, w, *test, n_points=5, max_events=500)
    assert "500 training / 500 test" in curve.note
    back = LearningCurve.from_dict(json.loads(json.dumps(curve.to_dict())))
    np.testing.assert_array_equal(back.x, curve.x)
    np.testing.assert_allclose(back.test_auc, curve.test_auc)
    assert back.note == curve.note


def test_plot_learning_curve_with_and_without_curves(data, tmp_path):
    from hepmva.plotting.evaluation import plot_learning_curve

    (X, y, w), test = data
    gb = GradientBoostingClassifier(n_estimators=10).fit(X, y, sample_weight=w)
    curves = {k: learning_curve(gb, X, y, w, *test, n_points=5, random_state=k) for k in (0, 1)}
    plot_learning_curve(curves, name="gb", kind="gbdt", path=tmp_path / "lc.png")
    plot_learning_curve({}, name="rf", kind="random_forest", path=tmp_path / "none.png")
    assert (tmp_path / "lc.png").stat().st_size > 0 and (tmp_path / "none.png").stat().st_size > 0


@pytest.mark.parametrize(("kind", "params", "has_curve"), [("xgboost", {"n_estimators": 15, "max_depth": 2}, True),
                                                          ("decision_tree", {"max_depth": 3}, False)])
def test_train_fold_stores_curve_and_evaluate_plots_it(tmp_path, kind, params, has_curve):
    import pandas as pd

    from hepmva import io
    from hepmva.stages.evaluate import evaluate_classifier
    from hepmva.stages.train import train_fold

    rng = np.random.default_rng(3)
    tables = []
    for sample, label in (("sig", 1), ("bkg", 0)):
        n = 800
        df = pd.DataFrame({"a": rng.normal(size=n) + 1.5 * label, "b": rng.normal(size=n)})
        df["label"], df["weight"], df["sample"] = label, rng.uniform(0.5, 1.5, n), sample
        df["fold"], df["event"] = rng.integers(0, 2, n), np.arange(n, dtype=np.uint64)
        io.write_table(df, tmp_path / f"{sample}.parquet")
        tables.append(tmp_path / f"{sample}.parquet")
    for fold in (0, 1):
        info = train_fold(tables, classifier={"name": "c", "kind": kind, "params": params}, fold=fold,
                          feature_names=["a", "b"], training={}, model_dir=tmp_path / f"m{fold}",
                          scores_path=tmp_path / f"s{fold}.parquet")
        saved = json.loads((tmp_path / f"m{fold}" / "model.json").read_text())
        assert (saved["learning_curve"] is not None) == has_curve
        if has_curve:
            curve = LearningCurve.from_dict(saved["learning_curve"])
            assert curve.x[-1] == 15 and curve.test_loss[-1] < curve.test_loss[0]
            assert info["learning_curve"] == saved["learning_curve"]
    out = {k: tmp_path / f"{k}.png" for k in ("roc", "score", "lc")}
    evaluate_classifier([tmp_path / "s0.parquet", tmp_path / "s1.parquet"], [tmp_path / "m0/model.json", tmp_path / "m1/model.json"], name="c",
                        eff_b=[0.1], n_bootstrap=5, seed=0, luminosity_pb=1.0, metrics_path=tmp_path / "m.json",
                        roc_path=out["roc"], score_plot_path=out["score"], learning_curve_plot_path=out["lc"])
    assert out["lc"].stat().st_size > 0
