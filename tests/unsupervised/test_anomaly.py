"""Anomaly detectors on a toy where the signal sits off the background core."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from hepmva.unsupervised.anomaly import (
    ANOMALY_DETECTORS,
    RBMAnomaly,
    make_detector,
    rbm_free_energy,
)
from hepmva.studies.anomaly import run_anomaly

FAST = {
    "gmm": {"n_components": 2},
    "kde": {"max_train": 1000},
    "rbm": {"n_components": 16, "n_iter": 10},
    "knn": {"n_neighbors": 10},
    "iforest": {"n_estimators": 100},
}


@pytest.fixture(scope="module")
def toy():
    """Background: standard normal in 4 dims; signal: shifted by 2.5 in the first two."""
    rng = np.random.default_rng(11)
    n = 6000
    y = (rng.uniform(size=n) < 0.25).astype(int)
    X = rng.normal(size=(n, 4))
    X[y == 1, :2] += 2.5
    w = rng.uniform(0.5, 1.5, n)
    train = rng.uniform(size=n) < 0.5
    return X, y, w, train


@pytest.mark.parametrize("method", sorted(ANOMALY_DETECTORS))
def test_signal_is_anomalous(toy, method):
    X, y, w, train = toy
    res = run_anomaly(X, y, w, train_mask=train, method=method, params=FAST[method], n_bootstrap=20, random_state=2)
    assert res.auc > 0.8, res.summary()
    assert 0 < res.auc_std < 0.05
    assert res.n_train == min(np.sum(train & (y == 0)), FAST[method].get("max_train", 10**9))
    # evaluation never touches training events
    assert not np.any(train[res.eval_index])
    assert res.score.shape == res.eval_index.shape
    assert res.roc.eff_s[-1] == pytest.approx(1.0)


def test_unit_and_uniform_weights_agree(toy):
    """A constant weight is the same as no weight (no bootstrap is drawn)."""
    X, y, _, train = toy
    a = run_anomaly(X, y, None, train_mask=train, method="knn")
    b = run_anomaly(X, y, np.full(len(y), 0.37), train_mask=train, method="knn")
    np.testing.assert_array_equal(a.score, b.score)


def test_weights_shape_the_density():
    """Zero weight on half of a bimodal background turns that half into an anomaly."""
    rng = np.random.default_rng(5)
    X = np.concatenate([rng.normal(-3, 1, (2000, 2)), rng.normal(3, 1, (2000, 2))])
    w = np.r_[np.ones(2000), np.zeros(2000)]
    for method in ("gmm", "kde", "knn"):
        det = make_detector(method, {"n_components": 2} if method == "gmm" else {}).fit(X, sample_weight=w)
        s = det.anomaly_score(np.array([[-3.0, -3.0], [3.0, 3.0]]))
        assert s[1] > s[0], method


def test_rbm_free_energy_by_hand():
    """Free energy against the explicit sum over hidden states: p(v) ~ sum_h exp(-E(v, h))."""
    rng = np.random.default_rng(0)
    W, b, c = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=3)
    V = rng.uniform(size=(5, 4))
    hs = np.array([[(k >> j) & 1 for j in range(3)] for k in range(8)], dtype=float)
    energy = -(V @ b)[:, None] - hs @ c - (V @ W.T) @ hs.T  # E(v, h) = -b.v - c.h - h.W v
    F_ref = -np.log(np.exp(-energy).sum(axis=1))
    np.testing.assert_allclose(rbm_free_energy(V, W, b, c), F_ref, rtol=1e-12)


def test_rbm_uses_fitted_parameters(toy):
    X, y, _, train = toy
    det = RBMAnomaly(n_components=8, n_iter=3).fit(X[train & (y == 0)])
    m = det.model_
    V = np.clip((X[:10] - det.x_min_) / det.x_scale_, 0, 1)
    F = -(V @ m.intercept_visible_) - np.log1p(np.exp(V @ m.components_.T + m.intercept_hidden_)).sum(axis=1)
    np.testing.assert_allclose(det.anomaly_score(X[:10]), F, rtol=1e-10)
    # sklearn's own hidden activation probabilities come from the same parameters
    np.testing.assert_allclose(m.transform(V), expit(V @ m.components_.T + m.intercept_hidden_), rtol=1e-10)


def test_errors(toy):
    X, y, w, train = toy
    with pytest.raises(ValueError, match="unknown anomaly method 'ocsvm'"):
        run_anomaly(X, y, w, train_mask=train, method="ocsvm")
    with pytest.raises(ValueError, match="unknown parameter 'k'"):
        make_detector("knn", {"k": 3})
    with pytest.raises(ValueError, match="train_mask"):
        run_anomaly(X, y, w, train_mask=train.astype(int), method="knn")
    with pytest.raises(ValueError, match="no background"):
        run_anomaly(X, y, w, train_mask=train & (y == 1), method="knn")
    det = make_detector("knn").fit(X[:200])
    with pytest.raises(ValueError, match="features"):
        det.anomaly_score(X[:5, :3])
