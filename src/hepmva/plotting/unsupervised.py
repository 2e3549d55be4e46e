"""Plots of the unsupervised studies: clusters, PCA, Fisher projection, anomaly scores.

Every function takes arrays, returns the :class:`~matplotlib.figure.Figure`, and saves it to
``path`` when given. Histograms are weighted and normalised to unit area per class, so shapes
are compared (yields are shown in :func:`plot_cluster_yields`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import mplhep
import numpy as np
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from hepmva.checks import subsample_index
from hepmva.histograms import feature_axis, unit_area, weighted_hist
from hepmva.plotting.style import BACKGROUND, SIGNAL, curve_style, lumi_label, new_figure, save

__all__ = [
    "plot_clusters_pca",
    "plot_cluster_yields",
    "plot_scree",
    "plot_loadings",
    "plot_components_sb",
    "plot_projection_sb",
    "plot_anomaly_scores",
    "plot_anomaly_roc",
]


def _weights(w: ArrayLike | None, n: int) -> np.ndarray:
    return np.ones(n) if w is None else np.asarray(w, dtype=np.float64)


def _style_axes(ax) -> None:
    ax.tick_params(which="both", direction="in", top=True, right=True)
    ax.minorticks_on()


def _hist_sb(ax, x: np.ndarray, y: np.ndarray, w: np.ndarray, bins: int, xlabel: str, legend: bool = True) -> None:
    """Unit-area weighted histograms of background and signal on ``ax`` (hepmva.histograms; the
    0.1-99.9 % range, beyond it the flow bins, marked at the axis ends)."""
    finite = np.isfinite(x)
    x, y, w = x[finite], y[finite], w[finite]
    if len(x) == 0:
        ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center")
        return
    axis = feature_axis(x, w, bins=bins, integer=False, quantiles=(0.001, 0.999), label=xlabel, groups=y)
    for cls, colour, label in ((0, BACKGROUND, "Background"), (1, SIGNAL, "Signal")):
        m = y == cls
        if not np.any(m) or not w[m].sum() > 0:
            continue
        h = unit_area(weighted_hist(axis, x[m], w[m]))
        if cls == 0:
            mplhep.histplot(h, ax=ax, histtype="fill", color=colour, alpha=0.35, label=label, flow="hint")
        mplhep.histplot(h, ax=ax, histtype="step", color=colour, lw=1.5, label=None if cls == 0 else label,
                        flow="hint" if cls == 1 else None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Normalised to unit area")
    if legend:
        ax.legend(fontsize="small", frameon=False)


def plot_clusters_pca(
    Z: ArrayLike,
    labels: ArrayLike,
    y: ArrayLike | None = None,
    *,
    method: str = "",
    max_points: int = 5000,
    random_state: int = 0,
    path: str | Path | None = None,
) -> Figure:
    """Clusters in the plane of the first two principal components.

    Parameters
    ----------
    Z : array-like of shape (n_samples, >= 2)
        Principal-component projections (PC1, PC2 used).
    labels : array-like of shape (n_samples,)
        Cluster labels (``-1`` = noise, drawn grey).
    y : array-like of shape (n_samples,), optional
        Truth; if given, a second panel shows signal and background.
    method : str
        Clustering method, for the title.
    max_points : int, default 5000
        Points drawn (seeded uniform subsample).
    path : path, optional
    """
    Z = np.asarray(Z, dtype=np.float64)
    labels = np.asarray(labels)
    n = len(Z)
    rng = np.random.default_rng(random_state)
    idx = subsample_index(n, max_points, rng)
    ncols = 2 if y is not None else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5.0 * ncols + 0.5, 4.5), layout="constrained", squeeze=False)
    ax = axes[0, 0]
    uniq = np.unique(labels[idx])
    cmap = plt.get_cmap("tab20")
    for i, c in enumerate(uniq):
        m = labels[idx] == c
        colour = "0.7" if c < 0 else cmap(i % 20)
        ax.scatter(Z[idx[m], 0], Z[idx[m], 1], s=3, color=colour, label="noise" if c < 0 else f"{c}", rasterized=True)
    if len(uniq) <= 12:
        ax.legend(title="cluster", fontsize="x-small", markerscale=3, frameon=False, loc="best")
    ax.set_title(f"{method} clusters ({len(uniq[uniq >= 0])})" if method else "clusters", fontsize="medium")
    if y is not None:
        y_arr = np.asarray(y)
        ax2 = axes[0, 1]
        for cls, colour, label in ((0, BACKGROUND, "Background"), (1, SIGNAL, "Signal")):
            m = y_arr[idx] == cls
            ax2.scatter(Z[idx[m], 0], Z[idx[m], 1], s=3, color=colour, alpha=0.5, label=label, rasterized=True)
        ax2.legend(fontsize="small", markerscale=3, frameon=False)
        ax2.set_title("truth", fontsize="medium")
    for a in axes[0]:
        _style_axes(a)
        a.set_xlabel("PC1")
        a.set_ylabel("PC2")
    return save(fig, path)


def plot_cluster_yields(
    cluster: ArrayLike,
    yield_s: ArrayLike,
    yield_b: ArrayLike,
    *,
    method: str = "",
    path: str | Path | None = None,
) -> Figure:
    """Weighted signal/background yields (top) and signal purity (bottom) per cluster.

    Parameters
    ----------
    cluster : array-like of shape (n_clusters,)
        Cluster labels.
    yield_s, yield_b : array-like of shape (n_clusters,)
        Weighted yields.
    method : str
        For the title.
    path : path, optional
    """
    cluster = np.asarray(cluster)
    S, B = np.asarray(yield_s, dtype=np.float64), np.asarray(yield_b, dtype=np.float64)
    tot = S + B
    purity = np.divide(S, tot, out=np.full_like(tot, np.nan), where=tot > 0)
    overall = S.sum() / tot.sum() if tot.sum() > 0 else np.nan
    x = np.arange(len(cluster))
    names = ["noise" if c < 0 else str(c) for c in cluster]
    width = max(5.0, min(14.0, 0.35 * len(cluster) + 3))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(width, 5.5), sharex=True, layout="constrained",
                                   gridspec_kw={"height_ratios": [2, 1]})
    ax1.bar(x - 0.2, B, width=0.4, color=BACKGROUND, label="Background")
    ax1.bar(x + 0.2, S, width=0.4, color=SIGNAL, label="Signal")
    if np.all(np.concatenate([S, B]) >= 0) and np.any(S > 0):
        ax1.set_yscale("log")
    ax1.set_ylabel("Weighted yield")
    ax1.legend(fontsize="small", frameon=False)
    ax1.set_title(f"{method} clusters" if method else "clusters", fontsize="medium")
    ax2.bar(x, purity, width=0.6, color=SIGNAL)
    if np.isfinite(overall):
        ax2.axhline(overall, color="black", ls="--", lw=1, label=f"all events ({overall:.3f})")
        ax2.legend(fontsize="x-small", frameon=False)
    top = np.nanmax(purity) if np.any(np.isfinite(purity)) else 1.0
    ax2.set_ylim(0, min(1.05, 1.25 * top) if top > 0 else 1.05)  # zoom: physics purities can be ~1e-3
    ax2.set_ylabel("S / (S + B)")
    ax2.set_xlabel("cluster")
    ax2.set_xticks(x, names, rotation=90 if len(x) > 20 else 0, fontsize="small")
    for a in (ax1, ax2):
        a.tick_params(which="both", direction="in", top=True, right=True)
    return save(fig, path)


def plot_scree(explained_variance_ratio: ArrayLike, *, path: str | Path | None = None) -> Figure:
    """Explained-variance fraction per principal component and its cumulative sum.

    Parameters
    ----------
    explained_variance_ratio : array-like of shape (n_components,)
    path : path, optional
    """
    r = np.asarray(explained_variance_ratio, dtype=np.float64)
    k = np.arange(1, len(r) + 1)
    fig, ax = new_figure()
    ax.bar(k, r, color=SIGNAL, label="per component")
    ax.step(k, np.cumsum(r), where="mid", color="black", label="cumulative")
    ax.set_ylim(0, 1.05)
    ax.set_xticks(k)
    ax.minorticks_off()
    ax.set_xlabel("principal component")
    ax.set_ylabel("fraction of weighted variance")
    ax.legend(fontsize="small", frameon=False)
    lumi_label(ax, None)
    return save(fig, path)


def plot_loadings(
    components: ArrayLike,
    feature_names: Sequence[str],
    *,
    explained_variance_ratio: ArrayLike | None = None,
    n_components: int | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Heat map of the PCA loadings (component x feature).

    Parameters
    ----------
    components : array-like of shape (n_components, n_features)
    feature_names : sequence of str, length n_features
    explained_variance_ratio : array-like of shape (n_components,), optional
        Shown in the row labels.
    n_components : int, optional
        Rows drawn (default all).
    path : path, optional
    """
    C = np.asarray(components, dtype=np.float64)
    if C.shape[1] != len(feature_names):
        raise ValueError(f"feature_names has {len(feature_names)} entries, components have {C.shape[1]} columns")
    k = C.shape[0] if n_components is None else min(int(n_components), C.shape[0])
    C = C[:k]
    rows = [f"PC{i + 1}" for i in range(k)]
    if explained_variance_ratio is not None:
        r = np.asarray(explained_variance_ratio)
        rows = [f"{row} ({100 * r[i]:.0f}%)" for i, row in enumerate(rows)]
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * C.shape[1], 1.2 + 0.45 * k), layout="constrained")
    vmax = np.abs(C).max()
    im = ax.imshow(C, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
    if C.size <= 400:
        for (i, j), v in np.ndenumerate(C):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize="x-small")
    ax.set_xticks(np.arange(C.shape[1]), list(feature_names), rotation=45, ha="right", fontsize="small")
    ax.set_yticks(np.arange(k), rows, fontsize="small")
    fig.colorbar(im, ax=ax, label="loading")
    return save(fig, path)


