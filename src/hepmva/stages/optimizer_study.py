"""The optimizer-study stage (``workflow/rules/optimizer_study.smk``): optimizers and learning rates compared.

:func:`run_optimizer_study` splits the features tables (:func:`hepmva.datasets.study_split`), runs
:func:`hepmva.studies.optimizers.compare_optimizers` and :func:`~hepmva.studies.optimizers.learning_rate_scan`
and writes their summary and plots. Settings missing from ``settings`` take the schema's defaults.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hepmva import io
from hepmva.config import with_defaults
from hepmva.datasets import study_split
from hepmva.plotting.training import plot_learning_rate_scan, plot_optimizer_comparison
from hepmva.studies.optimizers import LearningRateScan, OptimizerStudy, compare_optimizers, learning_rate_scan

__all__ = ["run_optimizer_study"]

log = logging.getLogger(__name__)


def run_optimizer_study(
    feature_tables: Sequence[str | Path],
    *,
    feature_names: Sequence[str],
    training: Mapping[str, Any],
    settings: Mapping[str, Any],
    seed: int = 0,
    summary_path: str | Path,
    comparison_plot_path: str | Path,
    lr_scan_plot_path: str | Path,
) -> tuple[OptimizerStudy, LearningRateScan]:
    """Optimizer comparison and learning-rate scan on the study's features.

    Events of fold 0 are the validation set, the other folds the training set (random
    subsamples of ``settings["n_events"]`` / ``settings["n_val"]``). Both sets are weighted by
    the study's ``training`` policy (negative weights, class balance), so the training and
    validation losses are the same quantity; the scaler is fitted on the training events.

    Parameters
    ----------
    feature_tables : sequence of path
        Per-sample feature tables (parquet).
    feature_names : sequence of str
        Feature columns.
    training : mapping
        The config's ``training`` section (``negative_weights``, ``class_balance``, ``scaler``).
    settings : mapping
        The config's ``optimizer_study`` section: ``optimizers``, ``epochs``, ``learning_rates``,
        ``lr_scan_optimizer``, ``lr_scan_epochs``, ``n_events``, ``n_val``,
        ``hidden_layer_sizes``, ``activation``, ``batch_size``.
    seed : int
        Master seed (subsamples, initial weights, shuffling).
    summary_path : path
        JSON: ``{"comparison": OptimizerStudy.to_dict(), "lr_scan": LearningRateScan.to_dict()}``.
    comparison_plot_path, lr_scan_plot_path : path
        The two figures.

    Returns
    -------
    (OptimizerStudy, LearningRateScan)
    """
    settings = with_defaults("optimizer_study", settings)
    split = study_split(feature_tables, feature_names, training, n_train=int(settings["n_events"]),
                        n_val=int(settings["n_val"]), seed=int(seed), stream=11, study="optimizer_study")
    X, y, w_train, X_val, y_val, w_val = split[:6]
    base = {k: settings[k] for k in ("hidden_layer_sizes", "activation", "batch_size") if k in settings}
    if "hidden_layer_sizes" in base:
        base["hidden_layer_sizes"] = tuple(base["hidden_layer_sizes"])
    study = compare_optimizers(
        X, y, w_train, X_val=X_val, y_val=y_val, sample_weight_val=w_val,
        optimizers=list(settings["optimizers"]), max_iter=int(settings["epochs"]), base_params=base,
        random_state=int(seed),
    )
    scan = learning_rate_scan(
        X, y, w_train, X_val=X_val, y_val=y_val, sample_weight_val=w_val,
        optimizer=str(settings["lr_scan_optimizer"]), learning_rates=list(settings["learning_rates"]),
        max_iter=int(settings["lr_scan_epochs"]), base_params=base, random_state=int(seed),
    )
    out = {
        "features": list(feature_names),
        "n_train": int(len(y)),
        "n_val": int(len(y_val)),
        "comparison": study.to_dict(),
        "lr_scan": scan.to_dict(),
    }
    io.write_json(out, summary_path)
    curves = {k: {"loss": r.loss, "val_loss": r.val_loss, "time": r.time, "diverged": r.diverged,
                  "initial_loss": r.initial_loss} for k, r in study.runs.items()}
    arch = list(study.base_params["hidden_layer_sizes"])
    plot_optimizer_comparison(
        curves, val_auc={k: r.val_auc for k, r in study.runs.items()}, path=comparison_plot_path,
        title=(f"MLP {arch} ({study.base_params['activation']}), same initial weights, "
               f"{len(y)} training events, {study.max_iter} epochs each"),
    )
    plot_learning_rate_scan(
        scan.learning_rates, scan.final_loss, scan.status, initial_loss=scan.initial_loss,
        loss_curves=[r.loss for r in scan.runs], best_learning_rate=scan.best_learning_rate,
        optimizer=scan.optimizer, path=lr_scan_plot_path,
    )
    for name, r in study.runs.items():
        log.info("optimizer_study %s", json.dumps({
            "optimizer": name, "final_loss": float(r.loss[-1]) if len(r.loss) else None,
            "val_auc": None if not math.isfinite(r.val_auc) else r.val_auc,
            "seconds": float(r.time[-1]) if len(r.time) else None, "diverged": r.diverged}))
    return study, scan
