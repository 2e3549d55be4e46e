"""The training-methods stage (``workflow/rules/training_methods.smk``): GD, BFGS, L-BFGS and GA on one MLP.

:func:`run_training_methods_study` splits the features tables (:func:`hepmva.datasets.study_split`), runs
:func:`hepmva.studies.training_methods.compare_training_methods` and writes its summary and plot.
Settings missing from ``settings`` take the schema's defaults.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hepmva import io
from hepmva.config import with_defaults
from hepmva.datasets import study_split
from hepmva.plotting.methods import plot_training_methods
from hepmva.studies.training_methods import TrainingMethodsResult, compare_training_methods

__all__ = ["STUDY_KEYS", "run_training_methods_study"]

log = logging.getLogger(__name__)


#: Config keys of the ``training_methods`` section passed on to :func:`compare_training_methods`.
STUDY_KEYS = ("methods", "budget", "hidden_layer_sizes", "activation", "alpha", "gd_learning_rate",
              "gd_momentum", "lbfgs_memory", "ga_pop_size", "ga_weight_range", "ga_init_scale")


def run_training_methods_study(
    feature_tables: Sequence[str | Path],
    *,
    feature_names: Sequence[str],
    training: Mapping[str, Any],
    settings: Mapping[str, Any],
    seed: int = 0,
    summary_path: str | Path,
    plot_path: str | Path,
) -> TrainingMethodsResult:
    """The fair training-methods comparison on the study's feature tables.

    Events of fold 0 are the validation set, the other folds the training set; each is a random
    subsample of ``settings["n_train"]`` / ``settings["n_val"]`` events.  Training weights follow
    the study's ``training`` policy (negative weights, class balance), the scaler is fitted on the
    training events; the validation AUC uses the physics weights.

    Parameters
    ----------
    feature_tables : sequence of path
        Per-sample feature tables (parquet).
    feature_names : sequence of str
        Feature columns.
    training : mapping
        The config's ``training`` section (``negative_weights``, ``class_balance``, ``scaler``).
    settings : mapping
        The config's ``training_methods`` section (keys of :data:`STUDY_KEYS`, ``n_train``,
        ``n_val``).
    seed : int
        Master seed (subsamples, initial weights, GA).
    summary_path : path
        JSON output: :meth:`TrainingMethodsResult.to_dict`.
    plot_path : path
        The 2 x 2 comparison figure.

    Returns
    -------
    TrainingMethodsResult
        The comparison.
    """
    settings = with_defaults("training_methods", settings)
    split = study_split(feature_tables, feature_names, training, n_train=int(settings["n_train"]),
                        n_val=int(settings["n_val"]), seed=int(seed), stream=7, study="training_methods")
    options = {k: settings[k] for k in STUDY_KEYS if k in settings}
    if "hidden_layer_sizes" in options:
        options["hidden_layer_sizes"] = tuple(options["hidden_layer_sizes"])
    result = compare_training_methods(
        split.X, split.y, split.w,
        X_val=split.X_val, y_val=split.y_val, sample_weight_val=split.w_val_physics,
        random_state=int(seed), **options,
    )
    out = result.to_dict()
    out["features"] = list(feature_names)
    io.write_json(out, summary_path)
    plot_training_methods(
        out["curves"], budget=result.budget, path=plot_path,
        title=(f"MLP {list(result.settings['hidden_layer_sizes'])} ({result.n_params} parameters), "
               f"{result.settings['n_train']} training events, {result.budget} loss evaluations each"),
    )
    for row in result.summary():
        log.info("training_methods %s", json.dumps(row))
    return result
