"""The optimizer study and the learning-rate scan (hepmva.studies.optimizers) and their plots."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler

from hepmva.plotting.training import (
    plot_learning_rate_scan,
    plot_loss_curves,
    plot_optimizer_comparison,
)
from hepmva.studies.optimizers import compare_optimizers, learning_rate_scan

BASE = {"hidden_layer_sizes": (8,), "batch_size": 32}


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(900, n_features=5, n_informative=3, random_state=0)
    X = StandardScaler().fit_transform(X)
    w = np.random.default_rng(0).uniform(0.5, 1.5, len(y))
    return X[:600], y[:600], w[:600], X[600:], y[600:], w[600:]


def test_compare_optimizers_same_start_same_budget(data, tmp_path) -> None:
    X, y, w, Xv, yv, wv = data
    study = compare_optimizers(X, y, w, X_val=Xv, y_val=yv, sample_weight_val=wv,
                               optimizers=["gd", "sgd", "momentum", "adam"], max_iter=6,
                               base_params=BASE, random_state=3)
    assert list(study.runs) == ["gd", "sgd", "momentum", "adam"]
    for r in study.runs.values():
        assert len(r.loss) == len(r.val_loss) == len(r.time) == 6 and not r.diverged
        assert r.initial_loss == study.runs["gd"].initial_loss
        assert 0.5 < r.val_auc <= 1.0
        assert r.loss[-1] < r.initial_loss
    json.dumps(study.to_dict())
    curves = {k: {"loss": r.loss, "val_loss": r.val_loss, "time": r.time, "diverged": r.diverged,
                  "initial_loss": r.initial_loss}
              for k, r in study.runs.items()}
    plot_optimizer_comparison(curves, val_auc={k: r.val_auc for k, r in study.runs.items()},
                              path=tmp_path / "opt.png")
    plot_loss_curves(curves, x="time", path=tmp_path / "time.png")
    assert (tmp_path / "opt.png").stat().st_size > 0 and (tmp_path / "time.png").stat().st_size > 0


def test_learning_rate_scan_finds_slow_and_diverging_rates(data, tmp_path) -> None:
    X, y, w, Xv, yv, wv = data
    rates = np.logspace(-5, 3, 9)
    scan = learning_rate_scan(X, y, w, X_val=Xv, y_val=yv, sample_weight_val=wv, optimizer="sgd",
                              learning_rates=rates, max_iter=6, base_params=BASE, random_state=0)
    assert scan.status[0] == "too slow"
    assert scan.status[-1] == "diverged"
    assert "ok" in scan.status
    assert 1e-3 <= scan.best_learning_rate <= 10
    assert not np.isfinite(scan.final_loss[-1])
    d = json.loads(json.dumps(scan.to_dict()))
    assert d["final_loss"][-1] is None
    plot_learning_rate_scan(scan.learning_rates, scan.final_loss, scan.status,
                            initial_loss=scan.initial_loss,
                            loss_curves=[r.loss for r in scan.runs],
                            best_learning_rate=scan.best_learning_rate, optimizer="sgd",
                            path=tmp_path / "scan.png")
    assert (tmp_path / "scan.png").stat().st_size > 0


def test_bad_inputs(data) -> None:
    X, y, w, Xv, yv, wv = data
    with pytest.raises(ValueError, match="'lion'"):
        compare_optimizers(X, y, X_val=Xv, y_val=yv, optimizers=["lion"])
    with pytest.raises(ValueError, match="learning_rates"):
        learning_rate_scan(X, y, X_val=Xv, y_val=yv, learning_rates=[0.1, -1.0])
