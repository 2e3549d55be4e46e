"""The workflow-facing study functions on small feature tables written in tmp_path."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hepmva import io, score_parts
from hepmva.stages.unsupervised import (
    anomaly_comparison,
    anomaly_study,
    clustering_study,
    decomposition_study,
    summarize_unsupervised,
)

FEATURES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """Two samples in the spine's features-table layout; signal displaced by 4 sigma in a and b."""
    d = tmp_path_factory.mktemp("features")
    rng = np.random.default_rng(0)
    paths = []
    for name, label, n, shift, weight in (("sig", 1, 800, 4.0, 0.5), ("bkg", 0, 1600, 0.0, 3.0)):
        X = rng.normal(size=(n, 3))
        X[:, :2] += shift
        w = np.full(n, weight)
        if label == 0:
            w[::10] *= -1  # some negative weights
        df = pd.DataFrame(X, columns=FEATURES)
        df["sample"], df["label"], df["weight"] = name, np.int8(label), w
        df["event"] = np.arange(n, dtype=np.uint64)
        df["fold"] = (np.arange(n) % 2).astype(np.int8)
        df["file_index"], df["entry"] = np.int32(0), np.arange(n)
        path = d / f"{name}.parquet"
        io.write_table(df, path)
        paths.append(str(path))
    return paths


def _classifier_scores(tables, path):
    """A fake supervised classifier's score table (hepmva.score_parts): out-of-fold score = a + b."""
    with score_parts.ScorePartWriter(path) as writer:
        for p in tables:
            df = io.read_table(p)
            for fold, g in df.assign(row=np.arange(len(df))).groupby("fold"):
                writer.write(sample=str(g["sample"].iloc[0]), part=0, role="test", fold=int(fold), row=g["row"],
                             label=g["label"], weight=g["weight"], score=g["a"] + g["b"])


def test_full_stage(tables, tmp_path):
    clustering = clustering_study(
        tables, feature_names=FEATURES,
        methods={"kmeans": {"params": {"n_clusters": 2}}, "agglomerative": {"max_samples": 300}},
        seed=1, plot_points=300, json_path=tmp_path / "clustering.json",
        pca_dir=tmp_path / "pca", yields_dir=tmp_path / "yields",
    )
    assert clustering["kmeans"]["ari"] > 0.5
    assert clustering["agglomerative"]["n_fit"] == 300
    assert sorted(p.name for p in (tmp_path / "pca").iterdir()) == ["agglomerative.png", "kmeans.png"]
    assert sorted(p.name for p in (tmp_path / "yields").iterdir()) == ["agglomerative.png", "kmeans.png"]

    dec = decomposition_study(
        tables, feature_names=FEATURES, n_bootstrap=5, seed=1, json_path=tmp_path / "dec.json",
        scree_plot=tmp_path / "scree.png", loadings_plot=tmp_path / "load.png",
        components_plot=tmp_path / "comp.png", fisher_plot=tmp_path / "fisher.png",
    )
    assert dec["fisher"]["auc"] > 0.9
    assert sum(dec["explained_variance_ratio"]) == pytest.approx(1.0)

    anom = anomaly_study(
        tables, feature_names=FEATURES, methods={"knn": {"n_neighbors": 5}, "gmm": {"n_components": 2}},
        max_eval=500, n_bootstrap=5, seed=1, json_path=tmp_path / "anomaly.json",
        scores_path=tmp_path / "anomaly.parquet", plots_dir=tmp_path / "anomaly_plots",
    )
    assert anom["knn"]["auc"] > 0.8 and anom["knn"]["n_eval"] == 500
    table = io.read_table(tmp_path / "anomaly.parquet")
    assert list(table.columns) == ["sample", "row", "label", "weight", "knn", "gmm"]

    _classifier_scores(tables, tmp_path / "clf.parquet")
    comp = anomaly_comparison(tmp_path / "anomaly.parquet", {"sum": tmp_path / "clf.parquet"}, n_bootstrap=5,
                              json_path=tmp_path / "comparison.json", roc_plot=tmp_path / "roc.png")
    kinds = {r["method"]: r["kind"] for r in comp["rows"]}
    assert kinds == {"knn": "anomaly", "gmm": "anomaly", "sum": "supervised"}
    assert all(r["n_events"] == 500 for r in comp["rows"])

    df = summarize_unsupervised(tmp_path / "clustering.json", tmp_path / "dec.json", tmp_path / "comparison.json",
                                md_path=tmp_path / "summary.md", csv_path=tmp_path / "summary.csv")
    md = (tmp_path / "summary.md").read_text()
    for word in ("kmeans", "agglomerative", "PC1", "Fisher", "knn", "supervised"):
        assert word in md
    assert set(df["study"]) == {"clustering", "pca", "fisher", "anomaly_anomaly", "anomaly_supervised"}
    json.loads((tmp_path / "comparison.json").read_text())


def test_partial_summary(tables, tmp_path):
    """A study switched off simply leaves its section out."""
    summarize_unsupervised(None, None, None, md_path=tmp_path / "s.md", csv_path=tmp_path / "s.csv")
    assert (tmp_path / "s.md").read_text().startswith("# Unsupervised studies")
    assert pd.read_csv(tmp_path / "s.csv").empty


def test_bad_eval_fold(tables, tmp_path):
    with pytest.raises(ValueError, match="eval_fold"):
        anomaly_study(tables, feature_names=FEATURES, methods={"knn": {}}, eval_fold=5,
                      json_path=tmp_path / "a.json", scores_path=tmp_path / "a.parquet", plots_dir=tmp_path / "p")
