"""Clustering: every method on well-separated blobs, yields bookkeeping, caps, errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from hepmva.unsupervised.clustering import (
    CLUSTERING_METHODS,
    cluster_yields,
    make_clusterer,
    run_clustering,
)

PARAMS = {
    "kmeans": {"n_clusters": 2},
    "gmm": {"n_components": 2},
    "dbscan": {"eps": 1.5, "min_samples": 10},
    "meanshift": {},
    "agglomerative": {"n_clusters": 2},
    "affinity": {"preference": "min"},
}


@pytest.fixture(scope="module")
def blobs():
    """Two far-apart blobs in 4 dimensions; blob 1 is 'signal'."""
    X, y = make_blobs(n_samples=3000, centers=[[0, 0, 0, 0], [6, 6, 0, 0]], cluster_std=1.0, random_state=3)
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    return X, y, w


CAPS = {"meanshift": 800, "agglomerative": 1000, "affinity": 400, "dbscan": 1500}


@pytest.mark.parametrize("method", sorted(CLUSTERING_METHODS))
def test_blobs_recovered(blobs, method):
    X, y, w = blobs
    cap = CAPS.get(method)
    res = run_clustering(X, y, w, method=method, params=PARAMS[method], max_samples=cap, extend=True, random_state=1)
    assert res.labels.shape == (len(y),)
    np.testing.assert_array_equal(res.index, np.arange(len(y)))
    assert res.n_fit == (cap or len(y))
    assert res.ari > 0.9, res.summary()
    assert res.nmi > 0.8
    # the best cluster is essentially pure signal
    assert np.nanmax(res.yields.purity) > 0.97
    # yields add up to the weighted totals
    np.testing.assert_allclose(res.yields.yield_s.sum(), w[y == 1].sum())
    np.testing.assert_allclose(res.yields.yield_b.sum(), w[y == 0].sum())
    assert res.yields.n_events.sum() == len(y)


@pytest.mark.parametrize("method", ["dbscan", "agglomerative"])
def test_unextended_scores_the_fit_sample(blobs, method):
    X, y, w = blobs
    cap = CAPS[method]
    res = run_clustering(X, y, w, method=method, params=PARAMS[method], max_samples=cap, random_state=1)
    np.testing.assert_array_equal(res.index, res.fit_index)
    assert res.labels.shape == (cap,)
    assert res.ari > 0.9
    # yields of the subsample scaled up by n / n_fit: close to the full totals
    scale = len(y) / cap
    np.testing.assert_allclose(res.yields.yield_s.sum(), scale * w[res.index][y[res.index] == 1].sum())
    assert res.yields.yield_s.sum() == pytest.approx(w[y == 1].sum(), rel=0.1)
    assert res.yields.n_events.sum() == cap


def test_predict_methods_always_extended(blobs):
    X, y, w = blobs
    res = run_clustering(X, y, w, method="gmm", params=PARAMS["gmm"], max_samples=500)
    assert res.n_fit == 500
    assert res.labels.shape == (len(y),)
    assert res.ari > 0.9


def test_deterministic(blobs):
    X, y, w = blobs
    a = run_clustering(X, y, w, method="agglomerative", params=PARAMS["agglomerative"], max_samples=500, random_state=7)
    b = run_clustering(X, y, w, method="agglomerative", params=PARAMS["agglomerative"], max_samples=500, random_state=7)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.fit_index, b.fit_index)


def test_cluster_yields_hand_worked():
    labels = np.array([0, 0, 1, 1, 1, -1])
    y = np.array([1, 0, 1, 1, 0, 0])
    w = np.array([2.0, 1.0, 1.0, -0.5, 3.0, 1.0])
    cy = cluster_yields(labels, y, w)
    np.testing.assert_array_equal(cy.cluster, [-1, 0, 1])
    np.testing.assert_array_equal(cy.n_events, [1, 2, 3])
    np.testing.assert_allclose(cy.yield_s, [0.0, 2.0, 0.5])
    np.testing.assert_allclose(cy.yield_b, [1.0, 1.0, 3.0])
    np.testing.assert_allclose(cy.purity, [0.0, 2 / 3, 0.5 / 3.5])
    global_purity = 2.5 / 7.5
    np.testing.assert_allclose(cy.enrichment, cy.purity / global_purity)


def test_weights_reach_kmeans(blobs):
    """Zero weight on one blob: k-means with one cluster sits on the other blob."""
    X, y, _ = blobs
    w = (y == 1).astype(float)
    est_w = run_clustering(X, y, w, method="kmeans", params={"n_clusters": 1})
    assert est_w.yields.yield_b.sum() == 0.0
    km = make_clusterer("kmeans", {"n_clusters": 1})
    km.fit(X, sample_weight=w)
    np.testing.assert_allclose(km.cluster_centers_[0], X[y == 1].mean(axis=0), atol=1e-6)


def test_errors(blobs):
    X, y, w = blobs
    with pytest.raises(ValueError, match="unknown clustering method 'spectral'"):
        run_clustering(X, y, w, method="spectral")
    with pytest.raises(ValueError, match="unknown parameter 'n_cluster'"):
        run_clustering(X, y, w, method="kmeans", params={"n_cluster": 3})
    with pytest.raises(ValueError, match="y must contain only 0"):
        run_clustering(X, y + 1, w)
    with pytest.raises(ValueError, match="max_samples"):
        run_clustering(X, y, w, method="kmeans", max_samples=0)
    with pytest.raises(ValueError, match="2-dimensional"):
        run_clustering(X[:, 0], y, w)
