"""The training-methods comparison (GA vs gradient descent vs BFGS on one MLP) and its plot."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hepmva.plotting.methods import plot_learning_curves, plot_training_methods
from hepmva.studies.training_methods import compare_training_methods


def _data(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] * X[:, 1] + 0.5 * X[:, 2] + 0.3 * rng.normal(size=n) > 0).astype(float)
    return X, y, rng.uniform(0.5, 1.5, size=n)


def test_equal_budget_same_start_and_gradient_methods_beat_ga(tmp_path):
    X, y, w = _data(1500, 1)
    Xv, yv, wv = _data(1500, 2)
    budget = 150
    res = compare_training_methods(
        X, y, w, X_val=Xv, y_val=yv, sample_weight_val=wv, budget=budget,
        hidden_layer_sizes=(8,), ga_pop_size=20, random_state=3,
    )
    assert list(res.curves) == ["gd", "bfgs", "lbfgs", "ga"]
    for name, c in res.curves.items():
        # same starting point for everybody
        assert c.loss[0] == pytest.approx(res.initial_loss) and c.val_auc[0] == res.initial_auc
        # the budget is respected (a line search may finish its last step)
        assert c.result.nfev <= budget + (30 if name in ("bfgs", "lbfgs") else 0)
        assert np.all(np.diff(c.nfev) >= 0) and np.all(np.diff(c.time) >= 0)
        assert c.final_loss < res.initial_loss, name
    for name in ("gd", "bfgs", "lbfgs"):
        assert res.curves[name].final_auc > res.initial_auc + 0.1
        assert res.curves[name].final_loss < res.curves["ga"].final_loss
    summary = json.loads(json.dumps(res.to_dict()))
    assert {r["method"] for r in summary["summary"]} == set(res.curves)
    fig = plot_training_methods(summary["curves"], budget=budget, path=tmp_path / "m.png")
    assert (tmp_path / "m.png").stat().st_size > 0 and len(fig.axes) == 4
    hist = {k: (c.result.history.nfev, c.result.history.fun) for k, c in res.curves.items()}
    plot_learning_curves(hist, xlabel="evaluations", ylabel="J", logy=True, path=tmp_path / "h.png")
    assert (tmp_path / "h.png").exists()


def test_bad_method_and_budget():
    X, y, _ = _data(50, 0)
    with pytest.raises(ValueError, match="unknown training method"):
        compare_training_methods(X, y, X_val=X, y_val=y, methods=["adamw"])
    with pytest.raises(ValueError, match="budget"):
        compare_training_methods(X, y, X_val=X, y_val=y, budget=1)


def test_pipeline_stage_writes_summary_and_plot(tmp_path):
    import pandas as pd

    from hepmva.stages.training_methods import run_training_methods_study

    tables = []
    for name, label, seed in (("sig", 1, 3), ("bkg", 0, 4)):
        X, _, _ = _data(600, seed)
        if label:
            X[:, 0] += 1.0
        df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
        df["sample"], df["label"] = name, label
        df["weight"] = np.where(np.arange(600) % 10 == 0, -0.5, 1.0)  # some negative weights
        df["fold"] = np.arange(600) % 2
        tables.append(tmp_path / f"{name}.parquet")
        df.to_parquet(tables[-1])
    res = run_training_methods_study(
        tables, feature_names=["a", "b", "c", "d"], training={"class_balance": True},
        settings={"budget": 40, "n_train": 500, "n_val": 400, "hidden_layer_sizes": [4],
                  "methods": ["gd", "ga"], "ga_pop_size": 10},
        seed=1, summary_path=tmp_path / "out/summary.json", plot_path=tmp_path / "out/plot.png",
    )
    out = json.loads((tmp_path / "out/summary.json").read_text())
    assert out["settings"]["n_train"] == 500 and set(out["curves"]) == {"gd", "ga"}
    assert (tmp_path / "out/plot.png").stat().st_size > 0
    assert res.curves["gd"].result.nfev == 40


@pytest.mark.parametrize("solver", ["bfgs", "lbfgs", "ga"])
def test_mlp_classifier_trained_by_minimize_solvers(solver):
    from hepmva.nn import MLPClassifier

    X, y, w = _data(800, 5)
    Xv, yv, _ = _data(800, 6)
    max_iter = 10 if solver == "ga" else 60
    clf = MLPClassifier(hidden_layer_sizes=(6,), activation="tanh", solver=solver, max_iter=max_iter,
                        random_state=0, dtype="float64").fit(X, y.astype(int), sample_weight=w)
    curve = np.asarray(clf.loss_curve_)
    assert clf.n_iter_ <= max_iter and len(curve) == clf.n_iter_ + 1
    assert np.all(np.diff(curve) <= 1e-12)  # line search / elitism: never worse
    assert curve[-1] < curve[0]
    from hepmva.metrics import roc_auc

    auc = roc_auc(yv, clf.predict_proba(Xv)[:, 1])
    assert auc > (0.6 if solver == "ga" else 0.8)


@pytest.mark.parametrize("kind", ["linear_discriminant", "cuts_ga"])
def test_registry_kinds_save_and_load_without_pickle(kind, tmp_path):
    from hepmva.models import classifier_score, load_estimator, make_classifier, save_estimator

    X, y, w = _data(1000, 7)
    est = make_classifier(kind, {}, random_state=0).fit(X, y.astype(int), sample_weight=w)
    save_estimator(est, kind, tmp_path / "m")
    back = load_estimator(tmp_path / "m")
    np.testing.assert_array_equal(classifier_score(back, X), classifier_score(est, X))
