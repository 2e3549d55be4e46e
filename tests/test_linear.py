"""Tests of hepmva.linear: weighted least squares and the linear discriminant."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge
from tests.estimator_checks import parametrize_with_checks

from hepmva.linear import LinearDiscriminant, weighted_least_squares


@pytest.fixture
def regression_data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.7 + 0.1 * rng.normal(size=200)
    w = rng.uniform(0.1, 2.0, size=200)
    return X, y, w


def test_unweighted_no_intercept_matches_numpy_lstsq(regression_data):
    X, y, _ = regression_data
    res = weighted_least_squares(X, y, fit_intercept=False)
    ref, *_ = np.linalg.lstsq(X, y, rcond=None)
    np.testing.assert_allclose(res.coef, ref, rtol=1e-12, atol=1e-12)
    assert res.intercept == 0.0
    assert res.rank == 4


def test_weighted_matches_numpy_lstsq_on_scaled_rows(regression_data):
    X, y, w = regression_data
    res = weighted_least_squares(X, y, w, fit_intercept=False)
    r = np.sqrt(w)
    ref, *_ = np.linalg.lstsq(X * r[:, None], y * r, rcond=None)
    np.testing.assert_allclose(res.coef, ref, rtol=1e-10)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_weighted_matches_sklearn_linear_regression(regression_data, fit_intercept):
    X, y, w = regression_data
    res = weighted_least_squares(X, y, w, fit_intercept=fit_intercept)
    ref = LinearRegression(fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(res.coef, ref.coef_, rtol=1e-10)
    np.testing.assert_allclose(res.intercept, ref.intercept_, rtol=1e-10, atol=1e-12)


def test_ridge_matches_sklearn_ridge(regression_data):
    X, y, w = regression_data
    res = weighted_least_squares(X, y, w, ridge=3.0)
    ref = Ridge(alpha=3.0).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(res.coef, ref.coef_, rtol=1e-9)
    np.testing.assert_allclose(res.intercept, ref.intercept_, rtol=1e-9)


def test_negative_weights_solve_the_normal_equations(regression_data):
    X, y, w = regression_data
    w = w.copy()
    w[::7] *= -0.3  # a few negative weights, sum still positive
    res = weighted_least_squares(X, y, w)
    Xa = np.column_stack([X, np.ones(len(X))])
    # closed form (X^T S X)^-1 X^T S y as oracle, fine for this well-conditioned toy
    ref = np.linalg.solve(Xa.T @ (Xa * w[:, None]), Xa.T @ (w * y))
    np.testing.assert_allclose(res.coef, ref[:-1], rtol=1e-9)
    np.testing.assert_allclose(res.intercept, ref[-1], rtol=1e-9)


def test_rank_deficient_gives_minimum_norm_pseudoinverse_solution():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(50, 2))
    X = np.column_stack([A, A[:, 0] + A[:, 1]])  # rank 2
    y = rng.normal(size=50)
    res = weighted_least_squares(X, y, fit_intercept=False)
    np.testing.assert_allclose(res.coef, np.linalg.pinv(X) @ y, rtol=1e-9, atol=1e-12)
    assert res.rank == 2


def test_multi_target(regression_data):
    X, y, w = regression_data
    Y = np.column_stack([y, -2 * y + 1])
    res = weighted_least_squares(X, Y, w)
    ref = LinearRegression().fit(X, Y, sample_weight=w)
    np.testing.assert_allclose(res.coef.T, ref.coef_, rtol=1e-10)
    np.testing.assert_allclose(res.intercept, ref.intercept_, rtol=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ridge": -1.0}, "ridge"),
        ({"sample_weight": np.ones(3)}, "sample_weight"),
        ({"sample_weight": -np.ones(200)}, "sum of sample_weight"),
    ],
)
def test_bad_input_raises_one_line_value_error(regression_data, kwargs, match):
    X, y, _ = regression_data
    with pytest.raises(ValueError, match=match):
        weighted_least_squares(X, y, **kwargs)


def test_linear_discriminant_is_weighted_regression_on_pm1_target(regression_data):
    X, _, w = regression_data
    rng = np.random.default_rng(3)
    y = np.where(X[:, 0] + 0.5 * X[:, 1] + rng.normal(size=len(X)) > 0, "sig", "bkg")
    ld = LinearDiscriminant().fit(X, y, sample_weight=w)
    ref = LinearRegression().fit(X, np.where(y == "sig", 1.0, -1.0), sample_weight=w)
    assert list(ld.classes_) == ["bkg", "sig"]
    np.testing.assert_allclose(ld.coef_, ref.coef_, rtol=1e-10)
    np.testing.assert_allclose(ld.decision_function(X), ref.predict(X), rtol=1e-9, atol=1e-12)
    assert (ld.predict(X) == y).mean() > 0.7


def test_linear_discriminant_state_round_trip(regression_data):
    X, _, w = regression_data
    y = (X[:, 0] > 0).astype(int)
    ld = LinearDiscriminant(ridge=0.5).fit(X, y, sample_weight=w)
    meta, arrays = ld.export_state()
    meta = json.loads(json.dumps(meta))
    buf = {k: np.asarray(v) for k, v in arrays.items()}
    for v in buf.values():
        assert v.dtype != object
    clone = LinearDiscriminant.from_state(meta, buf)
    np.testing.assert_array_equal(clone.decision_function(X), ld.decision_function(X))
    np.testing.assert_array_equal(clone.predict(X), ld.predict(X))
    assert clone.get_params() == ld.get_params()


@parametrize_with_checks([LinearDiscriminant(), LinearDiscriminant(ridge=1.0)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
