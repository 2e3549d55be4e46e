"""Every unsupervised plot renders from real results and is saved where told."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from hepmva.plotting import unsupervised as up
from hepmva.studies.anomaly import run_anomaly
from hepmva.unsupervised import FisherDiscriminant, WeightedPCA, run_clustering


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(3)
    n = 1500
    y = (rng.uniform(size=n) < 0.3).astype(int)
    X = rng.normal(size=(n, 4))
    X[y == 1, :2] += 2.0
    return X, y, rng.uniform(0.5, 1.5, n)


def test_all_plots(toy, tmp_path):
    X, y, w = toy
    pca = WeightedPCA().fit(X, sample_weight=w)
    Z = pca.transform(X)
    res = run_clustering(X, y, w, method="kmeans", params={"n_clusters": 3})
    fisher = FisherDiscriminant().fit(X, y, sample_weight=w)
    anom = run_anomaly(X, y, w, train_mask=np.arange(len(y)) % 2 == 0, method="knn")
    anom_score = anom.score.copy()
    anom_score[0] = np.inf  # non-finite scores are tolerated
    figs = {
        "clusters.png": up.plot_clusters_pca(Z, res.labels, y, method="kmeans", max_points=500, path=tmp_path / "clusters.png"),
        "yields.png": up.plot_cluster_yields(*res.yields[:1], res.yields.yield_s, res.yields.yield_b, method="kmeans", path=tmp_path / "yields.png"),
        "scree.png": up.plot_scree(pca.explained_variance_ratio_, path=tmp_path / "scree.png"),
        "loadings.png": up.plot_loadings(pca.components_, ["a", "b", "c", "d"], explained_variance_ratio=pca.explained_variance_ratio_, path=tmp_path / "loadings.png"),
        "components.png": up.plot_components_sb(Z, y, w, n_components=3, path=tmp_path / "components.png"),
        "fisher.png": up.plot_projection_sb(fisher.project(X), y, w, path=tmp_path / "fisher.png"),
        "scores.png": up.plot_anomaly_scores(anom_score, y[anom.eval_index], w[anom.eval_index], method="knn", auc=anom.auc, path=tmp_path / "scores.png"),
        "roc.png": up.plot_anomaly_roc({"knn": (anom.roc.eff_s, anom.roc.eff_b, anom.auc)}, path=tmp_path / "roc.png"),
    }
    for name, fig in figs.items():
        assert isinstance(fig, Figure)
        assert (tmp_path / name).stat().st_size > 1000, name


def test_loadings_name_mismatch(toy):
    X, _, _ = toy
    pca = WeightedPCA().fit(X)
    with pytest.raises(ValueError, match="feature_names"):
        up.plot_loadings(pca.components_, ["a", "b"])
