"""The train stage (``workflow/rules/train.smk``): one model per (classifier, fold) and its score table.

- :func:`train_folds`       a train job: :func:`train_fold` for each of its folds (all of a classifier's folds
                            one after the other, ``training.jobs: per_classifier``, or one, ``per_fold``)
- :func:`train_fold`        train a classifier on every fold but one -> ``results/models/{clf}/fold{k}/``:
                            :func:`fit_fold` (load + fit, memory bounded by the cap and the budget), then
                            :func:`score_fold_parts`
- :func:`score_fold_parts`  after the fit: score the held-out fold (and the training events) part by part
                            -> ``results/models/{clf}/scores_fold{k}.parquet`` (:mod:`hepmva.score_parts`)

The fold models' score tables are what the evaluation, the friend trees, the bundles and the
unsupervised comparison read (through :mod:`hepmva.score_parts`): there is no per-classifier join.

What is special about a classifier kind (negative weights, extra outputs, fit note, learning-curve
stages) comes from its record in :data:`hepmva.models.KINDS`; this module never names a kind.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from hepmva import io, score_parts
from hepmva.config import with_defaults
from hepmva.datasets import BLOCK_EVENTS, TrainingPolicy, iter_feature_blocks
from hepmva.errors import TrainingError
from hepmva.learning_curves import learning_curve
from hepmva.logs import Progress
from hepmva.models import (Kind, classifier_score, fit_memory_mb, fit_mode, get_kind, make_classifier, save_estimator,
                           thread_limits, training_progress)
from hepmva.preprocessing import Scaler
from hepmva.studies.importance import IMPORTANCE_STREAM, importance_events_for, permuted_fold_scores
from hepmva.training_set import TrainingChunk, TrainingSet, plan_training_set, random_events, sample_name

__all__ = ["train_folds", "train_fold", "fit_fold", "FittedFold", "score_fold_parts", "Scoring"]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------- training
class FittedFold(NamedTuple):
    """A fold model fitted by :func:`fit_fold`, with what the scoring and the bookkeeping need."""

    est: object
    record: Kind
    scaler: Scaler
    training_set: TrainingSet     # the events trained on (planned, capped), scaled
    train_rows: dict              # {sample: sorted rows} of the training events scored with role "train"
    info: dict                    # the model's bookkeeping so far (model.json)


def train_folds(
    feature_tables: Sequence[str | Path],
    *,
    classifier: dict,
    folds: Sequence[int],
    model_dirs: Sequence[str | Path],
    scores_paths: Sequence[str | Path],
    importance_paths: Sequence[str | Path] | None = None,
    **kwargs,
) -> list[dict]:
    """One train job: :func:`train_fold` for each fold of ``folds``, one after the other, writing
    ``model_dirs[i]`` and ``scores_paths[i]`` for ``folds[i]`` (``kwargs``: the rest of :func:`train_fold`'s).

    ``training.jobs: per_classifier`` (the default) gives a job all of a classifier's folds: on a laptop the
    folds share one Python start, the imports of the classifier's library and the job's scheduling (about
    2.5 s of CPU a fold in the default study: ``benchmarks/README.md``); ``per_fold``, one job each, for a
    cluster, where the folds run side by side.

    Returns
    -------
    list of dict : each fold's bookkeeping (its model.json).
    """
    importance_paths = [None] * len(folds) if importance_paths is None else list(importance_paths)
    if not len(folds) == len(model_dirs) == len(scores_paths) == len(importance_paths):
        raise ValueError(f"train_folds: {len(folds)} folds, {len(model_dirs)} model directories, "
                         f"{len(scores_paths)} score tables and {len(importance_paths)} importance files: give one "
                         "of each per fold")
    infos = []
    for i, (fold, model_dir, scores_path, importance_path) in enumerate(zip(folds, model_dirs, scores_paths,
                                                                            importance_paths)):
        if len(folds) > 1:
            log.info("classifier %s: fold %d (%d of %d in this job)", classifier["name"], fold, i + 1, len(folds))
        infos.append(train_fold(feature_tables, classifier=classifier, fold=int(fold), model_dir=model_dir,
                                scores_path=scores_path, importance_path=importance_path, **kwargs))
        # the fold's training set, model and scores, freed now rather than at the collector's next full pass
        # (data frames and boosters sit in reference cycles): the job's peak memory is one fold's
        gc.collect()
    return infos


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
    importance_path: str | Path | None = None,
    importance: dict | None = None,
) -> dict:
    """Train ``classifier`` on every fold but ``fold`` (:func:`fit_fold`); score the held-out fold (and the
    training events) part by part (:func:`score_fold_parts`).

    Writes ``model_dir`` (``model.json`` with the scaler and bookkeeping, plus the estimator files) and
    ``scores_path`` (:func:`score_fold_parts`: the score table of the held-out and training events). With
    ``importance_path``, also the fold's half of the permutation importance
    (:func:`hepmva.studies.importance.permuted_fold_scores`, with the config's ``evaluation`` block's
    ``importance_events`` and ``importance_repeats`` from ``importance``), while the model is loaded.

    Returns
    -------
    dict : the model's bookkeeping (also in model.json).
    """
    fitted = fit_fold(feature_tables, classifier=classifier, fold=fold, feature_names=feature_names,
                      training=training, seed=seed, threads=threads)
    what = f"classifier {classifier['name']} fold {fold}"
    with thread_limits(threads):
        scoring = score_fold_parts(fitted.est, fitted.scaler, feature_tables, feature_names=feature_names, fold=fold,
                                   train_rows=fitted.train_rows, output=scores_path, what=what)
    log.info("%s: scored %d events in %.2f s", what, scoring.n_scored, scoring.seconds)
    if importance_path is not None:
        ev = with_defaults("evaluation", importance)
        t0 = time.perf_counter()
        names = list(feature_names)
        events = random_events(feature_tables, names, importance_events_for(classifier["kind"], ev["importance_events"]),
                               seed=seed, stream=IMPORTANCE_STREAM)

        def score(Z: np.ndarray) -> np.ndarray:
            return classifier_score(fitted.est, fitted.scaler.transform(Z))

        with thread_limits(threads):
            perm = permuted_fold_scores(score, events[names].to_numpy(dtype=np.float64), events["label"].to_numpy(),
                                        events["weight"].to_numpy(), events["fold"].to_numpy(), fold=fold,
                                        feature_names=names, n_repeats=ev["importance_repeats"], seed=seed,
                                        own_importance=getattr(fitted.est, "feature_importances_", None))
        io.write_arrays(perm, importance_path)
        log.info("%s: permutation importance, %d of %d events x %d features x %d shuffles scored in %.2f s", what,
                 len(perm["rows"]), int(perm["n_events"]), len(feature_names), int(perm["n_repeats"]),
                 time.perf_counter() - t0)
    info = {**fitted.info, "n_test": scoring.n_test,
            "predict_seconds_per_event": scoring.seconds / max(scoring.n_scored, 1)}
    with io.atomic_directory(model_dir) as tmp_dir:
        save_estimator(fitted.est, fitted.record.name, tmp_dir)
        if fitted.record.extra_outputs is not None:  # e.g. CutsGA's readable cuts
            fitted.record.extra_outputs(fitted.est, tmp_dir, feature_names, fitted.scaler)
        io.write_json(info, tmp_dir / "model.json")
        info["model_bytes"] = sum(p.stat().st_size for p in tmp_dir.iterdir())
        io.write_json(info, tmp_dir / "model.json")
    return info


def fit_fold(feature_tables: Sequence[str | Path], *, classifier: dict, fold: int, feature_names: Sequence[str],
             training: dict, seed: int = 0, threads: int = 1) -> FittedFold:
    """Load and fit: ``classifier`` trained on every fold but ``fold``, memory bounded by its cap.

    The training events are planned in one pass over the parts (:func:`hepmva.training_set.plan_training_set`:
    per-class caps of ``max_train_events`` preserving each class's weighted yield, deterministic for the seed
    and independent of the parts), then read as float32 features only. When they fit
    ``training.memory_budget_mb`` (:func:`hepmva.models.fit_mode`) they are loaded and fitted in memory;
    otherwise a kind that streams trains out of core part by part (its record's ``streams``), and any other
    kind stops in one line naming the memory needed and the budget.
    """
    name = classifier["name"]
    what = f"classifier {name} fold {fold}"
    t_plan = time.perf_counter()
    policy = TrainingPolicy.from_config(training)
    budget = with_defaults("training", training).get("memory_budget_mb")
    plan = plan_training_set(feature_tables, fold=fold, cap=classifier.get("max_train_events"), seed=seed,
                             policy=policy, name=f"classifier '{name}'")
    tset = TrainingSet(feature_tables, feature_names, plan, policy)
    record = get_kind(classifier["kind"])
    est = make_classifier(record.name, classifier.get("params"), n_jobs=threads, random_state=int(seed) + fold)
    mode = fit_mode(est, record.name, name=name, n_events=tset.n_events, n_features=tset.n_features,
                    budget_mb=budget)
    for c in plan.classes:
        log.info("%s: %s: %d of %d training events kept%s", what, "signal" if c.label else "background", c.n_kept,
                 c.n_total, "" if c.scale == 1.0 else f", weights x {c.scale:.6g} (yield {c.yield_total:.6g} kept)")
    if not record.negative_weights and policy.negative_weights == "keep" and _has_negative_weights(tset):
        raise TrainingError(
            f"classifier '{name}': {record.name} refuses negative training weights; "
            "set training.negative_weights to abs or zero"
        )
    need = fit_memory_mb(record.name, tset.n_events, tset.n_features)
    if mode == "memory":
        data = tset.load()
        scaler = policy.fit_scaler(data.X, data.w)
        X = data.X
        for start in range(0, len(X), 65536):  # scaled in place, a block at a time: no float64 copy of the set
            X[start:start + 65536] = scaler.transform(X[start:start + 65536], dtype=np.float32)
        log.info("%s: training %s on %d events (%d features) in memory (~%.0f MB) after %.1f s of reading",
                 what, record.name, len(data.y), X.shape[1], need, time.perf_counter() - t_plan)
    else:
        scaler = tset.fit_scaler()
        log.info("%s: training %s on %d events (%d features) OUT OF CORE, streaming the parts: in memory they "
                 "would need ~%.0f MB, over training.memory_budget_mb = %g", what, record.name, tset.n_events,
                 tset.n_features, need, budget)
    tset = tset.with_scaler(scaler)
    with thread_limits(threads):
        t0 = time.perf_counter()
        if mode == "memory":
            est = _fit(est, X, data.y, data.w, classifier, fold)
        else:
            est = _fit(est, None, None, None, classifier, fold, stream=(tset, int(budget * 2**20)))
        train_seconds = time.perf_counter() - t0
        log.info("%s: trained in %.1f s", what, train_seconds)
        # the learning curve and the "train" scores on the training events; out of core on a random
        # _CURVE_EVENTS of them (the same keys' smallest: a subset of the events trained on), read part by part
        if mode == "memory":
            sample, rows_of = data._replace(X=X), tset
        else:
            rows_of = TrainingSet(feature_tables, feature_names, plan_training_set(
                feature_tables, fold=fold, cap=_CURVE_EVENTS, seed=seed, policy=policy, name=f"classifier '{name}'"),
                policy, scaler)
            sample = rows_of.load()
        curve = _learning_curve(est, record, sample, feature_tables, feature_names, scaler, policy, fold=fold,
                                seed=int(seed), name=name)
    cap = record.train_score_events
    if cap is not None and rows_of.n_events > cap:
        # a kind whose prediction costs like a fit (k-NN, SVM) scores a random subsample of its training events
        # for the overtraining checks (the same keys' smallest: events it trained on); the held-out fold is whole
        log.info("%s: the overtraining checks score %d of the %d training events (the kind's train_score_events)",
                 what, cap, rows_of.n_events)
        rows_of = TrainingSet(feature_tables, [], plan_training_set(
            feature_tables, fold=fold, cap=cap, seed=seed, policy=policy, name=f"classifier '{name}'"), policy)
    train_rows = _rows_by_sample(rows_of)
    info = {
        "classifier": name, "kind": classifier["kind"], "params": classifier.get("params", {}),
        "fold": fold, "features": list(feature_names), "scaler": scaler.to_dict(),
        "n_train": int(tset.n_events), "train_seconds": train_seconds,
        "fit_mode": mode, "fit_memory_mb": round(need, 3),
        "training_events": {("signal" if c.label else "background"): {
            "kept": c.n_kept, "total": c.n_total, "weight_scale": c.scale, "yield": c.yield_total}
            for c in plan.classes},
        # how the model was actually trained, when its kind says (capped SVM / k-NN: "nystroem on 20000")
        "fit_note": record.fit_note(est) if record.fit_note else None,
        "learning_curve": curve,
    }
    return FittedFold(est, record, scaler, tset, train_rows, info)


#: events of the training and of the held-out fold the learning curve is computed on (at most)
_CURVE_EVENTS = 20000


def _has_negative_weights(tset: TrainingSet) -> bool:
    return any((c.weight < 0).any() for c in TrainingSet(tset.paths, [], tset.plan, tset.policy).chunks())


def _rows_by_sample(tset: TrainingSet) -> dict[str, np.ndarray]:
    """``{sample: sorted rows}`` of the events of ``tset`` (one pass over the bookkeeping columns)."""
    rows: dict[str, list[np.ndarray]] = {}
    for chunk in TrainingSet(tset.paths, [], tset.plan, tset.policy).chunks():
        rows.setdefault(chunk.sample, []).append(chunk.row)
    return {s: np.sort(np.concatenate(r)) for s, r in rows.items()}


def _learning_curve(est, record, train: TrainingChunk, feature_tables, feature_names, scaler: Scaler,
                    policy: TrainingPolicy, *, fold: int, seed: int, name: str) -> dict | None:
    """The fitted model's learning curve on (subsamples of) its training and held-out events, as JSON.

    The held-out events (a random sample of at most ``_CURVE_EVENTS`` of fold ``fold``) get the training-weight
    policy too, so the two losses are comparable. A failure is logged and gives None: it never fails the training.
    """
    if record.stages is None:
        return None
    t0 = time.perf_counter()
    try:
        held_plan = plan_training_set(feature_tables, fold=fold, cap=_CURVE_EVENTS, seed=seed, policy=policy,
                                      name=f"classifier '{name}'", held_out=True)
        test = TrainingSet(feature_tables, feature_names, held_plan, policy, scaler).load()
        curve = learning_curve(est, train.X, train.y, train.w, test.X, test.y, test.w,
                               random_state=np.random.default_rng([seed + fold, 7]), stages=record.stages,
                               stages_note=record.stages_note)
    except (ValueError, TypeError, ArithmeticError) as exc:
        log.warning("classifier %s fold %d: no learning curve: %s", name, fold, exc)
        return None
    if curve is not None:
        log.info("classifier %s fold %d: learning curve at %d %s in %.1f s", name, fold, len(curve.x), curve.x_label,
                 time.perf_counter() - t0)
        return curve.to_dict()
    return None


def _fit(est, X: np.ndarray | None, y: np.ndarray | None, w: np.ndarray | None, classifier: dict, fold: int, *,
         stream: tuple[TrainingSet, int] | None = None):
    """``est.fit`` (or, with ``stream=(training_set, memory_bytes)``, the kind's out-of-core fit) with a
    one-line error naming the classifier and fold, and its progress in the log."""
    record = get_kind(classifier["kind"])
    try:
        with training_progress(est, classifier["kind"], what=f"classifier {classifier['name']} fold {fold}",
                               n_events=len(y) if stream is None else stream[0].n_events) as fit_kwargs:
            if stream is None:
                est.fit(X, y, sample_weight=w, **fit_kwargs)
            else:
                est = record.stream_fit(est, stream[0], memory_bytes=stream[1])
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


def score_fold_parts(est, scaler: Scaler, feature_tables: Sequence[str | Path], *, feature_names: Sequence[str],
                     fold: int, train_rows: Mapping[str, np.ndarray], output: str | Path, what: str,
                     block_events: int = BLOCK_EVENTS) -> Scoring:
    """Score a fitted fold model block by block of each part: its held-out fold and its training events.

    Walks the features one block of a part at a time (:func:`hepmva.datasets.iter_feature_blocks`: memory
    bounded by the block, however many events an input file holds), scores the block's events of fold ``fold``
    (role ``test``, the out-of-fold scores) and its events in ``train_rows`` (``{sample: rows}``, role
    ``train``: the overtraining checks), and writes them to ``output`` as a score table
    (:mod:`hepmva.score_parts`: row groups per block and role, a part's rows in order, with label and physics
    weight, so that the evaluation needs no join).

    Raises
    ------
    TrainingError
        On a non-finite score, naming the sample and part.
    """
    columns = [*feature_names, "label", "weight", "fold"]
    seconds, parts = 0.0, set()
    progress = Progress(log, f"{what}: scoring", unit="events")
    with score_parts.ScorePartWriter(output) as writer:
        for sample, part, frame in iter_feature_blocks(feature_tables, columns=columns, block_events=block_events):
            parts.add((sample, part))
            sample = sample_name(sample, frame)  # the events' own sample column: what every reader keys on
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
    return Scoring(writer.counts["test"], writer.counts["train"], len(parts), seconds)


def _isin_sorted(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_keys)`` for sorted keys, by binary search (no sort of the keys)."""
    if not len(sorted_keys):
        return np.zeros(len(values), dtype=bool)
    i = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    return sorted_keys[i] == values
