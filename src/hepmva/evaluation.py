"""Evaluation of out-of-fold scores: metrics per classifier, the Neyman-Pearson limit, the summary.

All numbers use the physics event weights (negative ones included) of the held-out events:
every event is scored by the fold model that did not train on it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hepmva import io, metrics
from hepmva.pipeline import write_json

__all__ = ["evaluate_scores", "evaluate_classifier", "neyman_pearson_limit", "summarize", "plot_inputs",
           "plot_roc_comparison"]

log = logging.getLogger(__name__)


def evaluate_scores(y: np.ndarray, score: np.ndarray, weight: np.ndarray, *, eff_b: Sequence[float] = (0.01, 0.1, 0.3),
                    n_bootstrap: int = 200, seed: int = 0) -> dict:
    """AUC with bootstrap uncertainty and signal efficiencies at the given background efficiencies."""
    auc, auc_err = metrics.auc_bootstrap(y, score, weight, n_bootstrap=n_bootstrap, random_state=seed)
    effs = metrics.signal_efficiency_at(y, score, weight, eff_b=tuple(eff_b))
    return {
        "auc": auc,
        "auc_err": auc_err,
        "eff_s_at_eff_b": {f"{k:g}": v for k, v in effs.items()},
        "n_events": int(len(y)),
        "n_signal": int(np.sum(y == 1)),
        "n_background": int(np.sum(y == 0)),
    }


def evaluate_classifier(scores_path: str | Path, model_infos: Sequence[str | Path], *, name: str,
                        eff_b: Sequence[float], n_bootstrap: int, seed: int, luminosity_pb: float,
                        metrics_path: str | Path, roc_path: str | Path, score_plot_path: str | Path) -> dict:
    """Metrics JSON, ROC and score-distribution plots of one classifier from its collected scores."""
    import json

    from hepmva.plotting.inputs import plot_distribution
    from hepmva.plotting.roc import plot_roc

    df = io.read_table(scores_path)
    test = df[df["role"] == "test"]
    y, s, w = test["label"].to_numpy(), test["score"].to_numpy(), test["weight"].to_numpy()
    result = {"classifier": name, **evaluate_scores(y, s, w, eff_b=eff_b, n_bootstrap=n_bootstrap, seed=seed)}
    infos = [json.loads(Path(p).read_text()) for p in model_infos]
    result["kind"] = infos[0]["kind"]
    result["train_seconds"] = float(sum(i["train_seconds"] for i in infos))
    result["predict_seconds_per_1M"] = 1e6 * float(np.mean([i["predict_seconds_per_event"] for i in infos]))
    result["model_bytes"] = int(np.mean([i.get("model_bytes", 0) for i in infos]))
    roc = metrics.roc_curve(y, s, w)
    limit = _limit_curve(test)
    plot_roc({name: (roc.eff_s, roc.eff_b, result["auc"])}, limit=limit, luminosity_pb=luminosity_pb, path=roc_path)
    plot_distribution(s, y, w, xlabel=f"{name} score", luminosity_pb=luminosity_pb, path=score_plot_path)
    write_json(result, metrics_path)
    log.info("%s: AUC %.4f +- %.4f", name, result["auc"], result["auc_err"])
    return result


def _limit_curve(test: pd.DataFrame):
    if "truth_llr" not in test:
        return None
    y, s, w = test["label"].to_numpy(), test["truth_llr"].to_numpy(), test["weight"].to_numpy()
    roc = metrics.roc_curve(y, s, w)
    return roc.eff_s, roc.eff_b, metrics.roc_auc(y, s, w)


def neyman_pearson_limit(feature_tables: Sequence[str | Path], *, eff_b: Sequence[float], n_bootstrap: int,
                         seed: int, output: str | Path) -> dict | None:
    """Metrics of the exact likelihood ratio (``truth_llr`` column), or ``{"available": false}``."""
    df = io.read_tables(feature_tables)
    if "truth_llr" not in df:
        result = {"available": False}
    else:
        result = {"available": True, "classifier": "Neyman-Pearson limit", **evaluate_scores(
            df["label"].to_numpy(), df["truth_llr"].to_numpy(), df["weight"].to_numpy(),
            eff_b=eff_b, n_bootstrap=n_bootstrap, seed=seed)}
    write_json(result, output)
    return result


def summarize(metrics_paths: Sequence[str | Path], limit_path: str | Path, *, md_path: str | Path,
              csv_path: str | Path) -> pd.DataFrame:
    """One row per classifier (sorted by AUC) plus the NP-limit row: markdown and CSV."""
    import json

    rows = []
    for p in metrics_paths:
        m = json.loads(Path(p).read_text())
        rows.append(_row(m))
    limit = json.loads(Path(limit_path).read_text())
    table = pd.DataFrame(rows).sort_values("auc", ascending=False)
    if limit.get("available"):
        table = pd.concat([pd.DataFrame([_row(limit)]), table], ignore_index=True)
    with io.atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    with io.atomic_path(md_path) as tmp:
        tmp.write_text(_markdown(table))
    return table


def _row(m: dict) -> dict:
    row = {"classifier": m["classifier"], "kind": m.get("kind", "truth"), "auc": m["auc"], "auc_err": m["auc_err"]}
    for k, v in m["eff_s_at_eff_b"].items():
        row[f"eff_s@eff_b={k}"] = v
    for k in ("train_seconds", "predict_seconds_per_1M", "model_bytes"):
        row[k] = m.get(k, np.nan)
    return row


def _markdown(table: pd.DataFrame) -> str:
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in table.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, float):
                cells.append("" if np.isnan(v) else f"{v:.4f}" if abs(v) < 100 else f"{v:.4g}")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "# Classifier comparison (out-of-fold, event-weighted)\n\n" + "\n".join(lines) + "\n"


def plot_roc_comparison(scores_paths: dict[str, str | Path], *, luminosity_pb: float, path: str | Path) -> None:
    """All classifiers' ROC curves together with the Neyman-Pearson limit."""
    from hepmva.plotting.roc import plot_roc

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


def plot_inputs(feature_tables: Sequence[str | Path], features: Sequence[dict], *, luminosity_pb: float,
                directory: str | Path) -> None:
    """One weighted signal-vs-background plot per feature, ``{directory}/{feature}.png``."""
    from hepmva.plotting.inputs import plot_distribution

    df = io.read_tables(feature_tables)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for f in features:
        plot_distribution(df[f["name"]].to_numpy(), df["label"].to_numpy(), df["weight"].to_numpy(),
                          xlabel=f.get("label", f["name"]), luminosity_pb=luminosity_pb,
                          path=directory / f"{f['name']}.png")
