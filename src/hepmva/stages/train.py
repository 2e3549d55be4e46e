"""The train stage (``workflow/rules/train.smk``): one model per (classifier, fold), then the scores collected.

- :func:`train_fold`        train a classifier on every fold but one -> ``results/models/{clf}/fold{k}/``, then
                            :func:`score_fold_parts`
- :func:`score_fold_parts`  after the fit: score the held-out fold (and the training events) part by part
                            -> ``results/models/{clf}/scores_fold{k}.parquet`` (:mod:`hepmva.score_parts`)

The fold models' score tables are what the evaluation, the friend trees, the bundles and the
unsupervised comparison read (through :mod:`hepmva.score_parts`): there is no per-classifier join.

What is special about a classifier kind (negative weights, extra outputs, fit note, learning-curve
stages) comes from its record in :data:`hepmva.models.KINDS`; this module never names a kind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from hepmva import io, score_parts
from hepmva.checks import subsample_index
from hepmva.datasets import TrainingPolicy, iter_feature_parts, load_feature_tables
from hepmva.errors import TrainingError
from hepmva.learning_curves import learning_curve
from hepmva.logs import Progress
from hepmva.models import classifier_score, get_kind, make_classifier, save_estimator, training_progress
from hepmva.preprocessing import Scaler

__all__ = ["train_fold", "score_fold_parts", "train_rows", "Scoring"]

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
    ``scores_path`` (:func:`score_fold_parts`: the score table of the held-out and training events).

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
        scoring = score_fold_parts(est, scaler, feature_tables, feature_names=feature_names, fold=fold,
                                   train_rows=train_rows(df, train_idx), output=scores_path,
                                   what=f"classifier {classifier['name']} fold {fold}")
    log.info("classifier %s fold %d: trained in %.1f s, scored %d events in %.2f s", classifier["name"], fold,
             train_seconds, scoring.n_scored, scoring.seconds)

    info = {
        "classifier": classifier["name"], "kind": classifier["kind"], "params": classifier.get("params", {}),
        "fold": fold, "features": list(feature_names), "scaler": scaler.to_dict(),
        "n_train": int(len(train_idx)), "n_test": int(is_test.sum()),
        "train_seconds": train_seconds, "predict_seconds_per_event": scoring.seconds / max(scoring.n_scored, 1),
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


# --------------------------------------------------------------------------------------- scoring
class Scoring(NamedTuple):
    """What :func:`score_fold_parts` did: events scored per role, parts walked, seconds spent scoring."""

    n_test: int
    n_train: int
    n_parts: int
    seconds: float

    @property
    def n_scored(self) -> int:
        return self.n_test + self.n_train


def train_rows(df: pd.DataFrame, index: np.ndarray) -> dict[str, np.ndarray]:
    """The training events ``df.iloc[index]`` as ``{sample: sorted rows}`` (the keys :func:`score_fold_parts` takes)."""
    keys = pd.DataFrame({"sample": df["sample"].to_numpy()[index], "row": df["row"].to_numpy()[index]})
    return {str(name): np.sort(g["row"].to_numpy(dtype=np.int64)) for name, g in keys.groupby("sample")}


def score_fold_parts(est, scaler: Scaler, feature_tables: Sequence[str | Path], *, feature_names: Sequence[str],
                     fold: int, train_rows: Mapping[str, np.ndarray], output: str | Path, what: str) -> Scoring:
    """Score a fitted fold model part by part: its held-out fold and its training events.

    Walks the features one part at a time (:func:`hepmva.datasets.iter_feature_parts`, memory bounded
    by a part), scores the part's events of fold ``fold`` (role ``test``, the out-of-fold scores) and
    its events in ``train_rows`` (``{sample: rows}``, role ``train``: the overtraining checks), and
    writes them to ``output`` as a score table (:mod:`hepmva.score_parts`: one row group per part
    and role, with label and physics weight, so that the evaluation needs no join).

    Raises
    ------
    TrainingError
        On a non-finite score, naming the sample and part.
    """
    columns = [*feature_names, "label", "weight", "fold"]
    seconds, n_parts = 0.0, 0
    progress = Progress(log, f"{what}: scoring", unit="events")
    with score_parts.ScorePartWriter(output) as writer:
        for sample, part, frame in iter_feature_parts(feature_tables, columns=columns):
            n_parts += 1
            if len(frame):  # the events' own sample column: the key the training rows (and every reader) use
                sample = str(frame["sample"].iloc[0])
            rows = frame["row"].to_numpy(dtype=np.int64)
            is_test = frame["fold"].to_numpy() == fold
            trained = train_rows.get(sample)
            is_train = ~is_test & (_isin_sorted(rows, trained) if trained is not None else False)
            keep = is_test | is_train
            if not keep.any():
                continue
            t0 = time.perf_counter()
            X = np.ascontiguousarray(frame[list(feature_names)].to_numpy(dtype=np.float64)[keep])  # C order: BLAS sums
            score = classifier_score(est, scaler.transform(X), progress=f"{what} {sample} part {part}")
            seconds += time.perf_counter() - t0
            if not np.all(np.isfinite(score)):
                raise TrainingError(f"{what}: non-finite scores in sample '{sample}' part {part} "
                                    "(training diverged?)")
            role = is_test[keep]
            label, weight = frame["label"].to_numpy()[keep], frame["weight"].to_numpy()[keep]
            for name, m in (("test", role), ("train", ~role)):
                writer.write(sample=sample, part=part, role=name, fold=fold, row=rows[keep][m], label=label[m],
                             weight=weight[m], score=score[m])
            progress.update(int(keep.sum()))
    progress.done()
    return Scoring(writer.counts["test"], writer.counts["train"], n_parts, seconds)


def _isin_sorted(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_keys)`` for sorted keys, by binary search (no sort of the keys)."""
    if not len(sorted_keys):
        return np.zeros(len(values), dtype=bool)
    i = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    return sorted_keys[i] == values
