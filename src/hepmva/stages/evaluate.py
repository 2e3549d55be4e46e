"""The evaluate stage (``workflow/rules/evaluate.smk``): out-of-fold scores in, metrics, plots and the summary out.

- :func:`evaluate_classifier`           one classifier's metrics JSON, ROC, score, overtraining, cut-scan and
                                        learning-curve plots (rule ``evaluate``)
- :func:`neyman_pearson_limit`          the exact likelihood ratio's metrics (rule ``neyman_pearson``)
- :func:`permutation_importance_study`  variable ranking by permutation (rule ``importance``)
- :func:`summarize`                     the comparison table, markdown + CSV (rule ``summary``)
- :func:`plot_roc_comparison`           every ROC curve with the limit (rule ``roc_comparison``)

All numbers use the physics event weights (negative ones included) of the held-out events:
every event is scored by the fold model that did not train on it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hepmva import io, metrics
from hepmva.checks import subsample_index
from hepmva.config import schema_default
from hepmva.datasets import feature_columns, load_feature_tables
from hepmva.learning_curves import LearningCurve
from hepmva.models import classifier_score, load_estimator
from hepmva.persistence import read_model_info
from hepmva.plotting.evaluation import plot_importance, plot_learning_curve
from hepmva.plotting.inputs import plot_distribution
from hepmva.plotting.roc import plot_roc
from hepmva.plotting.style import PlotLabel
from hepmva.preprocessing import Scaler
from hepmva.studies.scores import evaluate_scores, evaluate_train_test

__all__ = ["evaluate_classifier", "neyman_pearson_limit", "summarize", "plot_roc_comparison",
           "permutation_importance_study"]

log = logging.getLogger(__name__)

def evaluate_classifier(scores_path: str | Path, model_infos: Sequence[str | Path], *, name: str,
                        eff_b: Sequence[float], n_bootstrap: int, seed: int, luminosity_pb: float,
                        metrics_path: str | Path, roc_path: str | Path, score_plot_path: str | Path,
                        overtraining_plot_path: str | Path | None = None,
                        cut_scan_plot_path: str | Path | None = None,
                        learning_curve_plot_path: str | Path | None = None,
                        evaluation: dict | None = None, plotting: dict | None = None) -> dict:
    """Metrics JSON, ROC and score-distribution plots of one classifier from its collected scores.

    Also the TMVA-grade numbers of :func:`evaluate_train_test` (train vs test efficiencies,
    separation, significance, KS/AD overtraining tests, cut scan) and, when the paths are given,
    the overtraining and cut-scan plots, and the learning curves stored by the fold models
    (``learning_curve`` of their model.json; a figure saying so when the model has none).
    ``evaluation`` and ``plotting`` are the config blocks (``min_b_events``,
    ``background_uncertainty``, ``roc_bootstrap``, ``method`` / ``exact_max_events`` / ``score_bins``:
    AUC, its uncertainty, the efficiencies and the separation exact or from fine-binned histograms;
    the plot label and binning).
    """
    ev, label = evaluation or {}, PlotLabel.from_config(luminosity_pb, plotting)

    df = io.read_table(scores_path)
    test = df[df["role"] == "test"]
    y, s, w = test["label"].to_numpy(), test["score"].to_numpy(), test["weight"].to_numpy()
    result = {"classifier": name, **evaluate_scores(y, s, w, eff_b=eff_b, n_bootstrap=n_bootstrap, seed=seed,
                                                    **_method(ev))}
    binned_separation = result.pop("separation", None)  # the binned path's separation wins over the exact one below
    infos = [read_model_info(p) for p in model_infos]
    result["kind"] = infos[0]["kind"]
    result["train_seconds"] = float(sum(i["train_seconds"] for i in infos))
    result["predict_seconds_per_1M"] = 1e6 * float(np.mean([i["predict_seconds_per_event"] for i in infos]))
    result["model_bytes"] = int(np.mean([i.get("model_bytes", 0) for i in infos]))
    result["n_train"] = int(np.mean([i.get("n_train", 0) for i in infos]))  # events per fold model's training
    notes = list(dict.fromkeys(i["fit_note"] for i in infos if i.get("fit_note")))  # e.g. capped SVM / k-NN
    if notes:
        result["fit_note"] = "; ".join(notes)
    result.update(evaluate_train_test(df, name=name, eff_b=eff_b, luminosity_pb=label,
                                      overtraining_plot_path=overtraining_plot_path,
                                      cut_scan_plot_path=cut_scan_plot_path,
                                      min_b_events=ev.get("min_b_events", 10),
                                      rel_unc_b=ev.get("background_uncertainty", 0.0)))
    if learning_curve_plot_path is not None:
        _plot_learning_curves(infos, name=name, path=learning_curve_plot_path)
    if binned_separation is not None:
        result["separation"] = binned_separation
    curve, limit = _rejection_curves(test, name, ev, seed)
    plot_roc({name: curve}, limit=limit, min_b_events=ev.get("min_b_events", 10), luminosity_pb=label,
             path=roc_path)
    plot_distribution(s, y, w, xlabel=f"{name} score", integer=False, luminosity_pb=label, path=score_plot_path)
    io.write_json(result, metrics_path)
    log.info("%s: AUC %.4f +- %.4f", name, result["auc"], result["auc_err"])
    return result


def _plot_learning_curves(infos: Sequence[dict], *, name: str, path: str | Path) -> None:

    curves = {int(i["fold"]): LearningCurve.from_dict(i["learning_curve"]) for i in infos if i.get("learning_curve")}
    plot_learning_curve(curves, name=name, kind=infos[0]["kind"], path=path)


def _rejection_curves(test: pd.DataFrame, name: str, evaluation: dict, seed: int, *, with_limit: bool = True):
    """The classifier's rejection curve (with its bootstrap band) on the held-out rows, and the
    Neyman-Pearson limit's (None without the truth column or ``with_limit``), both cut at ``min_b_events``."""
    y, w = test["label"].to_numpy(), test["weight"].to_numpy()
    min_b = int(evaluation.get("min_b_events", 10))
    curve = metrics.rejection_curve(y, test["score"].to_numpy(), w, min_b_events=min_b,
                                    n_bootstrap=int(evaluation.get("roc_bootstrap", 0)), random_state=seed,
                                    label=name)
    limit = None
    if with_limit and "truth_llr" in test:
        limit = metrics.rejection_curve(y, test["truth_llr"].to_numpy(), w, min_b_events=min_b)
    return curve, limit


