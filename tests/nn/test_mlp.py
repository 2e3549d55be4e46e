"""Behaviour of hepmva.nn.MLPClassifier: learning, symmetry, weights, divergence, persistence."""

from __future__ import annotations

import copy
import io
import json
import logging
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_circles
from sklearn.linear_model import LogisticRegression

from hepmva.nn import DivergenceError, MLPClassifier
from hepmva.nn.mlp import FIRST_ORDER_SOLVERS


@pytest.fixture(scope="module")
def circles() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_circles(n_samples=400, noise=0.03, factor=0.5, random_state=0)
    return X, y


def test_separates_circles_where_a_linear_model_cannot(circles) -> None:
    X, y = circles
    mlp = MLPClassifier((16, 16), activation="tanh", learning_rate_init=0.01, batch_size=32,
                        max_iter=300, random_state=0).fit(X, y)
    assert mlp.score(X, y) == 1.0
    assert LogisticRegression().fit(X, y).score(X, y) < 0.7


def test_xor_separated_with_sigmoid_hidden_units() -> None:
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 25, dtype=float)
    y = np.array([0, 1, 1, 0] * 25)
    mlp = MLPClassifier((4,), activation="sigmoid", solver="adam", learning_rate_init=0.05,
                        batch_size=4, max_iter=500, tol=0, random_state=1).fit(X, y)
    assert mlp.score(X, y) == 1.0


def test_zero_initialisation_keeps_hidden_units_identical(circles) -> None:
    X, y = circles
    # sigmoid, not tanh: tanh(0) = 0 would freeze every weight, sigmoid(0) = 1/2 lets them move
    mlp = MLPClassifier((6, 5), activation="sigmoid", init="zero", solver="sgd", momentum=0.0,
                        learning_rate_init=0.1, max_iter=20, tol=0, random_state=0,
                        dtype="float64").fit(X, y)
    W1, W2, W3 = mlp.coefs_
    assert np.abs(W3).max() > 0  # the output layer did learn something
    # every unit of a layer has the same incoming weights: the columns are identical
    for W, b in zip(mlp.coefs_[:-1], mlp.intercepts_[:-1]):
        np.testing.assert_allclose(W, W[:, :1].repeat(W.shape[1], axis=1), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(b, b[0], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(W3, W3[0, 0], rtol=1e-10)
    # ... so the network is no better than a single unit: it cannot separate the circles
    assert mlp.score(X, y) < 0.8
    random = MLPClassifier((6, 5), activation="sigmoid", solver="sgd", momentum=0.0,
                           learning_rate_init=0.1, max_iter=20, tol=0, random_state=0).fit(X, y)
    assert not np.allclose(random.coefs_[0][:, 0], random.coefs_[0][:, 1])


@pytest.mark.parametrize("solver", FIRST_ORDER_SOLVERS)
def test_every_solver_lowers_the_loss(circles, solver: str) -> None:
    X, y = circles
    lr = {"adagrad": 0.2, "rmsprop": 0.01, "adam": 0.02}.get(solver, 0.1)
    mlp = MLPClassifier((16,), activation="tanh", solver=solver, learning_rate_init=lr,
                        batch_size=20, max_iter=30, tol=0, random_state=0).fit(X, y)
    assert mlp.loss_curve_[-1] < 0.6 * mlp.loss_curve_[0]
    assert mlp.n_iter_ == 30 and mlp.t_ == 30 * 20


def test_batch_size_one_and_full_batch(circles) -> None:
    X, y = circles
    sgd1 = MLPClassifier((8,), solver="sgd", momentum=0.0, batch_size=1, max_iter=3, tol=0,
                         random_state=0).fit(X, y)
    assert sgd1.t_ == 3 * len(X)
    full = MLPClassifier((8,), solver="sgd", momentum=0.0, batch_size="full", max_iter=3,
                         tol=0, random_state=0).fit(X, y)
    assert full.t_ == 3


def test_full_batch_gd_step_matches_loss_grad(circles) -> None:
    """One epoch of batch GD is exactly theta - eta nabla J(theta) with the full-set gradient."""
    X, y = circles
    kw = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=0.0, batch_size=len(X), alpha=0.01,
              max_iter=1, tol=0, random_state=3, dtype="float64", shuffle=False)
    start = MLPClassifier(**kw)
    start._init_params(2, np.random.default_rng(3))
    theta0 = start._pack()
    _, grad = start._loss_grad(theta0, X, y.astype(float))
    mlp = MLPClassifier(**kw, learning_rate_init=0.5).fit(X, y)
    np.testing.assert_allclose(mlp._pack(), theta0 - 0.5 * grad, rtol=1e-12, atol=1e-14)


def test_sample_weights_matter_and_negative_weights_are_accepted(circles) -> None:
    X, y = circles
    w = np.ones(len(y))
    w[y == 1] = 1e-3  # signal nearly weightless -> predicted mostly background
    mlp = MLPClassifier((8,), max_iter=30, random_state=0, learning_rate_init=0.01).fit(X, y, w)
    assert (mlp.predict(X) == 0).mean() > 0.9
    w_neg = np.ones(len(y))
    w_neg[::10] = -0.3
    mlp = MLPClassifier((8,), max_iter=5, random_state=0).fit(X, y, w_neg)
    assert np.all(np.isfinite(mlp.predict_proba(X)))
    with pytest.raises(ValueError, match="positive sum"):
        MLPClassifier((8,), max_iter=5).fit(X, y, -np.ones(len(y)))


def test_float32_default_and_float64_on_request(circles) -> None:
    X, y = circles
    m32 = MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y)
    m64 = MLPClassifier((8,), max_iter=3, random_state=0, dtype="float64").fit(X, y)
    assert m32.coefs_[0].dtype == np.float32 and m64.coefs_[0].dtype == np.float64
    assert m32.predict_proba(X).dtype == np.float64
    np.testing.assert_allclose(m32.predict_proba(X), m64.predict_proba(X), atol=1e-4)
    # coefs_/intercepts_ are views into the flat vector
    theta = m32._pack()
    m32._unpack(np.zeros_like(theta))
    assert not m32.coefs_[0].any()


