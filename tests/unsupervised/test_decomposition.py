"""Weighted PCA and Fisher discriminant against scikit-learn and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from tests.estimator_checks import parametrize_with_checks

from hepmva.metrics import roc_auc
from hepmva.unsupervised.decomposition import FisherDiscriminant, WeightedPCA, weighted_covariance


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(42)
    n, d = 2000, 5
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)
    y = (rng.uniform(size=n) < 0.4).astype(int)
    X[y == 1] += np.array([1.0, 0.5, 0.0, -0.5, 0.2])
    w = rng.uniform(0.1, 3.0, n)
    return X, y, w


def _assert_same_axes(A, B, atol=1e-8):
    """Rows equal up to sign."""
    signs = np.sign(np.sum(A * B, axis=1))
    np.testing.assert_allclose(A * signs[:, None], B, atol=atol)


def test_pca_matches_sklearn_unit_weights(data):
    X, _, _ = data
    ours = WeightedPCA(n_components=3).fit(X)
    ref = PCA(n_components=3).fit(X)
    _assert_same_axes(ours.components_, ref.components_)
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-10)
    np.testing.assert_allclose(ours.singular_values_, ref.singular_values_, rtol=1e-10)
    Z, Z_ref = ours.transform(X), ref.transform(X)
    np.testing.assert_allclose(np.abs(Z), np.abs(Z_ref), atol=1e-8)


def test_pca_weighted_matches_covariance_eigh(data):
    X, _, w = data
    ours = WeightedPCA().fit(X, sample_weight=w)
    evals, evecs = np.linalg.eigh(np.cov(X.T, aweights=w))
    order = np.argsort(evals)[::-1]
    np.testing.assert_allclose(ours.explained_variance_, evals[order], rtol=1e-10)
    _assert_same_axes(ours.components_, evecs[:, order].T)
    np.testing.assert_allclose(ours.mean_, np.average(X, axis=0, weights=w))
    np.testing.assert_allclose(ours.explained_variance_ratio_.sum(), 1.0)
    # full-rank round trip
    np.testing.assert_allclose(ours.inverse_transform(ours.transform(X)), X, atol=1e-9)


def test_pca_negative_weights_use_eigh(data):
    X, _, w = data
    w_neg = w.copy()
    w_neg[::10] *= -0.2
    ours = WeightedPCA().fit(X, sample_weight=w_neg)
    mu, cov = weighted_covariance(X, w_neg)
    evals = np.sort(np.linalg.eigvalsh(cov))[::-1]
    np.testing.assert_allclose(ours.explained_variance_, evals, rtol=1e-10)
    np.testing.assert_allclose(ours.mean_, mu)
    assert np.all(np.isnan(ours.singular_values_))


def test_pca_state_round_trip(data):
    X, _, w = data
    pca = WeightedPCA(n_components=2).fit(X, sample_weight=w)
    meta, arrays = pca.export_state()
    back = WeightedPCA.from_state(meta, arrays)
    np.testing.assert_array_equal(back.transform(X), pca.transform(X))


def test_fisher_matches_sklearn_lda(data):
    X, y, _ = data
    ours = FisherDiscriminant().fit(X, y)
    ref = LinearDiscriminantAnalysis(solver="lsqr").fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-8)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-10)
    # the eigen solver's scalings_ span the same direction
    ref_eig = LinearDiscriminantAnalysis(solver="eigen").fit(X, y)
    a, b = ours.coef_[0], ref_eig.scalings_[:, 0]
    assert abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)) > 1 - 1e-8


def test_fisher_weights_equal_repetition(data):
    """Integer weights give the same direction as repeated events."""
    X, y, _ = data
    k = np.random.default_rng(1).integers(1, 4, len(y))
    ours = FisherDiscriminant().fit(X, y, sample_weight=k.astype(float))
    rep = FisherDiscriminant().fit(np.repeat(X, k, axis=0), np.repeat(y, k))
    np.testing.assert_allclose(ours.coef_, rep.coef_, rtol=1e-8)
    np.testing.assert_allclose(ours.intercept_, rep.intercept_, rtol=1e-8)


def test_fisher_separates_and_round_trips(data):
    X, y, w = data
    f = FisherDiscriminant(reg=1e-3).fit(X, y, sample_weight=w)
    auc = roc_auc(y, f.decision_function(X), w)
    assert auc > 0.6
    np.testing.assert_allclose(np.linalg.norm(f.coef_), np.linalg.norm(f.coef_))
    t = f.project(X)
    assert t.shape == (len(y),)
    meta, arrays = f.export_state()
    back = FisherDiscriminant.from_state(meta, arrays)
    np.testing.assert_array_equal(back.predict_proba(X), f.predict_proba(X))
    np.testing.assert_array_equal(back.predict(X), f.predict(X))


def test_fisher_errors(data):
    X, y, w = data
    with pytest.raises(ValueError, match="Only binary"):
        FisherDiscriminant().fit(X, np.arange(len(y)) % 3)
    with pytest.raises(ValueError, match="total weight"):
        FisherDiscriminant().fit(X, y, sample_weight=np.where(y == 1, 0.0, w))
    with pytest.raises(ValueError, match="reg"):
        FisherDiscriminant(reg=-1.0).fit(X, y)


@parametrize_with_checks(
    [FisherDiscriminant(), WeightedPCA()],
    expected_failed_checks=lambda est: (
        {
            "check_sample_weight_equivalence_on_dense_data": "reliability-weight normalisation "
            "(V1 - V2/V1) is scale invariant, not a frequency-weight count"
        }
        if isinstance(est, WeightedPCA)
        else {}
    ),
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_state_survives_json_and_npz(data, tmp_path):
    """The (meta, arrays) state goes through JSON and a pickle-free npz unchanged."""
    import json

    X, y, w = data
    for est in (FisherDiscriminant(reg=0.01).fit(X, y, sample_weight=w), WeightedPCA(n_components=2).fit(X)):
        meta, arrays = est.export_state()
        np.savez(tmp_path / "state.npz", **arrays)
        with np.load(tmp_path / "state.npz", allow_pickle=False) as npz:
            arrays_back = {k: npz[k] for k in npz.files}
        back = type(est).from_state(json.loads(json.dumps(meta)), arrays_back)
        out = "predict_proba" if hasattr(est, "predict_proba") else "transform"
        np.testing.assert_array_equal(getattr(back, out)(X), getattr(est, out)(X))
