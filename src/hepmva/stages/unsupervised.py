"""The unsupervised stage (``workflow/rules/unsupervised.smk``): one function per rule, reading the features tables.

Each function loads ``results/features/*.parquet``, scales the features with the spine's
:func:`hepmva.preprocessing.fit_scaler` (weights ``|w|``), runs one study of this package, and
writes its numbers (JSON, parquet) and plots. The workflow scripts only unpack ``snakemake``
and call one of these.

- :func:`clustering_study`      every clustering method: scores vs truth, PC-plane and yield plots
- :func:`decomposition_study`   weighted PCA (scree, loadings, S/B in the components) and the
                                out-of-fold Fisher discriminant
- :func:`anomaly_study`         every detector trained on the background of the training folds
- :func:`anomaly_comparison`    the detectors and the supervised classifiers on the same events
- :func:`summarize_unsupervised`  the table of numbers (markdown + CSV)

One job per study (not per method) keeps the start-up cost (imports, reading the tables) paid
once; the methods' own costs are bounded by the caps in the configuration. The plots' libraries
(matplotlib, mplhep: 0.5-0.8 s of a job's start) are imported by the functions that draw, so the
summary, the last job of the run, does not pay them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from hepmva import io, metrics, score_parts
from hepmva.config import schema_default
from hepmva.datasets import TrainingPolicy, load_feature_tables
from hepmva.linear import FisherDiscriminant
from hepmva.preprocessing import fit_scaler
from hepmva.unsupervised.decomposition import WeightedPCA

__all__ = [
    "StudyData",
    "load_study_data",
    "clustering_study",
    "decomposition_study",
    "anomaly_study",
    "anomaly_comparison",
    "summarize_unsupervised",
]

log = logging.getLogger(__name__)


@dataclass
class StudyData:
    """Scaled features and bookkeeping of all events.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
        Scaled features.
    y : ndarray of shape (n_samples,)
        1 = signal, 0 = background.
    w : ndarray of shape (n_samples,)
        Physics event weights (negative allowed).
    fold : ndarray of shape (n_samples,)
    sample : ndarray of shape (n_samples,)
        Sample name of each event.
    row : ndarray of shape (n_samples,)
        Row of the event in its sample's features table.
    feature_names : list of str
    """

    X: NDArray[np.float64]
    y: NDArray[np.int64]
    w: NDArray[np.float64]
    fold: NDArray[np.int64]
    sample: NDArray[Any]
    row: NDArray[np.int64]
    feature_names: list[str]


def load_study_data(
    feature_tables: Sequence[str | Path],
    feature_names: Sequence[str],
    *,
    scaler: str = schema_default("unsupervised.scaler"),
    scaler_fit_mask: str = "all",
    eval_fold: int = 0,
) -> StudyData:
    """Read the features tables and scale the features.

    Parameters
    ----------
    feature_tables : sequence of path
        ``results/features/{sample}.parquet``.
    feature_names : sequence of str
    scaler : {"standard", "minmax", "none"}
        :func:`hepmva.preprocessing.fit_scaler` method (weights ``|w|``).
    scaler_fit_mask : {"all", "train", "train_background"}
        Fit the scaler on all events, on the events outside ``eval_fold``, or on the
        background events outside ``eval_fold`` (the anomaly setting: nothing of the signal
        is seen before evaluation).
    eval_fold : int
        The held-out fold for ``scaler_fit_mask="train"``.
    """
    df = load_feature_tables(feature_tables, feature_names, columns=())
    row = df["row"].to_numpy()
    X = df[list(feature_names)].to_numpy(dtype=np.float64)
    y = df["label"].to_numpy().astype(np.int64)
    w = df["weight"].to_numpy(dtype=np.float64)
    fold = df["fold"].to_numpy().astype(np.int64)
    if scaler_fit_mask == "all":
        fit = np.ones(len(y), dtype=bool)
    elif scaler_fit_mask == "train":
        fit = fold != eval_fold
    elif scaler_fit_mask == "train_background":
        fit = (fold != eval_fold) & (y == 0)
    else:
        raise ValueError(f"scaler_fit_mask must be 'all', 'train' or 'train_background', got {scaler_fit_mask!r}")
    if not np.any(fit):
        raise ValueError(f"no event to fit the scaler on (scaler_fit_mask={scaler_fit_mask!r}, eval_fold={eval_fold})")
    sc = fit_scaler(X[fit], w[fit], scaler)
    log.info("unsupervised: %d events, %d features, %s scaling", len(y), X.shape[1], scaler)
    return StudyData(sc.transform(X), y, w, fold, df["sample"].to_numpy(), row, list(feature_names))


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


# ------------------------------------------------------------------------------------ clustering
def clustering_study(
    feature_tables: Sequence[str | Path],
    *,
    feature_names: Sequence[str],
    methods: Mapping[str, Mapping[str, Any]],
    scaler: str = schema_default("unsupervised.scaler"),
    extend: bool = schema_default("unsupervised.clustering.extend"),
    seed: int = 0,
    plot_points: int = schema_default("unsupervised.clustering.plot_points"),
    json_path: str | Path,
    pca_dir: str | Path,
    yields_dir: str | Path,
) -> dict:
    """Run the clustering methods on all events and score them against the truth.

    Parameters
    ----------
    feature_tables : sequence of path
    feature_names : sequence of str
    methods : mapping method -> spec
        Keys of :data:`hepmva.unsupervised.clustering.CLUSTERING_METHODS`; each spec is
        ``{"params": {...}, "max_samples": int | None}`` (a missing ``max_samples`` takes the
        method's default cap).
    scaler : str
    extend : bool
        Extend DBSCAN / agglomerative labels to all events (see
        :func:`~hepmva.unsupervised.clustering.run_clustering`).
    seed : int
    plot_points : int
        Events drawn in the PC-plane plots.
    json_path : path
        ``{method: {summary..., "clusters": [per-cluster rows]}}``.
    pca_dir, yields_dir : path
        Directories receiving ``{method}.png``.

    Returns
    -------
    dict
        The JSON written.
    """
    from hepmva.plotting.unsupervised import plot_cluster_yields, plot_clusters_pca
    from hepmva.unsupervised.clustering import run_clustering  # scikit-learn's clustering: only this rule

    data = load_study_data(feature_tables, feature_names, scaler=scaler)
    Z = WeightedPCA(n_components=2).fit(data.X, sample_weight=data.w).transform(data.X)
    out: dict[str, Any] = {}
    with io.atomic_directory(pca_dir) as pca_tmp, io.atomic_directory(yields_dir) as yields_tmp:
        for method, spec in methods.items():
            spec = dict(spec or {})
            res = run_clustering(
                data.X, data.y, data.w, method=method, params=dict(spec.get("params") or {}),
                max_samples=spec.get("max_samples", "default"), extend=extend, random_state=seed,
            )
            plot_clusters_pca(Z[res.index], res.labels, data.y[res.index], method=method, max_points=plot_points,
                              random_state=seed, path=pca_tmp / f"{method}.png")
            cy = res.yields
            plot_cluster_yields(cy.cluster, cy.yield_s, cy.yield_b, method=method, path=yields_tmp / f"{method}.png")
            finite = np.isfinite(cy.enrichment)
            out[method] = {
                **res.summary(),
                "max_enrichment": float(np.max(cy.enrichment[finite])) if finite.any() else None,
                "params": res.params,
                "clusters": [
                    {"cluster": int(c), "n_events": int(n), "yield_s": float(s), "yield_b": float(b),
                     "purity": _finite(p), "enrichment": _finite(e)}
                    for c, n, s, b, p, e in zip(cy.cluster, cy.n_events, cy.yield_s, cy.yield_b, cy.purity,
                                                cy.enrichment)
                ],
            }
    io.write_json(out, json_path)
    return out


# -------------------------------------------------------------------------------- decomposition
def decomposition_study(
    feature_tables: Sequence[str | Path],
    *,
    feature_names: Sequence[str],
    n_components: int | None = schema_default("unsupervised.decomposition.n_components"),
    plot_components: int = schema_default("unsupervised.decomposition.plot_components"),
    fisher_reg: float = schema_default("unsupervised.decomposition.fisher_reg"),
    training: Mapping[str, Any] | None = None,
    scaler: str = schema_default("unsupervised.scaler"),
    n_bootstrap: int = schema_default("unsupervised.decomposition.n_bootstrap"),
    seed: int = 0,
    json_path: str | Path,
    scree_plot: str | Path,
    loadings_plot: str | Path,
    components_plot: str | Path,
    fisher_plot: str | Path,
) -> dict:
    """Weighted PCA of all events and the out-of-fold Fisher discriminant.

    The PCA uses the physics weights. Fisher's discriminant is fitted once per fold on the
    other folds, with the training weights of the spine (``training.negative_weights`` /
    ``class_balance``), and every event is projected by the fit that did not see it; its AUC
    uses the physics weights.

    Returns
    -------
    dict
        The JSON written.
    """
    from hepmva.plotting.unsupervised import plot_components_sb, plot_loadings, plot_projection_sb, plot_scree

    policy = TrainingPolicy.from_config(training)
    data = load_study_data(feature_tables, feature_names, scaler=scaler)
    X, y, w = data.X, data.y, data.w
    pca = WeightedPCA(n_components=n_components).fit(X, sample_weight=w)
    Z = pca.transform(X)
    plot_scree(pca.explained_variance_ratio_, path=scree_plot)
    plot_loadings(pca.components_, data.feature_names, explained_variance_ratio=pca.explained_variance_ratio_,
                  path=loadings_plot)
    plot_components_sb(Z, y, w, n_components=plot_components, path=components_plot)

    t = np.empty(len(y))
    folds = np.unique(data.fold)
    coefs = []
    for k in folds:
        test = data.fold == k
        w_train = policy.weights(w[~test], y[~test])
        fisher = FisherDiscriminant(reg=fisher_reg).fit(X[~test], y[~test], sample_weight=w_train)
        t[test] = fisher.decision_function(X[test])
        coefs.append(fisher.coef_[0] / np.linalg.norm(fisher.coef_[0]))
    auc, auc_err = metrics.auc_bootstrap(y, t, w, n_bootstrap=max(int(n_bootstrap), 2), random_state=seed)
    plot_projection_sb(t, y, w, xlabel="Fisher discriminant (out of fold)", path=fisher_plot)
    # PCA components one by one as "classifiers": how much S/B separation each carries
    pc_auc = [float(max(a, 1.0 - a)) for a in (metrics.roc_auc(y, Z[:, i], w) for i in range(Z.shape[1]))]
    out = {
        "features": data.feature_names,
        "explained_variance_ratio": pca.explained_variance_ratio_.tolist(),
        "explained_variance": pca.explained_variance_.tolist(),
        "components": pca.components_.tolist(),
        "pc_auc": pc_auc,
        "fisher": {"auc": float(auc), "auc_err": float(auc_err), "reg": float(fisher_reg),
                   "direction_per_fold": np.asarray(coefs).tolist()},
    }
    log.info("decomposition: PC1 explains %.1f %%, Fisher out-of-fold AUC %.4f +- %.4f",
             100 * pca.explained_variance_ratio_[0], auc, auc_err)
    io.write_json(out, json_path)
    return out


# -------------------------------------------------------------------------------------- anomaly
def anomaly_study(
    feature_tables: Sequence[str | Path],
    *,
    feature_names: Sequence[str],
    methods: Mapping[str, Mapping[str, Any] | None],
    eval_fold: int = schema_default("unsupervised.anomaly.eval_fold"),
    max_eval: int | None = schema_default("unsupervised.anomaly.max_eval"),
    n_bootstrap: int = schema_default("unsupervised.anomaly.n_bootstrap"),
    scaler: str = schema_default("unsupervised.scaler"),
    seed: int = 0,
    json_path: str | Path,
    scores_path: str | Path,
    plots_dir: str | Path,
) -> dict:
    """Fit every detector on the background of the folds other than ``eval_fold``; score ``eval_fold``.

    The scaler is fitted on the background of the training folds only. All detectors score the same evaluation
    events (at most ``max_eval``, a seeded subsample of ``eval_fold``), written to
    ``scores_path`` with columns sample, row, label, weight and one score column per detector.

    Parameters
    ----------
    feature_tables : sequence of path
    feature_names : sequence of str
    methods : mapping detector -> params
        Keys of :data:`hepmva.unsupervised.anomaly.ANOMALY_DETECTORS`.
    eval_fold, max_eval, n_bootstrap, scaler, seed
        See above; ``n_bootstrap`` replicas give the AUC uncertainty.
    json_path : path
        ``{detector: summary}``.
    scores_path : path
        Parquet table of the evaluation events.
    plots_dir : path
        Directory receiving ``{detector}.png`` (score distributions).

    Returns
    -------
    dict
        The JSON written.
    """
    from hepmva.plotting.unsupervised import plot_anomaly_scores
    from hepmva.studies.anomaly import run_anomaly  # scikit-learn's density models: only this rule

    data = load_study_data(feature_tables, feature_names, scaler=scaler, scaler_fit_mask="train_background",
                           eval_fold=eval_fold)
    if not np.any(data.fold == eval_fold):
        raise ValueError(f"unsupervised.anomaly.eval_fold: no event in fold {eval_fold}")
    out: dict[str, Any] = {}
    table: pd.DataFrame | None = None
    with io.atomic_directory(plots_dir) as tmp:
        for method, params in methods.items():
            res = run_anomaly(data.X, data.y, data.w, train_mask=data.fold != eval_fold, method=method,
                              params=dict(params or {}), max_eval=max_eval, n_bootstrap=n_bootstrap,
                              random_state=seed)
            idx = res.eval_index
            if table is None:
                table = pd.DataFrame({"sample": data.sample[idx], "row": data.row[idx], "label": data.y[idx],
                                      "weight": data.w[idx]})
            table[method] = res.score
            plot_anomaly_scores(res.score, data.y[idx], data.w[idx], method=method, auc=res.auc,
                                path=tmp / f"{method}.png")
            out[method] = {**res.summary(), "eval_fold": int(eval_fold),
                           "params": {k: v for k, v in res.params.items()
                                      if v is None or isinstance(v, (bool, int, float, str))}}
    if table is None:
        raise ValueError("unsupervised.anomaly.methods: no detector configured")
    io.write_table(table, scores_path)
    io.write_json(out, json_path)
    return out


def anomaly_comparison(
    anomaly_scores: str | Path,
    classifier_scores: Mapping[str, str | Path],
    *,
    n_bootstrap: int = schema_default("unsupervised.anomaly.n_bootstrap"),
    seed: int = 0,
    json_path: str | Path,
    roc_plot: str | Path,
) -> dict:
    """ROC/AUC of every detector next to the supervised classifiers, on the same events.

    Parameters
    ----------
    anomaly_scores : path
        Table written by :func:`anomaly_study`.
    classifier_scores : mapping classifier -> path
        The fold models' score tables of each classifier (``results/models/{classifier}/scores_fold{k}.parquet``,
        :mod:`hepmva.score_parts`); their out-of-fold (``role == "test"``) scores are taken on the anomaly
        evaluation events.
    n_bootstrap : int
    seed : int
    json_path, roc_plot : path

    Returns
    -------
    dict
        ``{"rows": [{"method", "kind", "auc", "auc_err", "n_events"}, ...]}``.
    """
    from hepmva.plotting.unsupervised import plot_anomaly_roc

    rows, curves = [], {}

    def add(name: str, kind: str, y: np.ndarray, s: np.ndarray, w: np.ndarray) -> None:
        if n_bootstrap >= 2:
            auc, err = metrics.auc_bootstrap(y, s, w, n_bootstrap=n_bootstrap, random_state=seed)
        else:
            auc, err = metrics.roc_auc(y, s, w), float("nan")
        roc = metrics.roc_curve(y, s, w)
        curves[name if kind == "anomaly" else f"{name} (supervised)"] = (roc.eff_s, roc.eff_b, auc)
        rows.append({"method": name, "kind": kind, "auc": float(auc), "auc_err": _finite(err), "n_events": int(len(y))})

    anom = io.read_table(anomaly_scores)
    y, w = anom["label"].to_numpy(), anom["weight"].to_numpy()
    for name in [c for c in anom.columns if c not in ("sample", "row", "label", "weight")]:
        add(name, "anomaly", y, anom[name].to_numpy(), w)
    events = anom[["sample", "row"]]
    for name, paths in classifier_scores.items():
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        df = score_parts.read_scores(paths, role="test", columns=["sample", "row", "label", "weight", "score"])
        df = events.merge(df, on=["sample", "row"], how="inner", validate="one_to_one")
        if len(df) != len(events):
            raise ValueError(f"{', '.join(map(str, paths))}: out-of-fold scores cover {len(df)} of {len(events)} "
                             "anomaly evaluation events")
        add(name, "supervised", df["label"].to_numpy(), df["score"].to_numpy(), df["weight"].to_numpy())
    plot_anomaly_roc(curves, path=roc_plot)
    out = {"rows": rows}
    io.write_json(out, json_path)
    return out


# -------------------------------------------------------------------------------------- summary
def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}" if np.isfinite(x) else "-"
    return str(x)


def summarize_unsupervised(
    clustering: str | Path | None = None,
    decomposition: str | Path | None = None,
    comparison: str | Path | None = None,
    *,
    md_path: str | Path,
    csv_path: str | Path,
) -> pd.DataFrame:
    """The table of numbers of the unsupervised studies.

    Parameters
    ----------
    clustering : path, optional
        JSON of :func:`clustering_study`.
    decomposition : path, optional
        JSON of :func:`decomposition_study`.
    comparison : path, optional
        JSON of :func:`anomaly_comparison`.
    md_path, csv_path : path
        Markdown (one table per study) and long-format CSV (study, method, quantity, value).

    Returns
    -------
    DataFrame
        The CSV content.
    """
    long: list[dict[str, Any]] = []
    md: list[str] = ["# Unsupervised studies", ""]

    if clustering is not None:
        md += ["## Clustering (scaled features, scored against the truth)", "",
               "| method | clusters | events fitted | events scored | ARI | NMI | max purity | max enrichment "
               "| fit [s] |",
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for method, c in json.loads(Path(clustering).read_text()).items():
            md.append(f"| {method} | {c['n_clusters']} | {c['n_fit']} | {c['n_labelled']} | {_fmt(c['ari'])} "
                      f"| {_fmt(c['nmi'])} | {_fmt(c['max_purity'])} | {_fmt(c.get('max_enrichment'), 2)} "
                      f"| {_fmt(c['fit_seconds'], 1)} |")
            for q in ("n_clusters", "n_fit", "n_labelled", "ari", "nmi", "max_purity", "max_enrichment",
                      "fit_seconds"):
                long.append({"study": "clustering", "method": method, "quantity": q, "value": c.get(q)})
        md += ["", "Purity = weighted S / (S + B) of a cluster; enrichment = purity / purity of all events. "
               "ARI and NMI count events (unweighted). Methods scored on fewer events than the total "
               "were scored on their fit sample (yields scaled to the full sample).", ""]

    if decomposition is not None:
        d = json.loads(Path(decomposition).read_text())
        r = np.asarray(d["explained_variance_ratio"])
        md += ["## PCA (weighted) and Fisher discriminant", "",
               "| component | variance fraction | cumulative | S/B AUC |", "|---|---:|---:|---:|"]
        for i, (ri, ci, ai) in enumerate(zip(r, np.cumsum(r), d["pc_auc"])):
            md.append(f"| PC{i + 1} | {ri:.4f} | {ci:.4f} | {ai:.4f} |")
            long.append({"study": "pca", "method": f"PC{i + 1}", "quantity": "variance_fraction", "value": float(ri)})
            long.append({"study": "pca", "method": f"PC{i + 1}", "quantity": "auc", "value": float(ai)})
        f = d["fisher"]
        md += ["", f"Fisher discriminant, out of fold: AUC {f['auc']:.4f} +- {f['auc_err']:.4f}. "
               "PC AUCs are max(AUC, 1 - AUC) of each component alone.", ""]
        long.append({"study": "fisher", "method": "fisher", "quantity": "auc", "value": f["auc"]})
        long.append({"study": "fisher", "method": "fisher", "quantity": "auc_err", "value": f["auc_err"]})

    if comparison is not None:
        rows = json.loads(Path(comparison).read_text())["rows"]
        md += ["## Anomaly detection (trained on background only; signal is the anomaly)", "",
               "| method | kind | AUC | +- | events |", "|---|---|---:|---:|---:|"]
        for row in rows:
            md.append(f"| {row['method']} | {row['kind']} | {_fmt(row['auc'])} | {_fmt(row['auc_err'])} "
                      f"| {row['n_events']} |")
            for q in ("auc", "auc_err", "n_events"):
                long.append({"study": f"anomaly_{row['kind']}", "method": row["method"], "quantity": q,
                             "value": row.get(q)})
        md += ["", "All rows on the same held-out events; supervised rows are the out-of-fold scores of the "
               "classifiers, for reference.", ""]

    df = pd.DataFrame(long, columns=["study", "method", "quantity", "value"])
    with io.atomic_path(md_path) as tmp:
        tmp.write_text("\n".join(md) + "\n")
    with io.atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False)
    return df
