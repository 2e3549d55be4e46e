"""The flat-network objective: forward-only value = backprop value, gradient = its derivative, and
integer weights = repeated events (penalty included: the frequency-consistent alpha / 2 sum w)."""

from __future__ import annotations

import numpy as np
import pytest

from hepmva.nn import MLPClassifier
from hepmva.nn.objective import FlatObjective


def _data(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] * X[:, 1] + 0.5 * X[:, 2] + 0.3 * rng.normal(size=n) > 0).astype(float)
    return X, y, rng.uniform(0.5, 1.5, size=n)


def _objective(X, y, w, alpha=1e-3, random_state=1):
    net = MLPClassifier(hidden_layer_sizes=(5,), activation="tanh", alpha=alpha, dtype="float64")
    return FlatObjective.initial(net, X, y, w, random_state=random_state)


def test_forward_only_loss_equals_backprop_loss():
    X, y, w = _data(300, 0)
    model = _objective(X, y, w)
    theta = model.theta0 + 0.1
    J, g = model.value_and_grad(theta)
    assert model.value(theta) == pytest.approx(J, rel=1e-12)
    # and the gradient is the derivative of that loss (central differences, a few coordinates)
    for i in (0, 7, model.n_params - 1):
        e = np.zeros_like(theta)
        e[i] = 1e-6
        fd = (model.value(theta + e) - model.value(theta - e)) / 2e-6
        assert g[i] == pytest.approx(fd, rel=1e-5, abs=1e-8)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_integer_weights_equal_repeated_events_penalty_included(alpha):
    X, y, _ = _data(60, 2)
    counts = np.random.default_rng(3).integers(0, 4, size=len(y))  # 0 = the event removed
    weighted = _objective(X, y, counts.astype(float), alpha=alpha)
    repeated = _objective(np.repeat(X, counts, axis=0), np.repeat(y, counts), None, alpha=alpha)
    theta = weighted.theta0 + 0.05
    J_w, g_w = weighted.value_and_grad(theta)
    J_r, g_r = repeated.value_and_grad(theta)
    assert J_w == pytest.approx(J_r, rel=1e-12) and weighted.value(theta) == pytest.approx(J_r, rel=1e-12)
    np.testing.assert_allclose(g_w, g_r, rtol=1e-10, atol=1e-14)


def test_decision_matches_the_fitted_network_and_bad_weights_are_refused():
    X, y, w = _data(200, 4)
    net = MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=20, dtype="float64", random_state=0)
    net.fit(X, y, sample_weight=w)
    obj = FlatObjective(net, X, y, w)
    np.testing.assert_array_equal(obj.decision(obj.theta0), net.decision_function(X))
    with pytest.raises(ValueError, match="sum to"):
        FlatObjective(net, X, y, -w)
