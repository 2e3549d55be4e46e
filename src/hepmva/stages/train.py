"""The train stage (``workflow/rules/train.smk``): one model per (classifier, fold), then the scores collected.

- :func:`train_fold`      train a classifier on every fold but one, score the held-out fold (and the
                          training events) -> ``results/models/{clf}/fold{k}/`` + ``scores_fold{k}.parquet``
- :func:`collect_scores`  join the fold models' scores with labels and weights -> ``results/scores/{clf}.parquet``

What is special about a classifier kind (negative weights, extra outputs, fit note, learning-curve
stages) comes from its record in :data:`hepmva.models.KINDS`; this module never names a kind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from hepmva import io
from hepmva.checks import subsample_index
from hepmva.datasets import TrainingPolicy, feature_columns, load_feature_tables
from hepmva.errors import TrainingError
from hepmva.learning_curves import learning_curve
from hepmva.models import classifier_score, get_kind, make_classifier, save_estimator, training_progress

__all__ = ["train_fold", "collect_scores"]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------- training
def train_fold(
    feature_tables: Sequence[str | Path],
    *,
    classifier: dict,
    fold: int,
    feature_names: Sequence[str],
    training: dict,
    seed: int = 0,
    threads: int = 1,
    model_dir: str | Path,
    scores_path: str | Path,
) -> dict:
    """Train ``classifier`` on every fold but ``fold``; score the held-out fold (and the training events).

    Writes ``model_dir`` (``model.json`` with the scaler and bookkeeping, plus the estimator files) and
    ``scores_path`` (parquet: sample, row, role ("test"/"train"), score).

    Returns
    -------
    dict : the model's bookkeeping (also in model.json).
    """
    df = load_feature_tables(feature_tables, feature_names, columns=())
    X = df[list(feature_names)].to_numpy(dtype=np.float64)
    y = df["label"].to_numpy().astype(np.int64)
    is_test = df["fold"].to_numpy() == fold
    train_idx = np.flatnonzero(~is_test)
    rng = np.random.default_rng([seed, fold])
    train_idx = train_idx[subsample_index(len(train_idx), classifier.get("max_train_events"), rng)]
    y_train = y[train_idx]
    if len(np.unique(y_train)) < 2:
        raise TrainingError(
            f"classifier '{classifier['name']}' fold {fold}: the training set has only one class; "
            "need signal and background events in every fold"
        )
    policy = TrainingPolicy.from_config(training)
    w_train = policy.weights(df["weight"].to_numpy()[train_idx], y_train)
    scaler = policy.fit_scaler(X[train_idx], w_train)
    Xs = scaler.transform(X)
    record = get_kind(classifier["kind"])
    est = make_classifier(record.name, classifier.get("params"), n_jobs=threads, random_state=int(seed) + fold)
    log.info("classifier %s fold %d: training %s on %d events (%d features)", classifier["name"], fold,
             record.name, len(train_idx), X.shape[1])
    if not record.negative_weights and (w_train < 0).any():
        raise TrainingError(
            f"classifier '{classifier['name']}': {record.name} refuses negative training weights; "
            "set training.negative_weights to abs or zero"
        )
    # every library's thread pools (OpenMP, BLAS) limited to the rule's threads: no oversubscription
    # when Snakemake runs several jobs side by side
    # OpenMP pools (xgboost, HGB, forests) get the rule's threads: no oversubscription when Snakemake runs
    # several jobs side by side, and their results do not depend on the thread count. BLAS gets ONE thread
    # whatever --cores is: a multithreaded BLAS sums in a thread-count-dependent order, so the MLP and the
    # SVM would differ in the last bits between --cores 1 and --cores 2 (README "Determinism").
    with threadpool_limits(limits=max(int(threads), 1), user_api="openmp"), \
            threadpool_limits(limits=1, user_api="blas"):
        t0 = time.perf_counter()
        est = _fit(est, Xs[train_idx], y_train, w_train, classifier, fold)
        train_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        score = classifier_score(est, Xs, progress=f"classifier {classifier['name']} fold {fold}")
        predict_seconds = time.perf_counter() - t0
    if not np.all(np.isfinite(score)):
        raise TrainingError(f"classifier '{classifier['name']}' fold {fold}: non-finite scores (training diverged?)")
    log.info("classifier %s fold %d: trained in %.1f s, scored %d events in %.2f s", classifier["name"], fold,
             train_seconds, len(score), predict_seconds)

    role = np.where(is_test, "test", "").astype("<U5")
    role[train_idx] = "train"
    keep = role != ""
    scores = pd.DataFrame({
        "sample": df["sample"].to_numpy()[keep], "row": df["row"].to_numpy()[keep],
        "role": role[keep], "fold": np.full(int(keep.sum()), fold, dtype=np.int8), "score": score[keep],
    })
    info = {
        "classifier": classifier["name"], "kind": classifier["kind"], "params": classifier.get("params", {}),
        "fold": fold, "features": list(feature_names), "scaler": scaler.to_dict(),
        "n_train": int(len(train_idx)), "n_test": int(is_test.sum()),
        "train_seconds": train_seconds, "predict_seconds_per_event": predict_seconds / max(len(score), 1),
        # how the model was actually trained, when its kind says (capped SVM / k-NN: "nystroem on 20000")
        "fit_note": record.fit_note(est) if record.fit_note else None,
        "learning_curve": _learning_curve(est, record, Xs, y, df["weight"].to_numpy(), train_idx, w_train,
                                          is_test, policy, seed=int(seed) + fold, name=classifier["name"],
                                          fold=fold),
    }
    with io.atomic_directory(model_dir) as tmp_dir:
        save_estimator(est, record.name, tmp_dir)
        if record.extra_outputs is not None:  # e.g. CutsGA's readable cuts
            record.extra_outputs(est, tmp_dir, feature_names, scaler)
        io.write_json(info, tmp_dir / "model.json")
        info["model_bytes"] = sum(p.stat().st_size for p in tmp_dir.iterdir())
        io.write_json(info, tmp_dir / "model.json")
    io.write_table(scores, scores_path)
    return info


def _learning_curve(est, record, Xs: np.ndarray, y: np.ndarray, weight: np.ndarray, train_idx: np.ndarray,
                    w_train: np.ndarray, is_test: np.ndarray, policy: TrainingPolicy, *, seed: int, name: str,
                    fold: int) -> dict | None:
    """The fitted model's learning curve on (subsamples of) its training and held-out events, as JSON.

    The held-out events get the training-weight policy too, so the two losses are comparable. A
    failure is logged and gives None: it never fails the training.
    """
    t0 = time.perf_counter()
    try:
        y_test = y[is_test]
        w_test = policy.weights(weight[is_test], y_test)
        curve = learning_curve(est, Xs[train_idx], y[train_idx], w_train, Xs[is_test], y_test, w_test,
                               random_state=np.random.default_rng([seed, 7]), stages=record.stages,
                               stages_note=record.stages_note)
    except (ValueError, TypeError, ArithmeticError) as exc:
        log.warning("classifier %s fold %d: no learning curve: %s", name, fold, exc)
        return None
    if curve is not None:
        log.info("classifier %s fold %d: learning curve at %d %s in %.1f s", name, fold, len(curve.x), curve.x_label,
                 time.perf_counter() - t0)
        return curve.to_dict()
    return None


def _fit(est, X: np.ndarray, y: np.ndarray, w: np.ndarray, classifier: dict, fold: int):
    """``est.fit`` with a one-line error naming the classifier and fold, and its progress in the log."""
    try:
        with training_progress(est, classifier["kind"], what=f"classifier {classifier['name']} fold {fold}",
                               n_events=len(y)) as fit_kwargs:
            est.fit(X, y, sample_weight=w, **fit_kwargs)
    except (ValueError, TypeError, ArithmeticError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrainingError(
            f"classifier '{classifier['name']}' ({classifier['kind']}) fold {fold}: training failed: {first}"
        ) from exc
    return est


def collect_scores(score_tables: Sequence[str | Path], feature_tables: Sequence[str | Path],
                   output: str | Path) -> pd.DataFrame:
    """Join the fold models' scores with labels and weights.

    Output columns: sample, row, label, weight, fold, role, score (+ truth_llr when present). Each
    event has exactly one ``test`` row (its out-of-fold score) and k-1 ``train`` rows.
    """
    truth = [c for c in ("truth_llr",) if c in feature_columns(feature_tables)]
    feats = load_feature_tables(feature_tables, columns=truth)
    keep = ["sample", "row", "label", "weight", *truth]
    scores = io.read_tables(score_tables)
    df = scores.merge(feats[keep], on=["sample", "row"], how="left", validate="many_to_one")
    n_test = (df["role"] == "test").sum()
    if n_test != len(feats):
        raise io.InputError(f"scores cover {n_test} of {len(feats)} events: a fold's scores are missing or stale")
    io.write_table(df, output)
    return df
