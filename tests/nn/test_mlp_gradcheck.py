"""Backpropagation against central finite differences, every activation x loss pair (float64),
through the one flat-network objective (:class:`hepmva.nn.objective.FlatObjective`)."""

from __future__ import annotations

import numpy as np
import pytest

from hepmva.jit import numba_available
from hepmva.nn import MLPClassifier
from hepmva.nn.objective import FlatObjective


def _network(activation: str, loss: str, alpha: float,
             kernels: str = "numpy") -> tuple[MLPClassifier, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] * X[:, 1] + 0.3 * rng.normal(size=40) > 0).astype(float)
    w = rng.normal(1.0, 0.8, size=40)  # some negative event weights
    w[0] = -0.5
    mlp = MLPClassifier(hidden_layer_sizes=(5, 4), activation=activation, loss=loss, alpha=alpha,
                        init="normal", dtype="float64", kernels=kernels)
    mlp._init_params(3, np.random.default_rng(7))
    mlp._unpack(np.random.default_rng(8).normal(0.0, 0.7, size=mlp._pack().size))
    mlp._prepare_math(n_events=len(y))  # decides kernels (numpy or the compiled loops)
    return mlp, X, y, w


KERNELS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not numba_available(), reason="numba not installed"))]


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "linear"])
def test_gradient_matches_central_differences(activation: str, loss: str, alpha: float, kernels: str) -> None:
    mlp, X, y, w = _network(activation, loss, alpha, kernels)
    assert mlp._kernels_on == (kernels == "numba")
    obj = FlatObjective(mlp, X, y, w)
    theta = obj.theta0
    J, grad = obj.value_and_grad(theta)
    h = 1e-6
    fd = np.empty_like(theta)
    for k in range(theta.size):
        tp, tm = theta.copy(), theta.copy()
        tp[k] += h
        tm[k] -= h
        fd[k] = (obj.value_and_grad(tp)[0] - obj.value_and_grad(tm)[0]) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-7)
    assert J == pytest.approx(obj.value_and_grad(theta)[0])
    assert J == pytest.approx(obj.value(theta), rel=1e-12)  # forward-only value: the same cost


def test_cost_is_weighted_log_loss_plus_l2() -> None:
    """J = sklearn's weighted log_loss of the network's output + (alpha / 2 sum w) ||W||^2 (sklearn's MLP)."""
    from sklearn.metrics import log_loss

    mlp, X, y, w = _network("tanh", "cross_entropy", 0.2)
    w = np.abs(w)
    obj = FlatObjective(mlp, X, y, w)
    J, _ = obj.value_and_grad(obj.theta0)
    p = 1.0 / (1.0 + np.exp(-obj.decision(obj.theta0)))
    l2 = 0.5 * 0.2 / w.sum() * sum(float((W**2).sum()) for W in mlp.coefs_)
    assert J == pytest.approx(log_loss(y, p, sample_weight=w) + l2, rel=1e-10)


def test_integer_weights_equal_repeated_events() -> None:
    # alpha > 0 too: the full-set penalty is alpha / (2 sum w), frequency-consistent
    mlp, X, y, _ = _network("sigmoid", "cross_entropy", 0.3)
    counts = np.random.default_rng(3).integers(1, 4, size=X.shape[0])
    theta = mlp._pack()
    J_w, g_w = FlatObjective(mlp, X, y, counts.astype(float)).value_and_grad(theta)
    J_r, g_r = FlatObjective(mlp, np.repeat(X, counts, axis=0), np.repeat(y, counts), None).value_and_grad(theta)
    assert J_w == pytest.approx(J_r, rel=1e-12)
    np.testing.assert_allclose(g_w, g_r, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("kernels", KERNELS)
def test_minibatch_gradients_average_to_full_gradient(kernels: str) -> None:
    """The mini-batch estimate (scale 1/(m w_bar)) is unbiased: batches average to the full gradient."""
    mlp, X, y, w = _network("relu", "cross_entropy", 0.0, kernels)
    _, full = mlp._loss_grad(mlp._pack(), X, y, w)
    wbar = w.mean()
    mlp._alloc_buffers(10)
    acc = np.zeros_like(full)
    for s in range(0, 40, 10):
        mlp._forward_backward(mlp._augment(X[s:s + 10]), y[s:s + 10, None], w[s:s + 10, None] / wbar, 1 / 10)
        acc += mlp._grad
    np.testing.assert_allclose(acc / 4, full, rtol=1e-10, atol=1e-14)