def _method(evaluation: dict) -> dict:
    """The ``evaluation.method`` switch (auto / exact / binned) and its knobs, schema defaults where not given."""
    return {key: evaluation.get(key, schema_default(f"evaluation.{key}"))
            for key in ("method", "exact_max_events", "score_bins")}


def neyman_pearson_limit(feature_tables: Sequence[str | Path], *, eff_b: Sequence[float], n_bootstrap: int,
                         seed: int, output: str | Path, evaluation: dict | None = None) -> dict | None:
    """Metrics of the exact likelihood ratio (``truth_llr`` column), or ``{"available": false}``.

    ``evaluation`` is the config block (``method``, ``exact_max_events``, ``score_bins``)."""
    if "truth_llr" not in feature_columns(feature_tables):
        result = {"available": False}
    else:
        df = load_feature_tables(feature_tables, columns=["truth_llr"])
        result = {"available": True, "classifier": "Neyman-Pearson limit", **evaluate_scores(
            df["label"].to_numpy(), df["truth_llr"].to_numpy(), df["weight"].to_numpy(),
            eff_b=eff_b, n_bootstrap=n_bootstrap, seed=seed, **_method(evaluation or {}))}
    io.write_json(result, output)
    return result


#: columns that measure this run's machine, not the science: in ``timings.csv``, never in ``summary.csv``
TIMING_COLUMNS = ("train_seconds", "predict_seconds_per_1M", "model_bytes")


def summarize(metrics_paths: Sequence[str | Path], limit_path: str | Path, *, md_path: str | Path,
              csv_path: str | Path, importance_paths: Sequence[str | Path] = (),
              timings_path: str | Path | None = None) -> pd.DataFrame:
    """One row per classifier (sorted by AUC) plus the NP-limit row: markdown and CSV.

    ``importance_paths`` (JSON of :func:`permutation_importance_study`) add each classifier's
    three most important features. ``summary.csv`` holds only reproducible numbers (two runs of the same
    config compare equal); the costs (:data:`TIMING_COLUMNS`) go to ``timings_path`` and to the markdown.
    """
    top = {}
    for p in importance_paths:
        imp = json.loads(Path(p).read_text())
        ranked = sorted(zip(imp["features"], imp["importances_mean"]), key=lambda t: -t[1])
        top[imp["classifier"]] = ", ".join(f for f, _ in ranked[:3])
    rows = []
    for p in metrics_paths:
        m = json.loads(Path(p).read_text())
        if m["classifier"] in top:
            m["top_features"] = top[m["classifier"]]
        rows.append(_row(m))
    limit = json.loads(Path(limit_path).read_text())
    table = pd.DataFrame(rows).sort_values("auc", ascending=False)
    if limit.get("available"):
        table = pd.concat([pd.DataFrame([_row(limit)]), table], ignore_index=True)
    with io.atomic_path(csv_path) as tmp:
        table.drop(columns=list(TIMING_COLUMNS)).to_csv(tmp, index=False, float_format="%.6g")
    if timings_path is not None:
        with io.atomic_path(timings_path) as tmp:
            table[table["kind"] != "truth"][["classifier", "kind", *TIMING_COLUMNS]].to_csv(
                tmp, index=False, float_format="%.6g")
    with io.atomic_path(md_path) as tmp:
        tmp.write_text(_markdown(table))
    return table


