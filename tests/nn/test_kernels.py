"""The compiled kernels (numba, :mod:`hepmva.jit`) compute what the numpy operations they replace compute.

Oracles: the numpy reference functions of the registries (``derivative``, ``value``/``delta``),
numpy's own ufuncs, the numpy Adam step and, for whole trainings, the numpy path of the same
network (the plain numpy MLP and PyTorch comparisons of ``test_mlp_fast_path.py`` run on both
paths too). No timing is asserted here.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
from scipy.special import expit

from hepmva import jit
from hepmva.nn import MLPClassifier
from hepmva.nn.activations import ACTIVATIONS, relu_backprop
from hepmva.nn.losses import LOSSES
from hepmva.nn.mlp import KERNELS_AUTO_FLOPS
from hepmva.optim.updates import Adam

pytest.importorskip("numba")

DTYPES = [np.float32, np.float64]


def _z(dtype, n: int = 257 * 9) -> np.ndarray:
    z = np.random.default_rng(0).normal(0.0, 2.0, size=n).astype(dtype)
    z[:4] = [0.0, -0.0, 1.0, -1.0]
    return z


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid"])
def test_backprop_kernel_is_delta_times_the_derivative(name: str, dtype) -> None:
    act = ACTIVATIONS[name]
    z = _z(dtype)
    a = act.forward(z.copy())
    delta = np.random.default_rng(1).normal(size=z.size).astype(dtype)
    delta[5] = np.nan  # propagated exactly as the numpy multiplication does
    expected = delta * act.derivative(z, a)
    act.backprop(delta, a)
    np.testing.assert_array_equal(delta, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_forward_kernel_is_max_z_0(dtype) -> None:
    z = _z(dtype)
    z[7] = np.nan  # a diverging network stays visibly NaN
    a = z.copy()
    ACTIVATIONS["relu"].forward_inplace(a)
    np.testing.assert_array_equal(a, np.maximum(z, 0))
    assert np.isnan(a[7]) and a.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["cross_entropy", "mse"])
def test_output_kernel_is_sigmoid_value_and_delta(name: str, dtype) -> None:
    loss = LOSSES[name]
    rng = np.random.default_rng(2)
    m = 300
    z = rng.normal(0.0, 4.0, size=(m, 1)).astype(dtype)
    z[:4, 0] = [0.0, 60.0, -60.0, 700.0 if dtype == np.float64 else 80.0]  # saturated, no overflow
    y = (rng.random((m, 1)) < 0.5).astype(dtype)
    w = rng.normal(1.0, 0.7, size=(m, 1)).astype(dtype)  # negative weights too
    scale = 1.0 / m
    a, delta = np.empty_like(z), np.empty_like(z)
    J = loss.output(y, z, w, dtype(scale), a, delta)
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    a_ref = expit(z)
    np.testing.assert_allclose(a, a_ref, rtol=rtol, atol=1e-30)
    delta_ref = loss.delta(y, z, a_ref, w) * dtype(scale)
    np.testing.assert_allclose(delta, delta_ref, rtol=10 * rtol, atol=1e-12 if dtype == np.float64 else 1e-9)
    ref64 = scale * loss.value(y.astype(float), z.astype(float), expit(z.astype(float)), w.astype(float))
    assert np.isfinite(J)
    assert J == pytest.approx(ref64, rel=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_kernel_step_equals_the_numpy_step(dtype) -> None:
    rng = np.random.default_rng(3)
    theta0 = rng.normal(size=1000).astype(dtype)
    ref, fast = theta0.copy(), theta0.copy()
    opt_ref = Adam(ref, beta_1=0.8, beta_2=0.99, epsilon=1e-6)
    opt_fast = Adam(fast, beta_1=0.8, beta_2=0.99, epsilon=1e-6, kernels=True)
    for _ in range(7):
        g = rng.normal(size=theta0.size).astype(dtype)
        g[:3] = 0.0
        opt_ref.step(ref, g, 0.05)
        opt_fast.step(fast, g, 0.05)
        # the same operations in the same order: equal to the last bit (a rounding-level tolerance
        # would hide nothing but a reordering)
        np.testing.assert_allclose(fast, ref, rtol=2 * np.finfo(dtype).eps, atol=0)
        np.testing.assert_allclose(opt_fast.mu, opt_ref.mu, rtol=2 * np.finfo(dtype).eps, atol=0)
        np.testing.assert_allclose(opt_fast.nu, opt_ref.nu, rtol=2 * np.finfo(dtype).eps, atol=0)
    assert opt_fast.t == opt_ref.t == 7


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_l2_in_the_step_is_the_penalty_gradient_added_to_g(dtype) -> None:
    """``step(..., l2=c)``: the kernel (which adds ``c theta`` as it goes) and the numpy step (which adds
    it to ``g`` first) both take the step of ``g + c theta`` on the segments and of ``g`` elsewhere."""
    rng = np.random.default_rng(5)
    n = 50
    segments = np.array([[0, 12], [20, 21], [30, 47]])  # gaps between, one of length 1, none at the end
    mask = np.zeros(n, dtype=bool)
    for lo, hi in segments:
        mask[lo:hi] = True
    theta0 = rng.normal(size=n).astype(dtype)
    explicit, numpy_l2, fast = theta0.copy(), theta0.copy(), theta0.copy()
    kw = dict(beta_1=0.8, beta_2=0.99, epsilon=1e-6)
    opt_explicit = Adam(explicit, **kw)
    opt_numpy = Adam(numpy_l2, **kw, l2_segments=segments)
    opt_fast = Adam(fast, **kw, kernels=True, l2_segments=segments)
    unpenalised = theta0.copy()
    opt_unpenalised = Adam(unpenalised, **kw, kernels=True, l2_segments=segments)
    assert opt_fast.fuses_l2 and not opt_numpy.fuses_l2 and not opt_explicit.fuses_l2
    c = 0.3
    for _ in range(5):
        g = rng.normal(size=n).astype(dtype)
        g_kept = g.copy()
        opt_explicit.step(explicit, np.where(mask, g + dtype(c) * explicit, g).astype(dtype), 0.05)
        opt_fast.step(fast, g, 0.05, l2=c)
        np.testing.assert_array_equal(g, g_kept)  # the kernel does not write the gradient
        opt_unpenalised.step(unpenalised, g, 0.05)
        opt_numpy.step(numpy_l2, g, 0.05, l2=c)  # (adds c theta to g in place)
        for got in (fast, numpy_l2):
            np.testing.assert_allclose(got, explicit, rtol=4 * np.finfo(dtype).eps, atol=0)
    # the penalty moved the penalised parameters, and only those
    assert np.all(fast[mask] != unpenalised[mask])
    np.testing.assert_array_equal(fast[~mask], unpenalised[~mask])
    # l2=0 leaves every parameter to the plain rule
    plain, zero = theta0.copy(), theta0.copy()
    Adam(plain, **kw, kernels=True).step(plain, g_kept, 0.05)
    Adam(zero, **kw, kernels=True, l2_segments=segments).step(zero, g_kept, 0.05, l2=0.0)
    np.testing.assert_array_equal(zero, plain)


def _data(n: int = 600, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] * X[:, 1] + X[:, 2] + 0.5 * rng.normal(size=n) > 0).astype(int)
    return X, y


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "linear"])
def test_kernel_training_equals_numpy_training(activation: str, loss: str) -> None:
    """float64, same seed: the compiled path ends where the numpy path ends (to float64 rounding)."""
    X, y = _data()
    w = np.random.default_rng(4).uniform(0.2, 2.0, size=len(y))
    kw = dict(hidden_layer_sizes=(9, 7), activation=activation, loss=loss, alpha=1e-2,
              learning_rate_init=1e-2, batch_size=64, max_iter=3, random_state=5, tol=0.0,
              n_iter_no_change=10**6, dtype="float64")
    ref = MLPClassifier(**kw, kernels="numpy").fit(X, y, sample_weight=w)
    fast = MLPClassifier(**kw, kernels="numba").fit(X, y, sample_weight=w)
    assert not ref._kernels_on and fast._kernels_on
    np.testing.assert_allclose(fast._theta, ref._theta, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fast.loss_curve_, ref.loss_curve_, rtol=1e-12)


def test_auto_uses_the_kernels_only_for_long_trainings() -> None:
    """The choice depends on the training's size only: numpy for a short one, numba for >= 1 TFLOP."""
    X, y = _data(300)
    short = MLPClassifier((8,), max_iter=2, random_state=0).fit(X, y)
    assert short.kernels == "auto" and not short._kernels_on
    big = MLPClassifier((256, 256), max_iter=100)
    big._init_params(11, np.random.default_rng(0))
    n = int(KERNELS_AUTO_FLOPS / big._training_flops(1)) + 1
    big._prepare_math(n_events=n)
    assert big._kernels_on
    big._prepare_math(n_events=n // 2)
    assert not big._kernels_on
    undecided = MLPClassifier((8,), kernels="numba")  # a caller that does not give the size
    undecided._init_params(3, np.random.default_rng(0))
    undecided._prepare_math()
    assert undecided._kernels_on
    forced = MLPClassifier((8,), max_iter=2, random_state=0, kernels="numba").fit(X, y)
    assert forced._kernels_on
    np.testing.assert_allclose(forced.predict_proba(X), short.predict_proba(X), atol=1e-5)


def test_bad_kernels_value_is_one_clear_error() -> None:
    X, y = _data(50)
    with pytest.raises(ValueError, match=r"kernels='cuda' must be one of \['auto', 'numba', 'numpy'\]"):
        MLPClassifier(kernels="cuda").fit(X, y)


def test_importing_and_short_training_do_not_import_numba() -> None:
    """numba costs ~1.3 CPU s to start: a process that does not need the kernels never imports it."""
    code = ("import sys, numpy as np; from hepmva.nn import MLPClassifier; "
            "X = np.random.default_rng(0).normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int); "
            "MLPClassifier((8,), max_iter=3).fit(X, y).predict_proba(X); "
            "assert 'numba' not in sys.modules, 'numba imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_numba_that_does_not_import_auto_falls_back_and_numba_stops_with_one_line(tmp_path) -> None:
    broken = tmp_path / "numba"  # installed, but its import fails
    broken.mkdir()
    (broken / "__init__.py").write_text("raise ImportError('broken on purpose')\n")
    code = (f"import sys, logging, numpy as np; sys.path.insert(0, {str(tmp_path)!r}); "
            "logging.basicConfig(level=logging.WARNING, stream=sys.stdout); "
            "import hepmva.nn.mlp as M; M.KERNELS_AUTO_FLOPS = 0.0; "
            "X = np.random.default_rng(0).normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int); "
            "est = M.MLPClassifier((8,), max_iter=3).fit(X, y); assert not est._kernels_on; "
            "M.MLPClassifier((8,), max_iter=3, kernels='numba').fit(X, y)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "numba does not import" in run.stdout and "elementwise steps run in numpy" in run.stdout
    assert run.returncode != 0
    assert "ValueError: kernels='numba': numba does not import" in run.stderr


def test_kernel_is_plain_python_and_pickles_by_reference() -> None:
    """The decorated loop runs as Python too (the same numbers) and pickles as its module-level name."""
    a = np.array([0.5, 0.0, -1.0, 2.0], dtype=np.float32)
    d1, d2 = np.ones(4, np.float32), np.ones(4, np.float32)
    relu_backprop.py_func(d1, a)
    relu_backprop(d2, a)
    np.testing.assert_array_equal(d1, [1, 0, 0, 1])
    np.testing.assert_array_equal(d1, d2)
    assert pickle.loads(pickle.dumps(relu_backprop)) is relu_backprop
    assert isinstance(relu_backprop, jit.Kernel) and jit.numba_available()
