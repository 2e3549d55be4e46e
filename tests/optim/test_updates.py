"""One (or two) hand-worked steps per update rule.

Start theta = (1, -2), eta = 0.1, first gradient g1 = (0.5, -1), second gradient g2 = (0.2, 0.4).
The expected numbers below were worked out by hand from the formulas in hepmva.optim.updates.
"""

from __future__ import annotations

import numpy as np
import pytest

from hepmva.optim import OPTIMIZERS, PolyakAverage, make_optimizer
from hepmva.optim.updates import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSProp

G1 = np.array([0.5, -1.0])
G2 = np.array([0.2, 0.4])
ETA = 0.1


def _run(opt_cls, n_steps: int, **kw) -> np.ndarray:
    theta = np.array([1.0, -2.0])
    opt = opt_cls(theta, **kw)
    for g in (G1, G2)[:n_steps]:
        opt.step(theta, g, ETA)
    assert opt.t == n_steps
    return theta


def test_sgd() -> None:
    # theta - eta g1 = (1 - 0.05, -2 + 0.1)
    np.testing.assert_allclose(_run(SGD, 1), [0.95, -1.9])


def test_momentum_lecture_form() -> None:
    # Delta1 = -0.1 g1 = (-0.05, 0.1);  theta1 = (0.95, -1.9)
    # Delta2 = 0.9 Delta1 - 0.1 g2 = (-0.045 - 0.02, 0.09 - 0.04) = (-0.065, 0.05)
    # theta2 = (0.885, -1.85)
    np.testing.assert_allclose(_run(Momentum, 2, momentum=0.9), [0.885, -1.85])


def test_nesterov() -> None:
    # Delta1 = (-0.05, 0.1); theta1 = theta0 + 0.9 Delta1 - 0.1 g1 = (0.905, -1.81)
    # Delta2 = (-0.065, 0.05); theta2 = theta1 + 0.9 Delta2 - 0.1 g2 = (0.8265, -1.805)
    np.testing.assert_allclose(_run(Nesterov, 2, momentum=0.9), [0.8265, -1.805])


def test_rmsprop() -> None:
    # v = 0.1 g1^2 = (0.025, 0.1); step = 0.1 g1 / sqrt(v) = 0.1 (sqrt(10), -sqrt(10))
    expected = [1 - 0.1 * np.sqrt(10), -2 + 0.1 * np.sqrt(10)]  # (0.683772, -1.683772)
    np.testing.assert_allclose(_run(RMSProp, 1, rho=0.9, epsilon=0.0), expected)


def test_adagrad() -> None:
    # step 1: G = (0.25, 1), step = 0.1 sign(g1) -> (0.9, -1.9)
    # step 2: G = (0.29, 1.16), step = 0.1 (0.2/0.538516, 0.4/1.077033) = (0.037139, 0.037139)
    np.testing.assert_allclose(_run(AdaGrad, 2, epsilon=0.0), [0.862861, -1.937139], atol=1e-6)


def test_adam() -> None:
    # step 1: m_hat = g1, v_hat = g1^2 -> step = 0.1 sign(g1) -> (0.9, -1.9)
    # step 2: m = (0.065, -0.05), v = (0.00028975, 0.001159)
    #         m_hat = m / 0.19 = (0.342105, -0.263158), v_hat = v / 0.001999 = (0.144947, 0.579790)
    #         step = 0.1 m_hat / sqrt(v_hat) = (0.089858, -0.034561)
    np.testing.assert_allclose(_run(Adam, 1, epsilon=0.0), [0.9, -1.9])
    np.testing.assert_allclose(_run(Adam, 2, epsilon=0.0), [0.810142, -1.865439], atol=1e-6)


def test_polyak_average_is_the_mean_of_the_iterates() -> None:
    avg = PolyakAverage(np.array([1.0, 2.0]))
    avg.update(np.array([3.0, 4.0]))
    avg.update(np.array([5.0, 9.0]))
    np.testing.assert_allclose(avg.theta_bar, [3.0, 5.0])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_updates_are_in_place_and_keep_float32(name: str) -> None:
    theta = np.array([1.0, -2.0], dtype=np.float32)
    ref = theta
    opt = make_optimizer(name, theta, momentum=0.5, unused=1)
    opt.step(theta, np.array([0.5, -1.0], dtype=np.float32), 0.1)
    assert theta is ref and theta.dtype == np.float32
    assert theta[0] < 1.0 and theta[1] > -2.0  # moved downhill


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_rule_minimises_a_quadratic(name: str) -> None:
    """J = 0.5 theta^T A theta, badly conditioned: every rule gets far below the start."""
    A = np.diag([1.0, 10.0])
    theta = np.array([1.0, 1.0])
    opt = make_optimizer(name, theta)
    eta = {"sgd": 0.05, "momentum": 0.02, "nesterov": 0.02, "adagrad": 0.5, "rmsprop": 0.005}.get(name, 0.05)
    for _ in range(300):
        opt.step(theta, A @ theta, eta)
    assert 0.5 * theta @ A @ theta < 1e-3


def test_unknown_optimizer_is_a_one_line_value_error() -> None:
    with pytest.raises(ValueError, match="'lion'"):
        make_optimizer("lion", np.zeros(2))
