"""hepmva.optim.minimize against scipy.optimize.minimize, closed forms and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize as so
from sklearn.linear_model import LogisticRegression

from hepmva.optim.linesearch import wolfe_line_search
from hepmva.optim.minimize import MinimizeResult, minimize


def beale(x):
    return (
        (1.5 - x[0] + x[0] * x[1]) ** 2
        + (2.25 - x[0] + x[0] * x[1] ** 2) ** 2
        + (2.625 - x[0] + x[0] * x[1] ** 3) ** 2
    )


def beale_grad(x):
    a = 1.5 - x[0] + x[0] * x[1]
    b = 2.25 - x[0] + x[0] * x[1] ** 2
    c = 2.625 - x[0] + x[0] * x[1] ** 3
    return np.array(
        [
            2 * a * (x[1] - 1) + 2 * b * (x[1] ** 2 - 1) + 2 * c * (x[1] ** 3 - 1),
            2 * a * x[0] + 4 * b * x[0] * x[1] + 6 * c * x[0] * x[1] ** 2,
        ]
    )


def _quadratic(n=20, seed=0):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    A = Q @ np.diag(np.logspace(0, 2, n)) @ Q.T  # SPD, condition number 100
    b = rng.normal(size=n)
    x_star = np.linalg.solve(A, b)
    return (lambda x: 0.5 * x @ A @ x - b @ x), (lambda x: A @ x - b), (lambda x: A), x_star


_fq, _gq, _hq, _xq = _quadratic()
CASES = {
    "rosenbrock-2d": (so.rosen, so.rosen_der, so.rosen_hess, np.array([-1.2, 1.0]), np.ones(2)),
    "rosenbrock-10d": (
        so.rosen, so.rosen_der, so.rosen_hess,
        np.array([1.3, 0.7, 0.8, 1.9, 1.2, 0.9, 1.1, 0.6, 1.4, 1.0]), np.ones(10),
    ),
    "beale": (beale, beale_grad, None, np.array([1.0, 1.0]), np.array([3.0, 0.5])),
    "quadratic-20d": (_fq, _gq, _hq, np.zeros(20), _xq),
}


@pytest.mark.parametrize("method", ["bfgs", "lbfgs", "newton"])
@pytest.mark.parametrize("case", list(CASES))
def test_same_minimum_as_scipy(case, method):
    f, g, h, x0, x_star = CASES[case]
    ours = minimize(f, x0, method=method, jac=g, hess=h if method == "newton" else None, tol=1e-6)
    scipy_method = {"bfgs": "BFGS", "lbfgs": "L-BFGS-B", "newton": "Newton-CG"}[method]
    kw = {"hess": h} if method == "newton" and h is not None else {}
    ref = so.minimize(f, x0, jac=g, method=scipy_method, tol=1e-10, **kw)
    assert isinstance(ours, MinimizeResult)
    assert ours.success, ours.message
    assert abs(ours.fun - ref.fun) <= 1e-6
    assert np.max(np.abs(ours.x - x_star)) <= 1e-4
    # comparable work: within a factor 2 (+5) of scipy's iteration count
    assert ours.nit <= 2 * ref.nit + 5, (ours.nit, ref.nit)
    # one history row per iteration plus the start, cumulative counters monotone
    h_ = ours.history
    assert h_.fun.shape == (ours.nit + 1,)
    assert np.all(np.diff(h_.nfev) > 0) and np.all(np.diff(h_.time) >= 0)
    assert h_.nfev[-1] == ours.nfev


def test_bfgs_iterations_match_scipy_closely_on_rosenbrock():
    ours = minimize(so.rosen, [-1.2, 1.0], method="bfgs", jac=so.rosen_der, tol=1e-5)
    ref = so.minimize(so.rosen, [-1.2, 1.0], jac=so.rosen_der, method="BFGS")
    assert abs(ours.nit - ref.nit) <= 10, (ours.nit, ref.nit)


def test_newton_one_step_on_convex_quadratic():
    res = minimize(_fq, np.ones(20), method="newton", jac=_gq, hess=_hq)
    assert res.nit == 1
    assert res.nfev == 2  # start + the full step alpha = 1, accepted at once
    np.testing.assert_allclose(res.x, _xq, rtol=1e-10, atol=1e-10)


def test_newton_finite_difference_hessian():
    res = minimize(so.rosen, [-1.2, 1.0], method="newton", jac=so.rosen_der, tol=1e-8)
    assert res.success and np.allclose(res.x, 1.0, atol=1e-6)
    assert res.nhev == 0 and res.njev > res.nit  # Hessians came from gradient differences


def test_gradient_free_bfgs_uses_finite_differences():
    res = minimize(beale, [1.0, 1.0], method="bfgs", tol=1e-6)
    assert np.allclose(res.x, [3.0, 0.5], atol=1e-4)
    assert res.njev == 0 and res.nfev > 3 * res.nit


def test_jac_true_means_fun_returns_value_and_gradient():
    res = minimize(lambda x: (so.rosen(x), so.rosen_der(x)), [-1.2, 1.0], method="lbfgs", jac=True)
    assert res.success and np.allclose(res.x, 1.0, atol=1e-5)
    assert res.nfev == res.njev


def test_gd_with_momentum_on_quadratic():
    f, g, _, x_star = _quadratic(5, seed=1)
    plain = minimize(f, np.zeros(5), method="gd", jac=g, learning_rate=0.009, maxiter=3000)
    heavy = minimize(f, np.zeros(5), method="gd", jac=g, learning_rate=0.009, momentum=0.9,
                     maxiter=3000)
    assert heavy.success and np.allclose(heavy.x, x_star, atol=1e-5)
    assert heavy.nit < plain.nit


def test_gd_divergence_is_reported_not_raised():
    with np.errstate(over="ignore", invalid="ignore"):
        res = minimize(_fq, np.ones(20), method="gd", jac=_gq, learning_rate=1.0, maxiter=2000)
    assert not res.success and "diverged" in res.message


def test_budget_and_callback_stop():
    res = minimize(so.rosen, np.zeros(10), method="bfgs", jac=so.rosen_der, maxfev=15)
    assert not res.success and "maxfev" in res.message
    assert 15 <= res.nfev <= 15 + 30
    seen = []
    res = minimize(so.rosen, np.zeros(10), method="lbfgs", jac=so.rosen_der,
                   callback=lambda s: seen.append(s.nit) or s.nit >= 3)
    assert res.nit == 3 and seen == [0, 1, 2, 3] and "callback" in res.message


def test_logistic_regression_by_newton_irls_equals_sklearn():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(500, 3))
    w_true = np.array([1.5, -2.0, 0.5])
    y = (rng.random(500) < 1 / (1 + np.exp(-(X @ w_true - 0.3)))).astype(float)
    s = rng.uniform(0.5, 1.5, size=500)
    X1 = np.column_stack([X, np.ones(500)])

    def nll(theta):
        z = X1 @ theta
        return float(s @ (np.logaddexp(0.0, z) - y * z))

    def grad(theta):
        p = 1 / (1 + np.exp(-(X1 @ theta)))
        return X1.T @ (s * (p - y))

    def hess(theta):  # X^T diag(s p (1 - p)) X: each Newton step is a weighted least squares (IRLS)
        p = 1 / (1 + np.exp(-(X1 @ theta)))
        return X1.T @ (X1 * (s * p * (1 - p))[:, None])

    res = minimize(nll, np.zeros(4), method="newton", jac=grad, hess=hess, tol=1e-10)
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=1000, solver="newton-cholesky")
    ref.fit(X, y, sample_weight=s)
    assert res.success and res.nit <= 10
    np.testing.assert_allclose(res.x[:3], ref.coef_[0], rtol=1e-6)
    np.testing.assert_allclose(res.x[3], ref.intercept_[0], rtol=1e-6)


def test_wolfe_conditions_hold():
    x = np.array([-1.2, 1.0])
    f0, g0 = so.rosen(x), so.rosen_der(x)
    p = -g0
    ls = wolfe_line_search(lambda z: (so.rosen(z), so.rosen_der(z)), x, p, f0, g0, alpha0=1.0)
    assert ls.success
    assert ls.fun <= f0 + 1e-4 * ls.alpha * g0 @ p
    assert abs(ls.grad @ p) <= 0.9 * abs(g0 @ p)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "sgd"}, "unknown method"),
        ({"method": "bfgs", "bounds": [(0, 1), (0, 1)]}, "bounds"),
        ({"method": "ga"}, "needs bounds"),
        ({"method": "lbfgs", "memory": 0}, "memory"),
        ({"method": "bfgs", "memory": 3}, "unknown option"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        minimize(so.rosen, [0.0, 0.0], jac=so.rosen_der, **kwargs)