def _row(m: dict) -> dict:
    row = {"classifier": m["classifier"], "kind": m.get("kind", "truth"), "auc": m["auc"], "auc_err": m["auc_err"]}
    for k, v in m["eff_s_at_eff_b"].items():
        row[f"eff_s@eff_b={k}"] = v
    for k, v in m.get("eff_s_at_eff_b_train", {}).items():
        row[f"eff_s@eff_b={k} (train)"] = v
    row["separation"] = m.get("separation", np.nan)
    row["significance"] = m.get("significance", np.nan)
    for k in ("ks_p_signal", "ks_p_background", "ad_p_signal", "ad_p_background"):
        row[k] = m.get("overtraining_min_p", {}).get(k, np.nan)
    best = m.get("cut_scan_best", {})
    row["best_cut"], row["S_best"] = best.get("threshold", np.nan), best.get("s", np.nan)
    row["B_best"], row["Z_asimov_best"] = best.get("b", np.nan), best.get("z_asimov", np.nan)
    sys_ = m.get("cut_scan_best_sys", {})
    if sys_.get("rel_unc_b"):  # the optimum with the background uncertainty, beside the sigma_b = 0 one
        row["Z_asimov_sys@best_cut"] = best.get("z_asimov_sys", np.nan)
        row["best_cut_sys"], row["S_best_sys"] = sys_.get("threshold", np.nan), sys_.get("s", np.nan)
        row["B_best_sys"], row["Z_asimov_sys_best"] = sys_.get("b", np.nan), sys_.get("z_asimov_sys", np.nan)
        row["sigma_b_rel"] = sys_["rel_unc_b"]
    row["top_features"] = m.get("top_features", "")
    for k in ("n_train", *TIMING_COLUMNS):
        row[k] = m.get(k, np.nan)
    row["training"] = m.get("fit_note", "")  # how the model was trained, when its kind says
    return row




#: sections of the markdown summary: (title, column-name prefixes); the CSV keeps every column
_SECTIONS = (
    ("Performance on held-out events", ("auc", "eff_s@", "separation", "significance")),
    ("Overtraining: train efficiencies and train-vs-test KS / AD p-values (smallest over fold models)",
     ("eff_s@", "ks_p", "ad_p")),
    ("Optimal cut on the score (Asimov significance, luminosity-normalised yields; _sys: with the relative "
     "background uncertainty sigma_b_rel, optimised again)",
     ("best_cut", "S_best", "B_best", "Z_asimov", "sigma_b_rel")),
    ("Variable ranking and cost", ("top_features", "n_train", "training", "train_seconds", "predict_seconds",
                                   "model_bytes")),
)


