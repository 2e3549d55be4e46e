"""The study's stages as functions: each workflow script calls exactly one of these.

Data flow (one direction)::

    ROOT files --build_features--> results/features/{sample}.parquet
               --train_fold------> results/models/{clf}/fold{k}/ (model) + scores_fold{k}.parquet
               --collect_scores--> results/scores/{clf}.parquet (out-of-fold + train scores)
               --evaluate--------> results/metrics/{clf}.json (+ plots)
               --summarize-------> results/summary.{md,csv}
               --write_friends---> ROOT friend trees with the out-of-fold scores

Every function takes plain values (paths, config blocks) and writes its outputs atomically.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from hepmva import io
from hepmva.feature_table import compile_program, evaluate_chunk, sample_scale
from hepmva.samples import assign_folds, training_weights

__all__ = [
    "build_features",
    "load_feature_tables",
    "StudySplit",
    "study_split",
    "train_fold",
    "collect_scores",
    "write_json",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------- features
def build_features(
    sample: dict,
    files: Sequence[str],
    *,
    features: Sequence[dict],
    luminosity_pb: float,
    folds: int,
    event_id: str = "event",
    selection: str | None = None,
    truth_llr: str | None = None,
    spectators: Sequence[dict] = (),
    step_size: int | str = "50 MB",
    define: dict | None = None,
    aliases: dict | None = None,
    output: str | Path,
) -> dict:
    """Read one sample's ROOT files chunk by chunk and write its features table.

    Parameters
    ----------
    sample : dict
        The sample's config block (name, label, tree, weight, xsec_pb, sum_weights, selection).
    files : sequence of str
        Input files (globs allowed).
    features : sequence of dict
        Feature definitions (name, expr, optional default).
    luminosity_pb : float
        Integrated luminosity in pb^-1.
    folds : int
        Number of folds.
    event_id, selection, truth_llr : str
        Event-id branch, global selection expression, optional exact-llr branch.
    spectators : sequence of dict
        Variables carried into the table but never trained on (name, expr, optional default).
    step_size : int or str
        Chunk size for uproot.
    define, aliases : dict, optional
        Named definitions and branch aliases (config ``define:``/``aliases:``) the expressions use.
    output : path
        Parquet file to write (atomically).

    Returns
    -------
    dict : counts and yield of the sample (the table itself is written chunk by chunk to ``output``,
        so memory stays bounded by the chunk size).
    """
    name = sample["name"]
    files = io.expand_files(files)
    tree = sample.get("tree", "Events")
    program = compile_program(features, event_id=event_id, selections=(selection, sample.get("selection")),
                              weights={"weight": sample.get("weight")}, spectators=spectators, truth_llr=truth_llr,
                              define=define, aliases=aliases)
    label = 1 if sample["label"] == "signal" else 0
    log.info("sample %s: %d file(s), tree %s, reading %d branches", name, len(files), tree, len(program.branches))
    xsec, sumw, scale = sample_scale(sample, files, luminosity_pb, program.weights[0][1], step_size)
    log.info("sample %s: xsec %.4g pb, sum of weights %.6g", name, xsec, sumw)

    n_read = n_selected = 0
    total_yield = 0.0
    t0 = time.perf_counter()
    with io.ParquetChunkWriter(output) as writer:
        for file_index, path in enumerate(files):
            for entry_start, chunk in io.iterate_tree(path, tree, program.branches, step_size=step_size):
                n_read += len(chunk)
                cols = evaluate_chunk(program, chunk, path=path, entry_start=entry_start)
                ids = cols["event"]
                if not len(ids):
                    continue
                cols["weight"] = cols["weight"] * scale
                cols.update(sample=np.full(len(ids), name), label=np.full(len(ids), label, dtype=np.int8),
                            fold=assign_folds(ids, folds), file_index=np.full(len(ids), file_index, dtype=np.int32))
                writer.write(pd.DataFrame(cols)[_table_columns(program)])
                n_selected += len(ids)
                total_yield += float(cols["weight"].sum())
            log.info("sample %s: %s done, %d events read so far (%.1f s)", name, path, n_read,
                     time.perf_counter() - t0)
        if n_read == 0:
            raise io.InputError(f"sample '{name}': the input tree '{tree}' has no entries in {', '.join(files)}")
        if n_selected == 0:
            raise io.InputError(f"sample '{name}': the selection leaves no events ({n_read} read)")
    log.info("sample %s: %d of %d events selected, expected yield %.4g", name, n_selected, n_read, total_yield)
    return {"sample": name, "n_read": n_read, "n_selected": n_selected, "yield": total_yield,
            "xsec_pb": xsec, "sum_weights": sumw}


def _table_columns(program) -> list[str]:
    """Column order of a features table: features, bookkeeping, then spectators and truth."""
    cols = [n for n, _, _ in program.features]
    cols += ["sample", "label", "weight", "event", "fold", "file_index", "entry"]
    cols += [n for n, _, _ in program.spectators] + (["truth_llr"] if program.truth_llr is not None else [])
    return cols


def load_feature_tables(paths: Sequence[str | Path], feature_names: Sequence[str] = ()) -> pd.DataFrame:
    """Concatenate the per-sample feature tables, checking every feature column is there.

    Adds ``row``, the event's position in its sample's table: with ``sample`` it is the key that
    score tables use to refer to an event.
    """
    tables = [io.read_table(p) for p in paths]
    for t in tables:
        t["row"] = np.arange(len(t))
    df = pd.concat(tables, ignore_index=True)
    missing = [f for f in feature_names if f not in df.columns]
    if missing:
        raise ValueError(f"features table lacks column(s) {', '.join(missing)}: re-run the features stage")
    return df


class StudySplit(NamedTuple):
    """Scaled training and validation arrays of a study (see :func:`study_split`)."""

    X: np.ndarray          # (n_train, n_features), scaled
    y: np.ndarray          # (n_train,)
    w: np.ndarray          # (n_train,) training weights
    X_val: np.ndarray      # (n_val, n_features), scaled with the training scaler
    y_val: np.ndarray      # (n_val,)
    w_val: np.ndarray      # (n_val,) the training-weight policy applied to the validation events
    w_val_physics: np.ndarray  # (n_val,) physics weights of the validation events
    scaler: "object"


def study_split(feature_tables: Sequence[str | Path], feature_names: Sequence[str], training: dict, *,
                n_train: int, n_val: int, seed: int, stream: int, study: str) -> StudySplit:
    """Training events from folds != 0 and validation events from fold 0, randomly capped, scaled.

    The studies (optimizer study, training-methods comparison) use this so that they see the same kind
    of split as the classifiers. ``stream`` separates the random subsamples of different studies.
    """
    from hepmva.preprocessing import fit_scaler

    df = load_feature_tables(feature_tables, feature_names)
    X_all = df[list(feature_names)].to_numpy(dtype=np.float64)
    y_all = df["label"].to_numpy().astype(np.int64)
    w_all = df["weight"].to_numpy(dtype=np.float64)
    is_val = df["fold"].to_numpy() == 0
    rng = np.random.default_rng([int(seed), int(stream)])

    def subsample(mask: np.ndarray, n: int) -> np.ndarray:
        idx = np.flatnonzero(mask)
        if len(idx) > n:
            idx = np.sort(rng.choice(idx, size=n, replace=False))
        return idx

    i_train, i_val = subsample(~is_val, int(n_train)), subsample(is_val, int(n_val))
    for name, idx in (("training", i_train), ("validation", i_val)):
        if np.unique(y_all[idx]).size < 2:
            raise ValueError(f"{study}: the {name} events have only one class")
    policy = {"negative_weights": training.get("negative_weights", "abs"),
              "class_balance": training.get("class_balance", True)}
    w_train = training_weights(w_all[i_train], y_all[i_train], **policy)
    w_val = training_weights(w_all[i_val], y_all[i_val], **policy)
    scaler = fit_scaler(X_all[i_train], w_train, training.get("scaler", "standard"))
    return StudySplit(scaler.transform(X_all[i_train]), y_all[i_train], w_train, scaler.transform(X_all[i_val]),
                      y_all[i_val], w_val, w_all[i_val], scaler)


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
    from hepmva.models import classifier_score, make_classifier, save_estimator
    from hepmva.preprocessing import fit_scaler

    df = load_feature_tables(feature_tables, feature_names)
    X = df[list(feature_names)].to_numpy(dtype=np.float64)
    y = df["label"].to_numpy().astype(np.int64)
    is_test = df["fold"].to_numpy() == fold
    train_idx = np.flatnonzero(~is_test)
    rng = np.random.default_rng([seed, fold])
    cap = classifier.get("max_train_events")
    if cap is not None and len(train_idx) > cap:
        train_idx = np.sort(rng.choice(train_idx, size=cap, replace=False))
    y_train = y[train_idx]
    if len(np.unique(y_train)) < 2:
        raise ValueError(
            f"classifier '{classifier['name']}' fold {fold}: the training set has only one class; "
            "need signal and background events in every fold"
        )
    w_train = training_weights(
        df["weight"].to_numpy()[train_idx], y_train,
        negative_weights=training.get("negative_weights", "abs"),
        class_balance=training.get("class_balance", True),
    )
    scaler = fit_scaler(X[train_idx], w_train, training.get("scaler", "standard"))
    Xs = scaler.transform(X)
    est = make_classifier(classifier["kind"], classifier.get("params"), n_jobs=threads,
                          random_state=int(seed) + fold)
    log.info("classifier %s fold %d: training %s on %d events (%d features)", classifier["name"], fold,
             classifier["kind"], len(train_idx), X.shape[1])
    if classifier["kind"] == "xgboost" and (w_train < 0).any():
        raise ValueError(
            f"classifier '{classifier['name']}': xgboost refuses negative training weights; "
            "set training.negative_weights to abs or zero"
        )
    # every library's thread pools (OpenMP, BLAS) limited to the rule's threads: no oversubscription
    # when Snakemake runs several jobs side by side
    with threadpool_limits(limits=max(int(threads), 1)):
        t0 = time.perf_counter()
        est = _fit(est, Xs[train_idx], y_train, w_train, classifier, fold)
        train_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        score = classifier_score(est, Xs)
        predict_seconds = time.perf_counter() - t0
    if not np.all(np.isfinite(score)):
        raise ValueError(f"classifier '{classifier['name']}' fold {fold}: non-finite scores (training diverged?)")
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
        # capped peers (hepmva.peers SVM / k-NN) state how they were trained
        "fitted_mode": getattr(est, "fitted_mode_", None), "n_train_used": getattr(est, "n_train_used_", None),
        "learning_curve": _learning_curve(est, Xs, y, df["weight"].to_numpy(), train_idx, w_train, is_test,
                                          training, seed=int(seed) + fold, name=classifier["name"], fold=fold),
    }
    model_dir = Path(model_dir)
    tmp_dir = model_dir.with_name(f".{model_dir.name}.tmp")
    if tmp_dir.exists():
        shutil.rmtree(tmp_dir)
    save_estimator(est, classifier["kind"], tmp_dir)
    if hasattr(est, "write_cuts"):  # CutsGA: the chosen cuts, readable, in original feature units
        est.write_cuts(tmp_dir, feature_names, offset=scaler.offset_, scale=scaler.scale_)
    write_json(info, tmp_dir / "model.json")
    info["model_bytes"] = sum(p.stat().st_size for p in tmp_dir.iterdir())
    write_json(info, tmp_dir / "model.json")
    if model_dir.exists():
        shutil.rmtree(model_dir)
    tmp_dir.rename(model_dir)
    io.write_table(scores, scores_path)
    return info


def _learning_curve(est, Xs: np.ndarray, y: np.ndarray, weight: np.ndarray, train_idx: np.ndarray,
                    w_train: np.ndarray, is_test: np.ndarray, training: dict, *, seed: int, name: str,
                    fold: int) -> dict | None:
    """The fitted model's learning curve on (subsamples of) its training and held-out events, as JSON.

    The held-out events get the training-weight policy too, so the two losses are comparable. A
    failure is logged and gives None: it never fails the training.
    """
    from hepmva.learning_curves import learning_curve

    t0 = time.perf_counter()
    try:
        y_test = y[is_test]
        w_test = training_weights(weight[is_test], y_test, negative_weights=training.get("negative_weights", "abs"),
                                  class_balance=training.get("class_balance", True))
        curve = learning_curve(est, Xs[train_idx], y[train_idx], w_train, Xs[is_test], y_test, w_test,
                               random_state=np.random.default_rng([seed, 7]))
    except (ValueError, TypeError, ArithmeticError) as exc:
        log.warning("classifier %s fold %d: no learning curve: %s", name, fold, exc)
        return None
    if curve is not None:
        log.info("classifier %s fold %d: learning curve at %d %s in %.1f s", name, fold, len(curve.x), curve.x_label,
                 time.perf_counter() - t0)
        return curve.to_dict()
    return None


def _fit(est, X: np.ndarray, y: np.ndarray, w: np.ndarray, classifier: dict, fold: int):
    """``est.fit`` with a one-line error naming the classifier and fold."""
    try:
        est.fit(X, y, sample_weight=w)
    except (ValueError, TypeError, ArithmeticError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"classifier '{classifier['name']}' ({classifier['kind']}) fold {fold}: training failed: {first}"
        ) from exc
    return est


def collect_scores(score_tables: Sequence[str | Path], feature_tables: Sequence[str | Path],
                   output: str | Path) -> pd.DataFrame:
    """Join the fold models' scores with labels and weights.

    Output columns: sample, row, label, weight, fold, role, score (+ truth_llr when present). Each
    event has exactly one ``test`` row (its out-of-fold score) and k-1 ``train`` rows.
    """
    feats = load_feature_tables(feature_tables)
    keep = ["sample", "row", "label", "weight"] + (["truth_llr"] if "truth_llr" in feats else [])
    scores = io.read_tables(score_tables)
    df = scores.merge(feats[keep], on=["sample", "row"], how="left", validate="many_to_one")
    n_test = (df["role"] == "test").sum()
    if n_test != len(feats):
        raise ValueError(f"scores cover {n_test} of {len(feats)} events: a fold's scores are missing or stale")
    io.write_table(df, output)
    return df


def write_json(obj, path: str | Path) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with io.atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