def test_divergence_is_reported_not_a_silent_nan_model(circles, caplog) -> None:
    X, y = circles
    mlp = MLPClassifier((16,), activation="relu", solver="sgd", momentum=0.9,
                        learning_rate_init=1e4, max_iter=50, random_state=0)
    with caplog.at_level(logging.ERROR, logger="hepmva.nn.mlp"):
        with pytest.raises(DivergenceError, match="learning_rate_init=10000.0 is too large"):
            mlp.fit(X, y)
    assert mlp.diverged_ and len(mlp.loss_curve_) == mlp.n_iter_ < 50
    assert "diverged" in caplog.text
    with pytest.raises(DivergenceError):
        mlp.predict(X)


def test_early_stopping_on_validation_data_keeps_best_weights(circles, caplog) -> None:
    X, y = circles
    Xv, yv = make_circles(n_samples=200, noise=0.03, factor=0.5, random_state=1)
    with caplog.at_level(logging.INFO, logger="hepmva.nn.mlp"):
        mlp = MLPClassifier((16,), activation="tanh", learning_rate_init=0.02, early_stopping=True,
                            n_iter_no_change=5, max_iter=500, random_state=0)
        mlp.fit(X, y, validation_data=(Xv, yv))
    assert mlp.n_iter_ < 500
    assert len(mlp.validation_loss_curve_) == len(mlp.loss_curve_) == len(mlp.time_curve_) == mlp.n_iter_
    assert mlp.best_loss_ == pytest.approx(min(mlp.validation_loss_curve_))
    assert "epoch 1/500" in caplog.text and "val_loss" in caplog.text
    # the kept weights are the best epoch's
    from sklearn.metrics import log_loss

    assert log_loss(yv, mlp.predict_proba(Xv)[:, 1]) == pytest.approx(mlp.best_loss_, rel=1e-4)
    # internal split
    mlp2 = MLPClassifier((8,), early_stopping=True, max_iter=5, random_state=0).fit(X, y)
    assert len(mlp2.validation_scores_) == 5 and 0 <= mlp2.validation_scores_[-1] <= 1


def test_polyak_averaging_returns_the_average(circles) -> None:
    X, y = circles
    mlp = MLPClassifier((16,), activation="tanh", solver="sgd", momentum=0.0, learning_rate_init=0.2,
                        batch_size=10, averaging=True, max_iter=40, tol=0, random_state=0).fit(X, y)
    assert mlp.score(X, y) > 0.95


def test_export_state_round_trip_without_pickle(circles) -> None:
    X, y = circles
    labels = np.where(y == 1, "signal", "background")
    mlp = MLPClassifier((8, 4), activation="tanh", max_iter=5, random_state=0).fit(X, labels)
    meta, arrays = mlp.export_state()
    meta = json.loads(json.dumps(meta))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    loaded = MLPClassifier.from_state(meta, arrays)
    np.testing.assert_array_equal(loaded.predict_proba(X), mlp.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), mlp.predict(X))
    assert loaded.get_params() == mlp.get_params()
    assert loaded.loss_curve_ == mlp.loss_curve_ and loaded.n_iter_ == mlp.n_iter_
    assert meta["layer_sizes"] == [2, 8, 4, 1]