def plot_components_sb(
    Z: ArrayLike,
    y: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    n_components: int = 4,
    prefix: str = "PC",
    bins: int = 40,
    path: str | Path | None = None,
) -> Figure:
    """Signal and background distributions of the first principal components.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_components)
    y : array-like of shape (n_samples,)
    sample_weight : array-like of shape (n_samples,), optional
    n_components : int, default 4
        Panels drawn (at most the columns of ``Z``).
    prefix : str, default "PC"
        Axis label prefix.
    bins : int, default 40
    path : path, optional
    """
    Z = np.asarray(Z, dtype=np.float64)
    y = np.asarray(y)
    w = _weights(sample_weight, len(y))
    k = min(int(n_components), Z.shape[1])
    ncols = min(k, 2)
    nrows = int(np.ceil(k / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.5 * ncols, 3.5 * nrows), layout="constrained", squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= k:
            ax.set_visible(False)
            continue
        _style_axes(ax)
        _hist_sb(ax, Z[:, i], y, w, bins, f"{prefix}{i + 1}", legend=i == 0)
    return save(fig, path)


def plot_projection_sb(
    t: ArrayLike,
    y: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    xlabel: str = "Fisher discriminant",
    bins: int = 50,
    path: str | Path | None = None,
) -> Figure:
    """Signal and background distributions of a one-dimensional projection (e.g. Fisher's).

    Parameters
    ----------
    t : array-like of shape (n_samples,)
    y : array-like of shape (n_samples,)
    sample_weight : array-like of shape (n_samples,), optional
    xlabel : str
    bins : int, default 50
    path : path, optional
    """
    y = np.asarray(y)
    fig, ax = new_figure()
    _hist_sb(ax, np.asarray(t, dtype=np.float64), y, _weights(sample_weight, len(y)), bins, xlabel)
    lumi_label(ax, None)
    return save(fig, path)


def plot_anomaly_scores(
    score: ArrayLike,
    y: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    method: str = "",
    auc: float | None = None,
    bins: int = 50,
    path: str | Path | None = None,
) -> Figure:
    """Anomaly-score distributions of background (trained on) and signal (the anomaly).

    Parameters
    ----------
    score : array-like of shape (n_samples,)
        Higher = more anomalous; non-finite values are not drawn.
    y : array-like of shape (n_samples,)
    sample_weight : array-like of shape (n_samples,), optional
    method : str
        Detector name, for the axis label.
    auc : float, optional
        Shown in the title.
    bins : int, default 50
    path : path, optional
    """
    y = np.asarray(y)
    fig, ax = new_figure()
    label = f"{method} anomaly score" if method else "anomaly score"
    _hist_sb(ax, np.asarray(score, dtype=np.float64), y, _weights(sample_weight, len(y)), bins, label)
    ax.set_yscale("log")
    if auc is not None:
        ax.set_title(f"AUC (signal as anomaly) {auc:.3f}", loc="right", fontsize="medium")
    return save(fig, path)


def plot_anomaly_roc(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike, float]],
    *,
    path: str | Path | None = None,
) -> Figure:
    """ROC curves of anomaly detectors, signal as the anomaly, with the random-guess line.

    Parameters
    ----------
    curves : mapping name -> (eff_s, eff_b, auc)
        One weighted ROC per detector (or supervised classifier, for comparison).
    path : path, optional
    """
    fig, ax = new_figure()
    grid = np.linspace(1e-3, 1, 200)
    ax.plot(grid, 1.0 / grid, ":", color="0.5", label="random (AUC 0.5)")
    for i, (name, (eff_s, eff_b, auc)) in enumerate(curves.items()):
        eff_s, eff_b = np.asarray(eff_s), np.asarray(eff_b)
        ok = eff_b > 0
        ax.plot(eff_s[ok], 1.0 / eff_b[ok], **curve_style(i), lw=1.5, label=f"{name} (AUC {auc:.3f})")
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel("Signal efficiency (anomalies found)")
    ax.set_ylabel("Background rejection 1 / $\\epsilon_B$")
    ax.legend(fontsize="small", frameon=False)
    lumi_label(ax, None)
    return save(fig, path)
