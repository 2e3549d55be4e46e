"""Plots of the classifier evaluation: overtraining check, cut scan, variable ranking, learning curves."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import mplhep
import numpy as np
from matplotlib.figure import Figure

from hepmva.histograms import common_axis, unit_area, weighted_hist
from hepmva.metrics import format_pvalue
from hepmva.plotting.inputs import distribution_ylabel
from hepmva.plotting.style import (BACKGROUND, CLASSIFIER_COLOURS, MARGINS, SIGNAL, Margins, fixed_layout, lumi_label, new_figure,
                                   save, text_width_inches)

__all__ = ["plot_overtraining", "plot_cut_scan", "plot_importance", "plot_learning_curve"]


def plot_overtraining(
    score_train: np.ndarray,
    y_train: np.ndarray,
    w_train: np.ndarray,
    score_test: np.ndarray,
    y_test: np.ndarray,
    w_test: np.ndarray,
    *,
    tests: Mapping[str, tuple] | None = None,
    xlabel: str = "Classifier score",
    bins: int = 40,
    luminosity_pb: float | None = None,
    path: str | Path | None = None,
) -> Figure:
    """TMVA-style overtraining check: test score shapes (filled) with train shapes (points) on top.

    Parameters
    ----------
    score_train, y_train, w_train : ndarray of shape (n_train,)
        Scores, labels (1 = signal) and event weights of the training events.
    score_test, y_test, w_test : ndarray of shape (n_test,)
        The same for the held-out events.
    tests : mapping, optional
        ``{"ks_signal": result, "ks_background": ..., "ad_signal": ..., "ad_background": ...}``
        with a ``pvalue`` attribute or key (e.g. :class:`hepmva.metrics.TwoSampleTest`); the
        p-values are written in the legend.
    xlabel : str
    bins : int, default 40
        Equal-width bins over the range of all scores (0.1-99.9 % quantiles); the events outside
        are in the flow bins (marked by triangles at the axis ends), not folded into the edge bins.
    luminosity_pb : float, optional
    path : path, optional

    Returns
    -------
    Figure
    """
    axis = common_axis((score_train, score_test), bins=bins, integer=False, quantiles=(0.001, 0.999), label=xlabel)
    fig, ax = new_figure()

    def pv(key: str) -> str:
        if not tests or key not in tests:
            return ""
        r = tests[key]
        p = r["pvalue"] if isinstance(r, Mapping) else r.pvalue
        text = format_pvalue(p, test=key.split("_")[0])
        return text.replace(">= ", "$\\geq$").replace("<= ", "$\\leq$") if text[0] in "<>" else f"={text}"

    for cls, colour, name in ((1, SIGNAL, "S"), (0, BACKGROUND, "B")):
        m_te, m_tr = np.asarray(y_test) == cls, np.asarray(y_train) == cls
        h_te = unit_area(weighted_hist(axis, score_test[m_te], w_test[m_te]))
        h_tr = unit_area(weighted_hist(axis, score_train[m_tr], w_train[m_tr]))
        mplhep.histplot(h_te, ax=ax, histtype="fill", color=colour, alpha=0.3, label=f"{name} (test)", flow="hint")
        mplhep.histplot(h_te, ax=ax, histtype="step", color=colour, lw=1.2, flow=None)
        long = "signal" if cls == 1 else "background"
        extra = f": KS p{pv('ks_' + long)}, AD p{pv('ad_' + long)}" if tests else ""
        mplhep.histplot(h_tr, ax=ax, histtype="errorbar", yerr=True, color=colour, markersize=3, lw=0.8,
                        label=f"{name} (train){extra}", flow=None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(distribution_ylabel(xlabel, integer=False, normalise=True))
    ax.set_ylim(0, ax.get_ylim()[1] * 1.35)
    ax.legend(fontsize="small", frameon=False, loc="upper center", ncols=1)
    lumi_label(ax, luminosity_pb)
    return save(fig, path)


def plot_cut_scan(
    thresholds: np.ndarray,
    s: np.ndarray,
    b: np.ndarray,
    s_over_sqrt_s_plus_b: np.ndarray,
    z_asimov: np.ndarray,
    *,
    best_threshold: float | None = None,
    xlabel: str = "Cut on the classifier score",
    z_asimov_sys: np.ndarray | None = None,
    rel_unc_b: float = 0.0,
    best_threshold_sys: float | None = None,
    max_points: int = 400,
    luminosity_pb: float | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Expected yields and significances as a function of a lower cut on the score.

    Top: S and B after the cut (log scale). Bottom: S/sqrt(S+B) and the Asimov significance,
    with the optimal cut marked.

    Parameters
    ----------
    thresholds, s, b, s_over_sqrt_s_plus_b, z_asimov : ndarray of shape (n_cuts,)
        As in :class:`hepmva.metrics.CutScan`.
    best_threshold : float, optional
        The optimal cut (vertical line).
    xlabel : str
    z_asimov_sys : ndarray of shape (n_cuts,), optional
        The Asimov significance with the relative background uncertainty ``rel_unc_b``.
    rel_unc_b : float
    best_threshold_sys : float, optional
        The optimal cut with that uncertainty.
    max_points : int, default 400
        The curves are thinned to at most this many points, evenly spread in cut value.
    luminosity_pb : float, optional
    path : path, optional

    Returns
    -------
    Figure
    """

    thr = np.asarray(thresholds, dtype=np.float64)
    finite = np.isfinite(thr)
    thr, s, b = thr[finite], np.asarray(s)[finite], np.asarray(b)[finite]
    sb, z = np.asarray(s_over_sqrt_s_plus_b)[finite], np.asarray(z_asimov)[finite]
    zs = np.asarray(z_asimov_sys)[finite] if z_asimov_sys is not None else None
    order = np.argsort(thr)
    if len(thr) > max_points:
        # evenly in cut value and evenly in rank (scores pile up near the edges, where the optimum sits),
        # plus the optima themselves
        grid = np.linspace(thr.min(), thr.max(), max_points // 2)
        by_value = order[np.clip(np.searchsorted(thr[order], grid), 0, len(thr) - 1)]
        by_rank = order[np.linspace(0, len(thr) - 1, max_points // 2).astype(int)]
        optima = [int(np.nanargmax(np.where(np.isfinite(v), v, -np.inf))) for v in (z, zs) if v is not None]
        pick = np.unique(np.concatenate([by_value, by_rank, optima]))
        pick = pick[np.argsort(thr[pick])]
    else:
        pick = order
    thr, s, b, sb, z = thr[pick], s[pick], b[pick], sb[pick], z[pick]
    zs = zs[pick] if zs is not None else None
    fig, (ax1, ax2) = new_figure(figsize=(6.0, 6.0), nrows=2)
    ax1.plot(thr, np.where(s > 0, s, np.nan), color=SIGNAL, label="Signal S")
    ax1.plot(thr, np.where(b > 0, b, np.nan), color=BACKGROUND, label="Background B")
    ax1.set_yscale("log")
    ax1.set_ylabel("Expected events after cut")
    ax1.legend(frameon=False, fontsize="small")
    ax2.plot(thr, sb, color="#832db6", label=r"$S/\sqrt{S+B}$")
    ax2.plot(thr, z, color="black", ls="--", label=r"Asimov $Z$, $\sigma_B = 0$")
    if zs is not None:
        ax2.plot(thr, zs, color="#e76300", ls="-.", label=f"Asimov $Z$, $\\sigma_B = {100 * rel_unc_b:g}\\,\\%$ of $B$")
    for cut, colour, what in ((best_threshold, "grey", "best cut, $\\sigma_B = 0$"),
                              (best_threshold_sys, "#e76300", "best cut with $\\sigma_B$")):
        if cut is not None and np.isfinite(cut):
            ax1.axvline(cut, color=colour, lw=0.8, ls=":")
            ax2.axvline(cut, color=colour, lw=0.8, ls=":", label=f"{what}: {cut:.4g}")
    if zs is not None:  # Z with sigma_B is often an order of magnitude below: a log scale shows both
        ax2.set_yscale("log")
        positive = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in (z, zs, sb)])
        if positive.size:
            ax2.set_ylim(max(positive.min(), 1e-3 * positive.max()) / 1.5, positive.max() * 3)
    ax2.set_ylabel("Significance")
    ax2.set_xlabel(xlabel)
    ax2.legend(frameon=False, fontsize="small")
    lumi_label(ax1, luminosity_pb)
    return save(fig, path)


def plot_importance(
    feature_names: Sequence[str],
    importances_mean: np.ndarray,
    importances_std: np.ndarray,
    *,
    own_importance: np.ndarray | None = None,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Variable ranking: permutation importance (weighted AUC drop), optionally beside the
    model's own importance (rescaled to the same maximum).

    Parameters
    ----------
    feature_names : sequence of str, length n_features
    importances_mean, importances_std : ndarray of shape (n_features,)
        AUC drop when the feature is shuffled, and its spread over repeats (and folds).
    own_importance : ndarray of shape (n_features,), optional
        The model's built-in importance (e.g. ``feature_importances_``).
    title : str, optional
    path : path, optional

    Returns
    -------
    Figure
    """
    names = list(feature_names)
    mean = np.asarray(importances_mean, dtype=np.float64)
    std = np.asarray(importances_std, dtype=np.float64)
    order = np.argsort(mean)
    pos = np.arange(len(names))
    fig, ax = new_figure(figsize=(6.0, 1.2 + 0.35 * max(len(names), 3)))
    # the feature names are the tick labels: the left margin is their width, the x label has two lines
    fixed_layout(fig, MARGINS._replace(left=text_width_inches(fig, names) + 0.2, bottom=0.8, top=0.35))
    height = 0.4 if own_importance is not None else 0.7
    ax.barh(pos + (height / 2 if own_importance is not None else 0), mean[order], height=height,
            xerr=std[order], color="#3f90da", label="Permutation: AUC drop")
    if own_importance is not None:
        own = np.asarray(own_importance, dtype=np.float64)
        scale = mean.max() / own.max() if own.max() > 0 and mean.max() > 0 else 1.0
        ax.barh(pos - height / 2, own[order] * scale, height=height, color="#ffa90e",
                label="Model's own importance (rescaled)")
    ax.set_yticks(pos, [names[i] for i in order])
    ax.minorticks_off()
    ax.set_xlabel("Weighted AUC decrease\nwhen the feature is shuffled")
    ax.axvline(0, color="black", lw=0.6)
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    if title:
        ax.set_title(title, loc="left", fontsize="medium")
    return save(fig, path)


def plot_learning_curve(
    curves_by_fold: Mapping[int, object],
    *,
    name: str = "classifier",
    kind: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Loss (and weighted AUC, when known) per training stage: training dashed, held-out solid, one
    colour per fold model.

    Parameters
    ----------
    curves_by_fold : mapping fold -> :class:`hepmva.learning_curves.LearningCurve`
        An empty mapping draws a figure that says the model has no learning curve.
    name : str
        Classifier name (title).
    kind : str, optional
        Classifier kind (named on the "no learning curve" figure).
    path : path, optional

    Returns
    -------
    Figure
    """
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    curves = {int(k): c for k, c in sorted(curves_by_fold.items())}
    if not curves:
        fig, ax = new_figure(figsize=(6.0, 2.5), margins=Margins(0.1, 0.1, 0.1, 0.1))  # only a text
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"No learning curve for {name} (kind '{kind}'):\nthe fold models stored none. Either the "
                "model has no training stages\n(boosting rounds, epochs), or computing the curve failed "
                "(see the training log).", ha="center", va="center", transform=ax.transAxes, fontsize="medium")
        return save(fig, path)
    first = next(iter(curves.values()))
    with_auc = any(c.train_auc is not None or c.test_auc is not None for c in curves.values())
    if with_auc:
        fig, (ax1, ax2) = new_figure(figsize=(6.0, 6.0), nrows=2)
        axes = (ax1, ax2)
    else:
        fig, ax1 = new_figure()
        ax2, axes = None, (ax1,)
    handles = []
    for i, (fold, c) in enumerate(curves.items()):
        colour = CLASSIFIER_COLOURS[i % len(CLASSIFIER_COLOURS)]
        ax1.plot(c.x, c.train_loss, color=colour, ls="--", lw=1.2)
        if c.test_loss is not None:
            ax1.plot(c.x, c.test_loss, color=colour, ls="-", lw=1.5)
        if ax2 is not None:
            if c.train_auc is not None:
                ax2.plot(c.x, c.train_auc, color=colour, ls="--", lw=1.2)
            if c.test_auc is not None:
                ax2.plot(c.x, c.test_auc, color=colour, ls="-", lw=1.5)
        handles.append(Line2D([], [], color=colour, label=f"fold model {fold}"))
    handles += [Line2D([], [], color="black", ls="--", label="training events"),
                Line2D([], [], color="black", ls="-", label=first.test_label)]
    if all(c.test_loss is None for c in curves.values()):
        handles.pop()
    ax1.set_ylabel(first.loss_label)
    ax1.legend(handles=handles, frameon=False, fontsize="small", ncols=2)
    ax1.set_title(f"{name}: learning curve", loc="left", fontsize="medium")
    if ax2 is not None:
        ax2.set_ylabel("Weighted AUC")
    axes[-1].set_xlabel("Number of boosting rounds" if first.x_label == "boosting rounds" else first.x_label.capitalize())
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    if first.note:
        note = textwrap.fill(first.note, 110)
        fig.supxlabel(note, fontsize="x-small", color="grey")
        fixed_layout(fig, MARGINS._replace(bottom=MARGINS.bottom + 0.05 + 0.13 * (note.count("\n") + 1)))
    return save(fig, path)
