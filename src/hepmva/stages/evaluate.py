"""The evaluate stage (``workflow/rules/evaluate.smk``): out-of-fold scores in, metrics, plots and the summary out.

- :func:`evaluate_classifier`           one classifier's metrics JSON, ROC, score, overtraining, cut-scan and
                                        learning-curve plots (rule ``evaluate``)
- :func:`neyman_pearson_limit`          the exact likelihood ratio's metrics (rule ``neyman_pearson``)
- :func:`permutation_importance_study`  variable ranking by permutation (rule ``evaluate``, with :func:`evaluate_and_rank`)
- :func:`summarize`                     the comparison table, markdown + CSV (rule ``summary``)
- :func:`plot_roc_comparison`           every ROC curve with the limit (rule ``roc_comparison``)

All numbers use the physics event weights (negative ones included) of the held-out events:
every event is scored by the fold model that did not train on it. The functions that draw import the
plotting modules (matplotlib, mplhep: 0.5-0.8 s of a job's start), so the summary and the limit-curve
jobs, which draw nothing, do not pay them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from hepmva import binned_metrics, io, metrics, score_parts
from hepmva.config import schema_default
from hepmva.datasets import feature_columns, iter_feature_parts
from hepmva.learning_curves import LearningCurve
from hepmva.logs import Progress
from hepmva.persistence import read_model_info
from hepmva.studies.importance import combine_fold_importance
from hepmva.studies.scores import evaluate_histograms, evaluate_scores, evaluate_train_test

__all__ = ["evaluate_classifier", "evaluate_and_rank", "neyman_pearson_limit", "read_limit_curve", "summarize",
           "plot_roc_comparison", "write_rejection_curve", "read_rejection_curve", "permutation_importance_study",
           "PLOT_EVENTS"]

log = logging.getLogger(__name__)

def evaluate_classifier(score_paths: Sequence[str | Path] | str | Path, model_infos: Sequence[str | Path], *,
                        name: str, eff_b: Sequence[float], n_bootstrap: int, seed: int, luminosity_pb: float,
                        metrics_path: str | Path, roc_path: str | Path, score_plot_path: str | Path,
                        overtraining_plot_path: str | Path | None = None,
                        cut_scan_plot_path: str | Path | None = None,
                        learning_curve_plot_path: str | Path | None = None,
                        limit_path: str | Path | None = None, curve_path: str | Path | None = None,
                        evaluation: dict | None = None, plotting: dict | None = None) -> dict:
    """Metrics JSON, ROC and score-distribution plots of one classifier from its fold models' score tables.

    ``score_paths`` are the fold models' score tables (:mod:`hepmva.score_parts`). With
    ``evaluation.method`` exact (auto: at most ``exact_max_events`` held-out events) the rows are read
    and judged exactly (:func:`evaluate_scores`, :func:`evaluate_train_test`); binned, every file part
    becomes histograms per fold model and role (:class:`hepmva.binned_metrics.ScoreHistograms`), which
    are summed, and every number comes from them (:func:`evaluate_histograms`): memory bounded by a part.
    The numbers: AUC and its bootstrap uncertainty, efficiencies, train-vs-test efficiencies,
    separation, significance, KS/AD overtraining tests, cut scan; with the paths, the overtraining,
    cut-scan and learning-curve plots (the stored ``learning_curve`` of the models' model.json).
    ``limit_path`` is the Neyman-Pearson ROC curve of :func:`neyman_pearson_limit`, drawn beside; ``curve_path``
    receives this classifier's ROC curve, with its bootstrap band (:func:`write_rejection_curve`), which
    :func:`plot_roc_comparison` draws with the others' without reading any score table again.
    ``evaluation`` and ``plotting`` are the config blocks (``min_b_events``, ``background_uncertainty``,
    ``roc_bootstrap``, ``method`` / ``exact_max_events`` / ``score_bins``; the plot label and binning).
    """
    from hepmva.plotting.inputs import plot_distribution
    from hepmva.plotting.roc import plot_roc
    from hepmva.plotting.style import PlotLabel

    ev, label = evaluation or {}, PlotLabel.from_config(luminosity_pb, plotting)
    paths = [score_paths] if isinstance(score_paths, (str, Path)) else list(score_paths)
    min_b, rel_unc_b = ev.get("min_b_events", 10), ev.get("background_uncertainty", 0.0)
    judged = _judge(paths, name, ev, seed)
    if judged.method == "exact":
        df = judged.rows
        test = df[df["role"] == "test"]
        y, s, w = test["label"].to_numpy(), test["score"].to_numpy(), test["weight"].to_numpy()
        result = {"classifier": name, **evaluate_scores(y, s, w, eff_b=eff_b, n_bootstrap=n_bootstrap, seed=seed,
                                                        method="exact")}
        result.update(evaluate_train_test(df, name=name, eff_b=eff_b, luminosity_pb=label,
                                          overtraining_plot_path=overtraining_plot_path,
                                          cut_scan_plot_path=cut_scan_plot_path, min_b_events=min_b,
                                          rel_unc_b=rel_unc_b))
    else:
        result = {"classifier": name, **evaluate_histograms(
            judged.test, judged.train, name=name, eff_b=eff_b, n_bootstrap=n_bootstrap, seed=seed,
            luminosity_pb=label, plot_events=judged.rows, overtraining_plot_path=overtraining_plot_path,
            cut_scan_plot_path=cut_scan_plot_path, min_b_events=min_b, rel_unc_b=rel_unc_b)}
        test = judged.rows[judged.rows["role"] == "test"]
        y, s, w = test["label"].to_numpy(), test["score"].to_numpy(), test["weight"].to_numpy()
    infos = [read_model_info(p) for p in model_infos]
    result["kind"] = infos[0]["kind"]
    result["train_seconds"] = float(sum(i["train_seconds"] for i in infos))
    result["predict_seconds_per_1M"] = 1e6 * float(np.mean([i["predict_seconds_per_event"] for i in infos]))
    result["model_bytes"] = int(np.mean([i.get("model_bytes", 0) for i in infos]))
    result["n_train"] = int(np.mean([i.get("n_train", 0) for i in infos]))  # events per fold model's training
    notes = list(dict.fromkeys(i["fit_note"] for i in infos if i.get("fit_note")))  # e.g. capped SVM / k-NN
    if notes:
        result["fit_note"] = "; ".join(notes)
    if learning_curve_plot_path is not None:
        _plot_learning_curves(infos, name=name, path=learning_curve_plot_path)
    curve = judged.curve(ev, seed)
    if curve_path is not None:
        write_rejection_curve(curve, curve_path)
    plot_roc({name: curve}, limit=read_limit_curve(limit_path), min_b_events=min_b, luminosity_pb=label,
             path=roc_path)
    plot_distribution(s, y, w, xlabel=f"{name} score", integer=False, luminosity_pb=label, path=score_plot_path)
    io.write_json(result, metrics_path)
    log.info("%s: AUC %.4f +- %.4f (%s, %d held-out events)", name, result["auc"], result["auc_err"],
             judged.method, result["n_events"])
    return result


def evaluate_and_rank(score_paths: Sequence[str | Path], model_dirs: Sequence[str | Path],
                      importance_scores: Sequence[str | Path], *, name: str, feature_names: Sequence[str],
                      feature_labels: Sequence[str] | None = None,
                      importance_path: str | Path, importance_plot_path: str | Path | None = None,
                      seed: int, **evaluate) -> dict:
    """The ``evaluate`` rule's job: :func:`evaluate_classifier` on the fold models' score tables, then
    :func:`permutation_importance_study` from the scores of the shuffled events the train jobs wrote
    (``importance_scores``, one file per fold). The job reads the models' ``model.json`` only: it loads no model
    and imports no classifier library. ``evaluate`` holds the other keywords of :func:`evaluate_classifier`.
    Returns its metrics, with the importance under ``"importance"``."""
    result = evaluate_classifier(score_paths, [Path(d) / "model.json" for d in model_dirs], name=name, seed=seed,
                                 **evaluate)
    importance = permutation_importance_study(importance_scores, feature_names=feature_names,
                                              feature_labels=feature_labels, name=name, json_path=importance_path,
                                              plot_path=importance_plot_path)
    return {**result, "importance": importance}


#: events the binned path keeps (a random subsample, weights scaled up) for the plots that draw events
PLOT_EVENTS = 500_000


class _Judged(NamedTuple):
    """One classifier's score tables read for the evaluation: exactly (``rows``: every row) or binned
    (per-fold histograms of the held-out and training rows; ``rows``: a subsample for the plots)."""

    method: str
    rows: pd.DataFrame
    test: dict
    train: dict
    name: str

    def curve(self, evaluation: dict, seed: int, *, n_bootstrap: int | None = None) -> metrics.RejectionCurve:
        """The rejection curve of the held-out rows, with its bootstrap band (``roc_bootstrap`` replicas)."""
        min_b = int(evaluation.get("min_b_events", 10))
        n_boot = int(evaluation.get("roc_bootstrap", 0) if n_bootstrap is None else n_bootstrap)
        if self.method == "exact":
            test = self.rows[self.rows["role"] == "test"]
            return metrics.rejection_curve(test["label"].to_numpy(), test["score"].to_numpy(),
                                           test["weight"].to_numpy(), min_b_events=min_b, n_bootstrap=n_boot,
                                           random_state=seed, label=self.name)
        return binned_metrics.rejection_curve(sum(self.test.values()), min_b_events=min_b, n_bootstrap=n_boot,
                                              random_state=seed, label=self.name)


def _judge(paths: Sequence[str | Path], name: str, evaluation: dict, seed: int) -> _Judged:
    """Read a classifier's score tables the way ``evaluation.method`` says (see :class:`_Judged`)."""
    opts = _method(evaluation)
    summary = score_parts.score_summary(paths)
    if not summary.n["test"]:
        raise io.InputError(f"{name}: the score tables {', '.join(map(str, paths))} hold no held-out events: "
                            "re-run its train jobs")
    method = binned_metrics.choose_method(opts["method"], summary.n["test"], opts["exact_max_events"])
    columns = ["role", "fold", "label", "weight", "score"]
    if method == "exact":
        rows = pd.concat([score_parts.read_scores(paths, role=r, columns=columns) for r in score_parts.ROLES],
                         ignore_index=True)
        return _Judged(method, rows, {}, {}, name)
    binning = binned_metrics.choose_binning(summary.score_min["all"], summary.score_max["all"], bins=opts["score_bins"])
    hists: dict = {r: {} for r in score_parts.ROLES}
    n_rows = sum(summary.n[r] for r in score_parts.ROLES)
    keep_p = min(1.0, PLOT_EVENTS / max(n_rows, 1))
    rng = np.random.default_rng([int(seed), 11])
    sample, n_done, n_parts = [], 0, 0
    progress = Progress(log, f"{name}: score histograms", total=n_rows, unit="events")
    for role in score_parts.ROLES:
        for part in score_parts.iter_score_parts(paths, role=role, columns=columns):
            n_parts += 1
            for fold, rows in part.groupby("fold"):
                H = binned_metrics.ScoreHistograms.from_scores(rows["label"].to_numpy(), rows["score"].to_numpy(),
                                                               rows["weight"].to_numpy(), binning=binning)
                hists[role][int(fold)] = hists[role][int(fold)] + H if int(fold) in hists[role] else H
            picked = part[rng.random(len(part)) < keep_p] if keep_p < 1 else part
            sample.append(picked.assign(weight=picked["weight"] / keep_p))
            n_done += len(part)
            progress.update(len(part))
    progress.done()
    log.info("%s: %d rows of %d parts in %d-bin %s histograms (%d kept for the plots)", name, n_done, n_parts,
             binning.bins, binning.transform, sum(len(x) for x in sample))
    return _Judged(method, pd.concat(sample, ignore_index=True), hists["test"], hists["train"], name)


def _plot_learning_curves(infos: Sequence[dict], *, name: str, path: str | Path) -> None:
    from hepmva.plotting.evaluation import plot_learning_curve

    curves = {int(i["fold"]): LearningCurve.from_dict(i["learning_curve"]) for i in infos if i.get("learning_curve")}
    plot_learning_curve(curves, name=name, kind=infos[0]["kind"], path=path)


def _method(evaluation: dict) -> dict:
    """The ``evaluation.method`` switch (auto / exact / binned) and its knobs, schema defaults where not given."""
    return {key: evaluation.get(key, schema_default(f"evaluation.{key}"))
            for key in ("method", "exact_max_events", "score_bins")}


def neyman_pearson_limit(feature_tables: Sequence[str | Path], *, eff_b: Sequence[float], n_bootstrap: int,
                         seed: int, output: str | Path, curve_path: str | Path | None = None,
                         evaluation: dict | None = None) -> dict | None:
    """Metrics of the exact likelihood ratio (``truth_llr`` column), or ``{"available": false}``.

    Reads the features part by part (label, weight, truth_llr only). ``evaluation`` is the config block
    (``method``, ``exact_max_events``, ``score_bins``, ``min_b_events``): exact for small samples, else from
    the per-part histograms of the llr, summed. ``curve_path`` receives the limit's rejection curve
    (:func:`read_limit_curve`), which every ROC plot draws.
    """
    ev = evaluation or {}
    opts = _method(ev)
    available = "truth_llr" in feature_columns(feature_tables)
    n, lo, hi = 0, np.inf, -np.inf
    for _, _, part in iter_feature_parts(feature_tables, columns=["truth_llr"]) if available else ():
        if not len(part):
            continue
        n += len(part)
        lo, hi = min(lo, float(part["truth_llr"].min())), max(hi, float(part["truth_llr"].max()))
    result, curve = {"available": False}, None
    if available and n:
        min_b = int(ev.get("min_b_events", 10))
        method = binned_metrics.choose_method(opts["method"], n, opts["exact_max_events"])
        parts = (p for _, _, p in iter_feature_parts(feature_tables, columns=["label", "weight", "truth_llr"]))
        if method == "exact":
            df = pd.concat(list(parts), ignore_index=True)
            y, llr, w = df["label"].to_numpy(), df["truth_llr"].to_numpy(), df["weight"].to_numpy()
            numbers = evaluate_scores(y, llr, w, eff_b=eff_b, n_bootstrap=n_bootstrap, seed=seed, method="exact")
            curve = metrics.rejection_curve(y, llr, w, min_b_events=min_b)
        else:
            binning = binned_metrics.choose_binning(lo, hi, bins=opts["score_bins"])
            H = sum(binned_metrics.ScoreHistograms.from_scores(p["label"].to_numpy(), p["truth_llr"].to_numpy(),
                                                               p["weight"].to_numpy(), binning=binning) for p in parts)
            numbers = binned_metrics.evaluate_histogram(H.weighted, eff_b=eff_b, n_bootstrap=n_bootstrap, seed=seed)
            numbers.update(evaluation_method="binned", n_events=H.n_events(0) + H.n_events(1),
                           n_signal=H.n_events(1), n_background=H.n_events(0))
            curve = binned_metrics.rejection_curve(H, min_b_events=min_b)
        result = {"available": True, "classifier": "Neyman-Pearson limit", **numbers}
    io.write_json(result, output)
    if curve_path is not None:
        write_rejection_curve(curve, curve_path)
    return result


def write_rejection_curve(curve: metrics.RejectionCurve | None, path: str | Path) -> None:
    """A rejection curve as JSON (``{"available": false}`` for none), read back by :func:`read_rejection_curve`
    bit for bit (Python's float repr)."""
    io.write_json({"available": curve is not None, **(curve._asdict() if curve is not None else {})}, path)


def read_rejection_curve(path: str | Path | None) -> metrics.RejectionCurve | None:
    """The rejection curve :func:`write_rejection_curve` wrote (None without a path, or for ``available: false``)."""
    if path is None:
        return None
    d = json.loads(Path(path).read_text())
    if not d.pop("available", False):
        return None
    return metrics.RejectionCurve(**{k: (np.asarray(v, dtype=np.float64) if isinstance(v, list) else v)
                                     for k, v in d.items()})


def read_limit_curve(path: str | Path | None) -> metrics.RejectionCurve | None:
    """The Neyman-Pearson rejection curve written by :func:`neyman_pearson_limit` (None without a path,
    or when the samples carry no exact likelihood ratio)."""
    return read_rejection_curve(path)


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


def plot_roc_comparison(curve_paths: dict[str, str | Path], *, luminosity_pb: float, path: str | Path,
                        limit_path: str | Path | None = None, evaluation: dict | None = None,
                        plotting: dict | None = None) -> None:
    """The classifiers' ROC curves together with the Neyman-Pearson limit: the best
    ``plotting.roc_max_curves`` by AUC, each cut at ``evaluation.min_b_events`` background MC
    events, with bootstrap bands (``evaluation.roc_bootstrap`` replicas) and the ratio to the limit.

    ``curve_paths``: classifier -> the ROC curve its evaluate job wrote (:func:`evaluate_classifier`'s
    ``curve_path``): the curves the classifiers' own ROC plots show, computed once, from every held-out event."""
    from hepmva.plotting.roc import plot_roc
    from hepmva.plotting.style import PlotLabel

    ev, pl = evaluation or {}, plotting or {}
    curves = {name: read_rejection_curve(p) for name, p in curve_paths.items()}
    missing = sorted(name for name, c in curves.items() if c is None)
    if missing:
        raise io.InputError(f"no ROC curve in {', '.join(str(curve_paths[n]) for n in missing)}: "
                            "re-run their evaluate jobs")
    plot_roc(curves, limit=read_limit_curve(limit_path), max_curves=pl.get("roc_max_curves"),
             min_b_events=ev.get("min_b_events", 10), luminosity_pb=PlotLabel.from_config(luminosity_pb, pl),
             path=path)


def permutation_importance_study(importance_scores: Sequence[str | Path], *, feature_names: Sequence[str], name: str,
                                 json_path: str | Path, plot_path: str | Path | None = None,
                                 feature_labels: Sequence[str] | None = None) -> dict:
    """Permutation importance (weighted AUC drop) of one classifier on out-of-fold scores.

    The train jobs scored a random subsample of the events (``evaluation.importance_events``, at most the kind's
    ``importance_events``; the same for any split into parts), each event by the fold model that did not train on
    it, unshuffled and with every feature shuffled ``evaluation.importance_repeats`` times
    (:func:`hepmva.studies.importance.permuted_fold_scores`, one ``importance_fold{k}.npz`` per fold); this joins
    them and records the drops of the event-weighted AUC (:func:`hepmva.studies.importance.combine_fold_importance`:
    the numbers of :func:`hepmva.metrics.permutation_importance` on the same events, shuffles and models). The
    model's own importance (``feature_importances_``, averaged over folds) is stored too when it has one.

    Returns
    -------
    dict : classifier, features, importances_mean/std, baseline_auc, own_importance (or None), n_events.
    """
    folds = {str(p): io.read_arrays(p) for p in importance_scores}
    res, own_mean, n_events = combine_fold_importance(folds, feature_names)
    n_repeats = res.importances.shape[1]
    result = {
        "classifier": name, "features": list(feature_names), "n_events": n_events, "n_repeats": int(n_repeats),
        "baseline_auc": res.baseline_auc, "importances_mean": res.importances_mean,
        "importances_std": res.importances_std, "own_importance": own_mean,
    }
    if plot_path is not None:
        from hepmva.plotting.evaluation import plot_importance

        plot_importance(list(feature_labels or feature_names), res.importances_mean, res.importances_std,
                        own_importance=own_mean, title=f"{name}: variable ranking", path=plot_path)
    io.write_json(result, json_path)
    log.info("%s: permutation importance on %d events, top feature %s", name, n_events,
             feature_names[int(np.argmax(res.importances_mean))])
    return result