def test_pickle_and_deepcopy_keep_coefs_as_views(circles) -> None:
    X, y = circles
    mlp = MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y)
    for other in (pickle.loads(pickle.dumps(mlp)), copy.deepcopy(mlp)):
        other._unpack(np.zeros_like(other._pack()))
        assert not other.coefs_[0].any()
    assert clone(mlp).get_params() == mlp.get_params()


@pytest.mark.parametrize(
    ("param", "value"),
    [("solver", "lion"), ("activation", "gelu"), ("loss", "hinge"), ("init", "orthogonal"),
     ("learning_rate", "warmup"), ("batch_size", 0), ("learning_rate_init", -1.0),
     ("momentum", 1.5), ("hidden_layer_sizes", (8, 0)), ("dtype", "float16"), ("max_iter", 0)],
)
def test_bad_parameters_are_one_line_value_errors(circles, param: str, value) -> None:
    X, y = circles
    with pytest.raises(ValueError, match=param) as info:
        MLPClassifier(**{param: value}).fit(X, y)
    assert "\n" not in str(info.value)


def test_minimiser_solvers_dispatch() -> None:
    """solver="lbfgs" goes through hepmva.optim.minimize on the flat vector (when available)."""
    X, y = make_circles(n_samples=100, noise=0.05, factor=0.5, random_state=0)
    try:
        from hepmva.optim.minimize import minimize  # noqa: F401
    except ImportError:  # pragma: no cover - before the minimisers are merged
        with pytest.raises(ValueError, match="solver='lbfgs' needs hepmva.optim.minimize"):
            MLPClassifier((4,), solver="lbfgs").fit(X, y)
        return
    mlp = MLPClassifier((8,), activation="tanh", solver="lbfgs", max_iter=200, dtype="float64",
                        random_state=0).fit(X, y)
    assert mlp.loss_curve_[-1] < 0.5 * mlp.loss_curve_[0]
    assert mlp.score(X, y) > 0.95


def test_persists_through_the_model_registry(circles, tmp_path) -> None:
    """kind "mlp" -> estimator.json + estimator.npz, loaded back without pickle."""
    from hepmva.models import load_estimator, make_classifier, save_estimator

    X, y = circles
    est = make_classifier("mlp", {"hidden_layer_sizes": [8], "max_iter": 5}, random_state=0)
    est.fit(X, y)
    save_estimator(est, "mlp", tmp_path / "model")
    assert {"estimator.json", "estimator.npz"} <= {p.name for p in (tmp_path / "model").iterdir()}
    loaded = load_estimator(tmp_path / "model")
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


@pytest.mark.parametrize(
    ("schedule", "kw", "expected"),
    [("step", {"lr_decay": 0.5, "lr_step_size": 2}, [0.1, 0.1, 0.05, 0.05]),
     ("exponential", {"lr_decay": 0.5}, [0.1, 0.05, 0.025, 0.0125]),
     ("invscaling", {"power_t": 1.0}, [0.1, 0.05, 0.1 / 3, 0.025])],
)
def test_learning_rate_schedule_is_applied_per_epoch(circles, caplog, schedule, kw, expected) -> None:
    X, y = circles
    with caplog.at_level(logging.INFO, logger="hepmva.nn.mlp"):
        MLPClassifier((4,), solver="sgd", momentum=0.0, learning_rate=schedule, learning_rate_init=0.1,
                      max_iter=4, tol=0, random_state=0, **kw).fit(X, y)
    etas = [float(r.getMessage().split("eta ")[1].split()[0]) for r in caplog.records
            if r.getMessage().startswith("epoch")]
    np.testing.assert_allclose(etas, expected, rtol=1e-2)


def test_no_hidden_layer_is_logistic_regression(circles) -> None:
    """hidden_layer_sizes=() is logistic regression: full-batch training approaches sklearn's."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = (X @ [1.0, -2.0, 0.5] + rng.logistic(size=300) > 0).astype(int)
    mlp = MLPClassifier((), solver="adam", batch_size="full", learning_rate_init=0.05, alpha=0.0,
                        max_iter=3000, tol=0, n_iter_no_change=10**6, dtype="float64",
                        random_state=0).fit(X, y)
    ref = LogisticRegression(C=1e8, tol=1e-10, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(mlp.coefs_[0].ravel(), ref.coef_.ravel(), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(mlp.intercepts_[0], ref.intercept_, atol=1e-3)
