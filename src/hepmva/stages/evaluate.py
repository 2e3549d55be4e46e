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
from hepmva.datasets import load_feature_tables
from hepmva.learning_curves import LearningCurve
from hepmva.models import classifier_score, load_estimator
from hepmva.persistence import read_model_info
from hepmva.plotting.evaluation import plot_importance, plot_learning_curve
from hepmva.plotting.inputs import plot_distribution
from hepmva.plotting.roc import plot_roc
from hepmva.preprocessing import Scaler
from hepmva.studies.scores import evaluate_scores, evaluate_scores_with_roc, evaluate_train_test

__all__ = ["evaluate_classifier", "neyman_pearson_limit", "summarize", "plot_roc_comparison",
           "permutation_importance_study"]

log = logging.getLogger(__name__)

def evaluate_classifier(scores_path: str | Path, model_infos: Sequence[str | Path], *, name: str,
                        eff_b: Sequence[float], n_bootstrap: int, seed: int, luminosity_pb: float,
                        metrics_path: str | Path, roc_path: str | Path, score_plot_path: str | Path,
                        overtraining_plot_path: str | Path | None = None,
                        cut_scan_plot_path: str | Path | None = None,
                        learning_curve_plot_path: str | Path | None = None,
                        method: str = schema_default("evaluation.method"),
                        exact_max_events: int = schema_default("evaluation.exact_max_events"),
                        score_bins: int = schema_default("evaluation.score_bins")) -> dict:
    """Metrics JSON, ROC and score-distribution plots of one classifier from its collected scores.

    Also the TMVA-grade numbers of :func:`evaluate_train_test` (train vs test efficiencies,
    separation, significance, KS/AD overtraining tests, cut scan) and, when the paths are given,
    the overtraining and cut-scan plots, and the learning curves stored by the fold models
    (``learning_curve`` of their model.json; a figure saying so when the model has none).
    """
    df = io.read_table(scores_path)
    test = df[df["role"] == "test"]
    y, s, w = test["label"].to_numpy(), test["score"].to_numpy(), test["weight"].to_numpy()
    scores, roc = evaluate_scores_with_roc(y, s, w, eff_b=eff_b, n_bootstrap=n_bootstrap, seed=seed, method=method,
                                           exact_max_events=exact_max_events, score_bins=score_bins)
    result = {"classifier": name, **scores}
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
    result.update(evaluate_train_test(df, name=name, eff_b=eff_b, luminosity_pb=luminosity_pb,
                                      overtraining_plot_path=overtraining_plot_path,
                                      cut_scan_plot_path=cut_scan_plot_path))
    if learning_curve_plot_path is not None:
        _plot_learning_curves(infos, name=name, path=learning_curve_plot_path)
    if binned_separation is not None:
        result["separation"] = binned_separation
    limit = _limit_curve(test)
    plot_roc({name: (roc.eff_s, roc.eff_b, result["auc"])}, limit=limit, luminosity_pb=luminosity_pb, path=roc_path)
    plot_distribution(s, y, w, xlabel=f"{name} score", luminosity_pb=luminosity_pb, path=score_plot_path)
    io.write_json(result, metrics_path)
    log.info("%s: AUC %.4f +- %.4f", name, result["auc"], result["auc_err"])
    return result


def _plot_learning_curves(infos: Sequence[dict], *, name: str, path: str | Path) -> None:

    curves = {int(i["fold"]): LearningCurve.from_dict(i["learning_curve"]) for i in infos if i.get("learning_curve")}
    plot_learning_curve(curves, name=name, kind=infos[0]["kind"], path=path)


def _limit_curve(test: pd.DataFrame):
    if "truth_llr" not in test:
        return None
    y, s, w = test["label"].to_numpy(), test["truth_llr"].to_numpy(), test["weight"].to_numpy()
    roc = metrics.roc_curve(y, s, w)
    return roc.eff_s, roc.eff_b, metrics.roc_auc(y, s, w)


def neyman_pearson_limit(feature_tables: Sequence[str | Path], *, eff_b: Sequence[float], n_bootstrap: int,
                         seed: int, output: str | Path, method: str = schema_default("evaluation.method"),
                         exact_max_events: int = schema_default("evaluation.exact_max_events"),
                         score_bins: int = schema_default("evaluation.score_bins")) -> dict | None:
    """Metrics of the exact likelihood ratio (``truth_llr`` column), or ``{"available": false}``."""
    df = io.read_tables(feature_tables)
    if "truth_llr" not in df:
        result = {"available": False}
    else:
        result = {"available": True, "classifier": "Neyman-Pearson limit", **evaluate_scores(
            df["label"].to_numpy(), df["truth_llr"].to_numpy(), df["weight"].to_numpy(),
            eff_b=eff_b, n_bootstrap=n_bootstrap, seed=seed, method=method, exact_max_events=exact_max_events,
            score_bins=score_bins)}
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
    ("Optimal cut on the score (Asimov significance, luminosity-normalised yields)",
     ("best_cut", "S_best", "B_best", "Z_asimov")),
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
            out.append("| " + " | ".join(_cell(r[c]) for c in cols) + " |")
        out.append("")
    return "\n".join(out)


def _cell(v) -> str:
    if isinstance(v, float):
        if np.isnan(v):
            return ""
        if v.is_integer() and abs(v) >= 100:
            return f"{int(v)}"  # counts and sizes
        return f"{v:.4f}" if abs(v) < 100 else f"{v:.4g}"
    return "" if v is None else str(v)


def plot_roc_comparison(scores_paths: dict[str, str | Path], *, luminosity_pb: float, path: str | Path) -> None:
    """All classifiers' ROC curves together with the Neyman-Pearson limit."""

    curves, limit = {}, None
    for name, p in scores_paths.items():
        test = io.read_table(p)
        test = test[test["role"] == "test"]
        y, s, w = test["label"].to_numpy(), test["score"].to_numpy(), test["weight"].to_numpy()
        roc = metrics.roc_curve(y, s, w)
        curves[name] = (roc.eff_s, roc.eff_b, metrics.roc_auc(y, s, w))
        if limit is None:
            limit = _limit_curve(test)
    plot_roc(curves, limit=limit, luminosity_pb=luminosity_pb, path=path)


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
    df = load_feature_tables(feature_tables, feature_names)
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
