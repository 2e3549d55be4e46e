"""Each derivative against central finite differences of its forward function (float64)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from hepmva.nn.activations import ACTIVATIONS, get_activation
from hepmva.nn.init import INITIALIZERS, get_initializer
from hepmva.nn.losses import LOSSES, get_loss


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "linear"])
def test_activation_derivative_matches_finite_differences(name: str) -> None:
    act = get_activation(name)
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, size=(50, 4))
    z[np.abs(z) < 1e-3] = 0.5  # keep away from relu's kink
    h = 1e-6
    fd = (act.forward(z + h) - act.forward(z - h)) / (2 * h)
    a = act.forward(z)
    np.testing.assert_allclose(act.derivative(z, a), fd, rtol=1e-6, atol=1e-8)
    out = np.empty_like(z)
    np.testing.assert_allclose(act.derivative(z, a, out=out), fd, rtol=1e-6, atol=1e-8)


def test_sigmoid_is_stable_for_large_arguments() -> None:
    z = np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=np.float32)
    with np.errstate(all="raise"):
        a = ACTIVATIONS["sigmoid"].forward(z)
    assert np.all(np.isfinite(a)) and a[0] == 0.0 and a[2] == 0.5 and a[-1] == 1.0


@pytest.mark.parametrize("name", ["cross_entropy", "mse"])
def test_loss_delta_is_dJ_dz(name: str) -> None:
    """delta^(L) = w dL/da g'(z) is the derivative of the weighted loss sum w.r.t. z."""
    loss = get_loss(name)
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, size=(30, 1))
    y = rng.integers(0, 2, size=(30, 1)).astype(float)
    w = rng.normal(1, 1, size=(30, 1))  # negative weights included
    h = 1e-6
    fd = np.empty_like(z)
    for i in range(z.shape[0]):
        zp, zm = z.copy(), z.copy()
        zp[i] += h
        zm[i] -= h
        fd[i] = (loss.value(y, zp, expit(zp), w) - loss.value(y, zm, expit(zm), w)) / (2 * h)
    np.testing.assert_allclose(loss.delta(y, z, expit(z), w), fd, rtol=1e-5, atol=1e-8)


def test_cross_entropy_is_finite_for_saturated_outputs() -> None:
    z = np.array([[-800.0], [800.0]])
    y = np.array([[1.0], [0.0]])
    value = LOSSES["cross_entropy"].value(y, z, expit(z), np.ones_like(z))
    assert value == pytest.approx(1600.0)


def test_cross_entropy_matches_sklearn_log_loss() -> None:
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(2)
    z = rng.normal(size=(100, 1))
    y = rng.integers(0, 2, size=(100, 1)).astype(float)
    w = rng.uniform(0.1, 2.0, size=(100, 1))
    ours = LOSSES["cross_entropy"].value(y, z, expit(z), w) / w.sum()
    assert ours == pytest.approx(log_loss(y.ravel(), expit(z).ravel(), sample_weight=w.ravel()))


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_initialisers_shape_dtype_and_scale(name: str) -> None:
    rng = np.random.default_rng(0)
    W = get_initializer(name)(200, 100, rng, np.float32)
    assert W.shape == (200, 100) and W.dtype == np.float32
    if name == "zero":
        assert not W.any()
    elif name.startswith("he"):
        assert W.std() == pytest.approx(np.sqrt(2 / 200), rel=0.05)
    elif name.startswith(("glorot", "xavier")):
        assert W.std() == pytest.approx(np.sqrt(2 / 300), rel=0.05)


@pytest.mark.parametrize(
    ("getter", "bad"),
    [(get_activation, "softsign"), (get_loss, "hinge"), (get_initializer, "orthogonal")],
)
def test_unknown_names_raise_one_line_value_error(getter, bad: str) -> None:
    with pytest.raises(ValueError, match=bad) as info:
        getter(bad)
    assert "\n" not in str(info.value)
