"""The optimised training step computes the textbook algorithm, and the benchmark's peers are fair.

The speed work on :mod:`hepmva.nn.mlp` (in-place activations over the whole buffer, the fused relu,
the rescaled Adam moments, the BLAS axpy for L2) must not change what is computed. The oracles are
implementations nobody here optimised: the plain numpy MLP of ``benchmarks/bench_mlp.py`` (written
the obvious way, every operation a new array) and, when installed, PyTorch's own autograd and Adam.
Both are also the peers the benchmark times, so these tests show it compares equal algorithms.
No timing is asserted here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hepmva.jit import numba_available
from hepmva.nn import MLPClassifier
from hepmva.nn.activations import ACTIVATIONS

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_mlp  # noqa: E402


def _data(n: int = 1024, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] * X[:, 1] + X[:, 2] + 0.5 * rng.normal(size=n) > 0).astype(int)
    return X, y


@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "linear"])
def test_forward_derivative_in_place_equals_forward_then_derivative(name: str) -> None:
    act = ACTIVATIONS[name]
    z = np.random.default_rng(0).normal(size=(7, 5))
    z[0, 0] = 0.0
    expected_a = act.forward(z.copy())
    expected_g = act.derivative(z, expected_a)
    buf, g = z.copy(), np.empty_like(z)
    assert act.forward_derivative(buf, buf, g) is buf  # in place: out is z
    np.testing.assert_array_equal(buf, expected_a)
    np.testing.assert_array_equal(g, expected_g)


KERNELS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not numba_available(), reason="numba not installed"))]


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("hidden", [(8,), (16, 8)])
def test_training_equals_the_plain_numpy_mlp(hidden: tuple[int, ...], kernels: str) -> None:
    """Same seed: same Glorot draw, same shuffles, same batches, same Adam and L2 -> same weights
    (on both paths of the elementwise steps: numpy operations and the compiled kernels)."""
    X, y = _data()
    kw = dict(hidden_layer_sizes=hidden, alpha=1e-2, learning_rate_init=1e-2, batch_size=100,
              max_iter=3, shuffle=True, random_state=5)
    ours = MLPClassifier(**kw, activation="relu", solver="adam", tol=0.0, n_iter_no_change=10**6,
                         dtype="float64", kernels=kernels).fit(X, y)
    plain = bench_mlp.PlainNumpyMLP(**kw, dtype=np.float64).fit(X, y)
    for W, W_ref in zip(ours.coefs_ + ours.intercepts_, plain.coefs_ + plain.intercepts_):
        np.testing.assert_allclose(W, W_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.decision_function(X), plain.decision_function(X), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("kernels", KERNELS)
def test_float32_training_stays_close_to_float64(kernels: str) -> None:
    """float32 end to end: the same trajectory as float64 up to single-precision rounding."""
    X, y = _data()
    kw = dict(hidden_layer_sizes=(16, 16), batch_size=64, max_iter=3, random_state=1, tol=0.0,
              n_iter_no_change=10**6, learning_rate_init=1e-2, kernels=kernels)
    f32 = MLPClassifier(**kw, dtype="float32").fit(X, y)
    f64 = MLPClassifier(**kw, dtype="float64").fit(X, y)
    assert f32._theta.dtype == np.float32
    np.testing.assert_allclose(f32.loss_curve_, f64.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(f32.decision_function(X), f64.decision_function(X), atol=2e-3)


@pytest.mark.parametrize("kernels", KERNELS)
def test_training_is_deterministic(kernels: str) -> None:
    X, y = _data()
    fits = [MLPClassifier((32, 32), batch_size=50, max_iter=2, random_state=7, kernels=kernels).fit(X, y)
            for _ in range(2)]
    np.testing.assert_array_equal(fits[0]._theta, fits[1]._theta)
    assert fits[0].loss_curve_ == fits[1].loss_curve_


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_constant_unit_survives_activations_with_g1_not_1(activation: str) -> None:
    """g(1) != 1: the x_0 = 1 column must be restored after the in-place activation."""
    X, y = _data(200)
    est = MLPClassifier((6, 5), activation=activation, batch_size=50, max_iter=2, random_state=0,
                        dtype="float64").fit(X, y)
    # reference forward pass with explicit biases
    a = X
    for W, b in zip(est.coefs_[:-1], est.intercepts_[:-1]):
        a = ACTIVATIONS[activation].forward(a @ W + b)
    z = a @ est.coefs_[-1] + est.intercepts_[-1]
    np.testing.assert_allclose(est.decision_function(X), z[:, 0], rtol=1e-12, atol=1e-12)


def test_adam_moments_are_the_textbook_ones() -> None:
    from hepmva.optim.updates import Adam

    rng = np.random.default_rng(0)
    theta = rng.normal(size=6)
    opt = Adam(theta.copy(), beta_1=0.8, beta_2=0.99, epsilon=1e-6)
    t_ref, m, v = theta.copy(), np.zeros(6), np.zeros(6)
    for t in range(1, 6):
        g = rng.normal(size=6)
        opt.step(theta, g, 0.05)
        m = 0.8 * m + 0.2 * g
        v = 0.99 * v + 0.01 * g * g
        t_ref -= 0.05 * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.99**t)) + 1e-6)
        np.testing.assert_allclose(opt.m, m, rtol=1e-12)
        np.testing.assert_allclose(opt.v, v, rtol=1e-12)
        np.testing.assert_allclose(theta, t_ref, rtol=1e-12)


@pytest.mark.parametrize("kernels", KERNELS)
def test_training_equals_pytorch(kernels: str) -> None:
    """PyTorch's autograd + Adam (weight decay alpha/m on the weights) from the same weights."""
    pytest.importorskip("torch")
    X, y = _data(1000)
    kw = dict(hidden_layer_sizes=(8, 8), alpha=1e-2, learning_rate_init=1e-2, batch_size=100,
              max_iter=2, shuffle=False)
    ours = MLPClassifier(**kw, random_state=0, tol=0.0, n_iter_no_change=10**6, dtype="float64",
                         kernels=kernels)
    ours._init_params(X.shape[1], np.random.default_rng(0))
    init = ([W.copy() for W in ours.coefs_], [b.copy() for b in ours.intercepts_])
    ours.fit(X, y)  # same seed, no shuffling: starts from the same weights
    ref = bench_mlp.TorchMLP(**kw, random_state=0, dtype="float64", init=init).fit(X, y)
    for W, W_ref in zip(ours.coefs_, ref.coefs_):
        np.testing.assert_allclose(W, W_ref, rtol=1e-8, atol=1e-10)