def _markdown(table: pd.DataFrame) -> str:
    """The summary as markdown: one narrow table per section, rows in the table's order (by AUC)."""
    out = ["# Classifier comparison (out-of-fold, event-weighted)", ""]
    train_cols = [c for c in table.columns if c.endswith("(train)")]
    for title, prefixes in _SECTIONS:
        if title.startswith("Overtraining"):
            cols = train_cols + [c for c in table.columns if c.startswith(("ks_p", "ad_p"))]
        else:
            cols = [c for c in table.columns if c.startswith(prefixes) and c not in train_cols]
        if not cols:
            continue
        cols = ["classifier"] + cols
        out += [f"## {title}", "", "| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
        for _, r in table.iterrows():
            out.append("| " + " | ".join(_cell(r[c], c) for c in cols) + " |")
        out.append("")
    return "\n".join(out)


def _cell(v, column: str = "") -> str:
    if column.startswith(("ks_p", "ad_p")) and isinstance(v, float):
        return metrics.format_pvalue(v, test=column[:2])  # AD: ">= 0.25" / "<= 0.001", as on the plot
    if isinstance(v, float):
        if np.isnan(v):
            return ""
        if v.is_integer() and abs(v) >= 100:
            return f"{int(v)}"  # counts and sizes
        return f"{v:.4f}" if abs(v) < 100 else f"{v:.4g}"
    return "" if v is None else str(v)


def plot_roc_comparison(scores_paths: dict[str, str | Path], *, luminosity_pb: float, path: str | Path,
                        evaluation: dict | None = None, plotting: dict | None = None, seed: int = 0) -> None:
    """The classifiers' ROC curves together with the Neyman-Pearson limit: the best
    ``plotting.roc_max_curves`` by AUC, each cut at ``evaluation.min_b_events`` background MC
    events, with bootstrap bands (``evaluation.roc_bootstrap`` replicas) and the ratio to the limit."""

    ev, pl = evaluation or {}, plotting or {}
    curves, limit, tests = {}, None, {}
    for name, p in scores_paths.items():  # first without bands: the ranking by AUC
        test = io.read_table(p)
        tests[name] = test[test["role"] == "test"]
        curves[name], lim = _rejection_curves(tests[name], name, {**ev, "roc_bootstrap": 0}, seed,
                                              with_limit=limit is None)
        limit = limit if limit is not None else lim
    if ev.get("roc_bootstrap"):  # bands only for the curves drawn
        n_max = pl.get("roc_max_curves") or len(curves)
        for name in sorted(curves, key=lambda n: -curves[n].auc)[: int(n_max)]:
            curves[name] = _rejection_curves(tests[name], name, ev, seed, with_limit=False)[0]
    plot_roc(curves, limit=limit, max_curves=pl.get("roc_max_curves"), min_b_events=ev.get("min_b_events", 10),
             luminosity_pb=PlotLabel.from_config(luminosity_pb, pl), path=path)


def permutation_importance_study(feature_tables: Sequence[str | Path], model_dirs: Sequence[str | Path], *,
                                 feature_names: Sequence[str], name: str,
                                 n_events: int | None = schema_default("evaluation.importance_events"),
                                 n_repeats: int = schema_default("evaluation.importance_repeats"),
                                 seed: int = 0, json_path: str | Path, plot_path: str | Path | None = None,
                                 feature_labels: Sequence[str] | None = None) -> dict:
    """Permutation importance (weighted AUC drop) of one classifier on out-of-fold scores.

    A random subsample of ``n_events`` events is scored, each event by the fold model that did not
    train on it (scaler from its ``model.json``); every feature is shuffled ``n_repeats`` times and
    the drop of the event-weighted AUC recorded (:func:`hepmva.metrics.permutation_importance`).
    The model's own importance (``feature_importances_``, averaged over folds) is stored too when it
    has one.

    Returns
    -------
    dict : classifier, features, importances_mean/std, baseline_auc, own_importance (or None), n_events.
    """
    df = load_feature_tables(feature_tables, feature_names, columns=())
    rng = np.random.default_rng([seed, 5])
    idx = subsample_index(len(df), n_events, rng)
    X = df[list(feature_names)].to_numpy(dtype=np.float64)[idx]
    y, w, fold = df["label"].to_numpy()[idx], df["weight"].to_numpy()[idx], df["fold"].to_numpy()[idx]
    models, own = {}, []
    for d in model_dirs:
        info = read_model_info(Path(d) / "model.json")
        est = load_estimator(d)
        models[int(info["fold"])] = (est, Scaler.from_dict(info["scaler"]))
        fi = getattr(est, "feature_importances_", None)
        if fi is not None and len(fi) == len(feature_names):
            own.append(np.asarray(fi, dtype=np.float64))

    def score_fn(Z: np.ndarray) -> np.ndarray:
        out = np.empty(len(Z))
        for k, (est, scaler) in models.items():
            m = fold == k
            if m.any():
                out[m] = classifier_score(est, scaler.transform(Z[m]))
        return out

    res = metrics.permutation_importance(score_fn, X, y, w, n_repeats=n_repeats, feature_names=list(feature_names),
                                         random_state=rng)
    own_mean = np.mean(own, axis=0) if own else None
    result = {
        "classifier": name, "features": list(feature_names), "n_events": int(len(idx)), "n_repeats": int(n_repeats),
        "baseline_auc": res.baseline_auc, "importances_mean": res.importances_mean,
        "importances_std": res.importances_std, "own_importance": own_mean,
    }
    if plot_path is not None:
        plot_importance(list(feature_labels or feature_names), res.importances_mean, res.importances_std,
                        own_importance=own_mean, title=f"{name}: variable ranking", path=plot_path)
    io.write_json(result, json_path)
    log.info("%s: permutation importance on %d events, top feature %s", name, len(idx),
             feature_names[int(np.argmax(res.importances_mean))])
    return result
