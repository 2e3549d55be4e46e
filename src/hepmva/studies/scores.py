"""A classifier's scores judged (array and table in, numbers out): the evaluation layer's metrics bundle.

- :func:`evaluate_scores`      AUC with bootstrap uncertainty, signal efficiency at fixed background efficiencies
                               (exact, or from fine-binned score histograms: ``method``, :mod:`hepmva.binned_metrics`)
- :func:`evaluate_train_test`  TMVA-grade train-vs-test numbers: separation, significance, KS/AD overtraining
                               tests per fold model, Asimov cut scan (and their plots when paths are given)
- :func:`evaluate_histograms`  every number of the two above from per-fold, per-role score histograms
                               (:class:`hepmva.binned_metrics.ScoreHistograms`, summed over file parts)

All numbers use the physics event weights (negative ones included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hepmva import binned_metrics, metrics
from hepmva.config import schema_default

__all__ = ["evaluate_scores", "evaluate_train_test", "evaluate_histograms"]


def evaluate_scores(y: np.ndarray, score: np.ndarray, weight: np.ndarray, *, eff_b: Sequence[float] = (0.01, 0.1, 0.3),
                    n_bootstrap: int = 200, seed: int = 0, method: str = "exact",
                    exact_max_events: int = schema_default("evaluation.exact_max_events"),
                    score_bins: int = schema_default("evaluation.score_bins")) -> dict:
    """AUC with bootstrap uncertainty and signal efficiencies at the given background efficiencies.

    ``method`` (``evaluation.method``): ``exact`` sorts the scores (:mod:`hepmva.metrics`), ``binned``
    uses a fine-binned score histogram (:mod:`hepmva.binned_metrics`; adds ``separation``,
    ``auc_binning_bound`` and ``score_binning``), ``auto`` is exact up to ``exact_max_events`` events.
    The method used is the result's ``evaluation_method``.
    """
    method = binned_metrics.choose_method(method, len(y), exact_max_events)
    if method == "binned":
        h = binned_metrics.score_histogram(y, score, weight, binning=binned_metrics.choose_binning(
            np.min(score), np.max(score), bins=score_bins))
        out = binned_metrics.evaluate_histogram(h, eff_b=eff_b, n_bootstrap=n_bootstrap, seed=seed)
    else:
        auc, auc_err = metrics.auc_bootstrap(y, score, weight, n_bootstrap=n_bootstrap, random_state=seed)
        effs = metrics.signal_efficiency_at(y, score, weight, eff_b=tuple(eff_b))
        out = {"auc": auc, "auc_err": auc_err, "eff_s_at_eff_b": {f"{k:g}": v for k, v in effs.items()}}
    return {
        **out,
        "evaluation_method": method,
        "n_events": int(len(y)),
        "n_signal": int(np.sum(y == 1)),
        "n_background": int(np.sum(y == 0)),
    }


def evaluate_train_test(scores: pd.DataFrame, *, name: str, eff_b: Sequence[float], luminosity_pb: float | None = None,
                        overtraining_plot_path: str | Path | None = None,
                        cut_scan_plot_path: str | Path | None = None, min_b_events: int = 10,
                        rel_unc_b: float = 0.0) -> dict:
    """TMVA-grade evaluation of one classifier's collected scores (train and test rows).

    - signal efficiency at the given background efficiencies and AUC on the **train** rows (every
      model's score of its own training events), to compare with the test numbers;
    - separation <S^2> and discrimination significance on the test (out-of-fold) rows;
    - overtraining: for every fold model, weighted KS and AD tests of its train against its test
      score distribution, separately for signal and background; the summary keeps the smallest
      p-value over the fold models; the plot shows fold model 0;
    - cut scan on the out-of-fold score with the luminosity-normalised event weights: the cut
      maximising the Asimov significance (among cuts keeping >= ``min_b_events`` background MC
      events), without and with the relative background uncertainty ``rel_unc_b``.

    Parameters
    ----------
    scores : DataFrame
        Columns label, weight, fold, role ("train"/"test"), score (the fold models' score tables, :func:`hepmva.score_parts.read_scores`).

    Returns
    -------
    dict (JSON-able)
    """
    from hepmva.plotting.evaluation import plot_overtraining

    test, train = scores[scores["role"] == "test"], scores[scores["role"] == "train"]
    y, s, w = test["label"].to_numpy(), test["score"].to_numpy(), test["weight"].to_numpy()
    out: dict = {
        "separation": metrics.separation(y, s, w),
        "significance": metrics.discrimination_significance(y, s, w),
    }
    if len(train) and len(np.unique(train["label"])) == 2:
        y_tr, s_tr, w_tr = train["label"].to_numpy(), train["score"].to_numpy(), train["weight"].to_numpy()
        out["auc_train"] = metrics.roc_auc(y_tr, s_tr, w_tr)
        effs = metrics.signal_efficiency_at(y_tr, s_tr, w_tr, eff_b=tuple(eff_b))
        out["eff_s_at_eff_b_train"] = {f"{k:g}": v for k, v in effs.items()}
        per_fold: dict = {}
        plotted = False
        for fold in sorted(np.unique(scores["fold"])):
            tr, te = train[train["fold"] == fold], test[test["fold"] == fold]
            if len(np.unique(tr["label"])) < 2 or len(np.unique(te["label"])) < 2:
                continue
            tests = metrics.overtraining_tests(tr["label"].to_numpy(), tr["score"].to_numpy(), te["label"].to_numpy(),
                                               te["score"].to_numpy(), tr["weight"].to_numpy(), te["weight"].to_numpy())
            per_fold[f"fold{int(fold)}"] = {k: v._asdict() for k, v in tests.items()}
            if overtraining_plot_path is not None and not plotted:
                plotted = True
                plot_overtraining(tr["score"].to_numpy(), tr["label"].to_numpy(), tr["weight"].to_numpy(),
                                  te["score"].to_numpy(), te["label"].to_numpy(), te["weight"].to_numpy(),
                                  tests=tests, xlabel=f"{name} score (fold model {int(fold)})",
                                  luminosity_pb=luminosity_pb, path=overtraining_plot_path)
        out.update(_overtraining_summary(per_fold))
    else:
        plotted = False
    if overtraining_plot_path is not None and not plotted:  # no usable training scores: test only
        plot_overtraining(s, y, w, s, y, w, xlabel=f"{name} score (no training scores)",
                          luminosity_pb=luminosity_pb, path=overtraining_plot_path)
    scan = metrics.cut_scan(y, s, w, min_b_events=min_b_events, rel_unc_b=rel_unc_b)
    out.update(_cut_scan_summary(scan, name=name, rel_unc_b=rel_unc_b, luminosity_pb=luminosity_pb,
                                 path=cut_scan_plot_path))
    return out


def _overtraining_summary(per_fold: dict) -> dict:
    """``overtraining`` (per fold model) and ``overtraining_min_p`` (the smallest p-value of each test and class)."""
    return {"overtraining": per_fold, "overtraining_min_p": {
        f"{test_name}_p_{cls}": min(f[f"{test_name}_{cls}"]["pvalue"] for f in per_fold.values())
        for test_name in ("ks", "ad") for cls in ("signal", "background")
    } if per_fold else {}}


def _cut_scan_summary(scan: metrics.CutScan, *, name: str, rel_unc_b: float, luminosity_pb, path) -> dict:
    """The scan's optima as JSON, and its plot when ``path`` is given."""
    if path is not None:
        from hepmva.plotting.evaluation import plot_cut_scan

        plot_cut_scan(scan.thresholds, scan.s, scan.b, scan.s_over_sqrt_s_plus_b, scan.z_asimov,
                      best_threshold=scan.best.threshold, xlabel=f"Cut on the {name} score",
                      z_asimov_sys=scan.z_asimov_sys if rel_unc_b else None, rel_unc_b=rel_unc_b,
                      best_threshold_sys=scan.best_sys.threshold if rel_unc_b else None,
                      luminosity_pb=luminosity_pb, path=path)
    return {"cut_scan_best": scan.best._asdict(),
            "cut_scan_best_sys": {**scan.best_sys._asdict(), "rel_unc_b": float(rel_unc_b)}}


def evaluate_histograms(test: Mapping[int, binned_metrics.ScoreHistograms],
                        train: Mapping[int, binned_metrics.ScoreHistograms], *, name: str, eff_b: Sequence[float],
                        n_bootstrap: int = 200, seed: int = 0, luminosity_pb: float | None = None,
                        plot_events: pd.DataFrame | None = None, overtraining_plot_path: str | Path | None = None,
                        cut_scan_plot_path: str | Path | None = None, min_b_events: int = 10,
                        rel_unc_b: float = 0.0) -> dict:
    """The numbers of :func:`evaluate_scores` and :func:`evaluate_train_test` from score histograms.

    Parameters
    ----------
    test, train : mapping fold -> ScoreHistograms
        Each fold model's held-out and training events, every file part's histograms summed; one
        binning for all (the test numbers use the sum over the folds).
    plot_events : DataFrame, optional
        A random subsample of the rows (columns role, fold, label, weight, score; weights divided by
        the sampling probability) for the overtraining plot, which draws events.

    Returns
    -------
    dict (JSON-able), the keys of the exact path plus ``auc_binning_bound`` and ``score_binning``.
    """
    from hepmva.plotting.evaluation import plot_overtraining

    H = sum(test.values())
    y_counts = (H.n_events(1), H.n_events(0))
    out = binned_metrics.evaluate_histogram(H.weighted, eff_b=eff_b, n_bootstrap=n_bootstrap, seed=seed)
    out["separation"] = binned_metrics.separation(H.weighted, score_range=(H.score_min, H.score_max))
    out.update({"evaluation_method": "binned", "n_events": int(sum(y_counts)), "n_signal": y_counts[0],
                "n_background": y_counts[1], "significance": binned_metrics.significance(H)})
    per_fold, plotted = {}, False
    if train:
        H_train = sum(train.values())
        if H_train.n_events(0) and H_train.n_events(1):
            out["auc_train"] = binned_metrics.roc_auc(H_train.weighted)
            effs = binned_metrics.signal_efficiency_at(H_train.weighted, eff_b=tuple(eff_b))
            out["eff_s_at_eff_b_train"] = {f"{k:g}": v for k, v in effs.items()}
        for fold in sorted(set(train) & set(test)):
            tr, te = train[fold], test[fold]
            if min(tr.n_events(0), tr.n_events(1), te.n_events(0), te.n_events(1)) < 2:
                continue
            tests = binned_metrics.overtraining_tests(tr, te)
            per_fold[f"fold{int(fold)}"] = {k: v._asdict() for k, v in tests.items()}
            if overtraining_plot_path is not None and not plotted and plot_events is not None:
                plotted = True
                ev = plot_events[plot_events["fold"] == fold]
                tr_ev, te_ev = ev[ev["role"] == "train"], ev[ev["role"] == "test"]
                plot_overtraining(tr_ev["score"].to_numpy(), tr_ev["label"].to_numpy(), tr_ev["weight"].to_numpy(),
                                  te_ev["score"].to_numpy(), te_ev["label"].to_numpy(), te_ev["weight"].to_numpy(),
                                  tests=tests, xlabel=f"{name} score (fold model {int(fold)})",
                                  luminosity_pb=luminosity_pb, path=overtraining_plot_path)
        out.update(_overtraining_summary(per_fold))
    if overtraining_plot_path is not None and not plotted and plot_events is not None:
        te_ev = plot_events[plot_events["role"] == "test"]
        s, y, w = te_ev["score"].to_numpy(), te_ev["label"].to_numpy(), te_ev["weight"].to_numpy()
        plot_overtraining(s, y, w, s, y, w, xlabel=f"{name} score (no training scores)",
                          luminosity_pb=luminosity_pb, path=overtraining_plot_path)
    scan = binned_metrics.cut_scan(H, min_b_events=min_b_events, rel_unc_b=rel_unc_b)
    out.update(_cut_scan_summary(scan, name=name, rel_unc_b=rel_unc_b, luminosity_pb=luminosity_pb,
                                 path=cut_scan_plot_path))
    return out