def test_flop_count_by_hand() -> None:
    # 3 -> 4 -> 1: forward 12 + 4 MACs, weight gradients the same, back-propagated error 4
    assert bench_mlp.train_flops_per_event(3, (4,)) == 2 * (2 * 16 + 4)


def test_benchmark_runs_and_prints_every_peer() -> None:
    """The script end to end on a tiny problem: every peer's row, the peak, the predict table."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_mlp.py"), "--toy", "--n-train", "1024",
         "--n-test", "512", "--epochs", "1", "--repeats", "1", "--hidden", "8,8",
         "--predict-events", "2000", "--no-torch"],  # torch's row: test_training_equals_pytorch
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    for row in ("| hepmva (float32) |", "| hepmva numpy (float32) |", "| sklearn (float32) |",
                "| sklearn (float64) |", "| plain numpy (float32) |", "1-thread sgemm peak",
                "step GEMM peak", "% of step GEMM peak", "| hepmva MLP (64, 64) |",
                "| xgboost (300 trees, depth 4) |"):
        assert row in out, row
    assert "| torch (float32) |" not in out


def test_copy_after_a_gradient_evaluation_has_no_stale_views() -> None:
    """A deepcopy rebinds the parameter views and drops the work buffers (no views into the original)."""
    import copy

    X, y = _data(100)
    est = MLPClassifier((6,), alpha=0.1, dtype="float64")
    est._init_params(X.shape[1], np.random.default_rng(0))
    J, g = est._loss_grad(est._pack(), X, y)
    twin = copy.deepcopy(est)
    assert not hasattr(twin, "_buf") and not hasattr(twin, "_l2_pairs")
    J2, g2 = twin._loss_grad(twin._pack(), X, y)
    assert J2 == J
    np.testing.assert_array_equal(g2, g)
    twin._theta[0] += 1.0  # the copy's views are its own
    assert twin.coefs_[0][0, 0] == est.coefs_[0][0, 0] + 1.0
