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
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from hepmva import io
from hepmva.errors import TrainingError
from hepmva.features import compile_expression, evaluate_selection, make_definitions
from hepmva.samples import assign_folds, physics_weights, training_weights

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
def _resolve_number(spec, files: list[str], what: str) -> float:
    if isinstance(spec, (int, float)):
        return float(spec)
    if what == "xsec_pb":
        return io.read_metadata_value(files, spec["tree"], spec["branch"])
    return io.read_metadata_sum(files, spec["tree"], spec["branch"])


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
    defs = make_definitions(define, aliases)
    feats = [(f["name"], compile_expression(f["expr"], defs), f.get("default")) for f in features]
    cuts = [compile_expression(s, defs) for s in (selection, sample.get("selection")) if s]
    weight_expr = compile_expression(sample["weight"], defs) if sample.get("weight") else None
    id_expr = compile_expression(event_id, defs)
    llr_expr = compile_expression(truth_llr, defs) if truth_llr else None
    exprs = [e for _, e, _ in feats] + cuts + [e for e in (weight_expr, id_expr, llr_expr) if e is not None]
    branches = sorted(set().union(*(e.branches for e in exprs)))

    xsec = _resolve_number(sample["xsec_pb"], files, "xsec_pb")
    sumw_spec = sample["sum_weights"]
    sumw = None if sumw_spec == "auto" else _resolve_number(sumw_spec, files, "sum_weights")
    label = 1 if sample["label"] == "signal" else 0
    log.info("sample %s: %d file(s), tree %s, xsec %.4g pb, reading %d branches", name, len(files), tree, xsec,
             len(branches))

    if sumw is None:  # "auto": a first, cheap pass over the weight branches only
        sumw = _auto_sum_of_weights(name, files, tree, weight_expr, step_size)
    scale = physics_weights(np.ones(1), xsec, luminosity_pb, sumw)[0]

    n_read = n_selected = 0
    total_yield = 0.0
    t0 = time.perf_counter()
    with io.ParquetChunkWriter(output) as writer:
        for file_index, path in enumerate(files):
            for entry_start, chunk in io.iterate_tree(path, tree, branches, step_size=step_size):
                n = len(chunk)
                n_read += n
                mask = np.ones(n, dtype=bool)
                cache: dict = {}  # definitions computed once per chunk, shared by the expressions
                for cut in cuts:
                    mask &= _selection(cut, chunk, path, cache)
                if not mask.any():
                    continue
                sel = chunk[mask]
                cache = {}
                cols: dict[str, np.ndarray] = {}
                for fname, expr, default in feats:
                    values = _evaluate(expr, sel, path, f"feature '{fname}'", default=default, cache=cache)
                    bad = ~np.isfinite(values)
                    if bad.any():
                        raise io.InputError(
                            f"{path}: feature '{fname}' = '{expr.text}' is NaN/inf in {int(bad.sum())} event(s) "
                            f"(first at entry {entry_start + int(np.flatnonzero(mask)[np.argmax(bad)])})"
                        )
                    cols[fname] = values
                gen_w = (np.ones(len(sel)) if weight_expr is None
                         else _evaluate(weight_expr, sel, path, "weight", cache=cache))
                if not np.all(np.isfinite(gen_w)):
                    raise io.InputError(f"{path}: weight '{weight_expr.text}' is NaN/inf in some events")
                ids = np.asarray(_evaluate(id_expr, sel, path, "event id", raw=True)).astype(np.uint64)
                cols["sample"] = np.full(len(ids), name)
                cols["label"] = np.full(len(ids), label, dtype=np.int8)
                cols["weight"] = gen_w * scale
                cols["event"] = ids
                cols["fold"] = assign_folds(ids, folds)
                cols["file_index"] = np.full(len(ids), file_index, dtype=np.int32)
                cols["entry"] = entry_start + np.flatnonzero(mask).astype(np.int64)
                if llr_expr is not None:
                    cols["truth_llr"] = _evaluate(llr_expr, sel, path, "truth_llr")
                writer.write(pd.DataFrame(cols))
                n_selected += len(ids)
                total_yield += float(cols["weight"].sum())
            log.info("sample %s: %s done, %d events read so far (%.1f s)", name, path, n_read,
                     time.perf_counter() - t0)
        if n_read == 0:
            raise io.InputError(f"sample '{name}': the input tree '{tree}' has no entries in {', '.join(files)}")
        if n_selected == 0:
            raise io.InputError(f"sample '{name}': the selection leaves no events ({n_read} read)")
        if not total_yield > 0:
            raise io.InputError(
                f"sample '{name}': the weights of its {n_selected} selected events sum to {total_yield:.6g} "
                f"(in {', '.join(files)}); a sample needs a positive total weight: check its 'weight' "
                f"({sample.get('weight') or 'none'}), 'xsec_pb' and 'sum_weights'"
            )
    log.info("sample %s: %d of %d events selected, expected yield %.4g", name, n_selected, n_read, total_yield)
    return {"sample": name, "n_read": n_read, "n_selected": n_selected, "yield": total_yield,
            "xsec_pb": xsec, "sum_weights": sumw}


def _sum_of_weights(files: Sequence[str], tree: str, weight_expr, step_size) -> tuple[float, int]:
    """Sum of the generator weights of every event in ``files`` (before any selection), and the event count."""
    total, n = 0.0, 0
    for path in files:
        branches = sorted(weight_expr.branches) if weight_expr is not None else []
        if not branches:
            t = io.open_tree(path, tree)
            total += t.num_entries
            n += t.num_entries
            t.file.close()
            continue
        for _, chunk in io.iterate_tree(path, tree, branches, step_size=step_size):
            total += float(np.sum(_evaluate(weight_expr, chunk, path, "weight")))
            n += len(chunk)
    return total, n


def _auto_sum_of_weights(name: str, files: Sequence[str], tree: str, weight_expr, step_size) -> float:
    """``sum_weights: auto``: the sum of the weights of the events *in the files*, checked and logged."""
    sumw, n = _sum_of_weights(files, tree, weight_expr, step_size)
    where = ", ".join(files)
    if n == 0:
        raise io.InputError(
            f"sample '{name}': sum_weights: auto, but the tree '{tree}' has no entries in {where}; "
            "give sum_weights as a number or {tree: Runs, branch: genEventSumw}"
        )
    if not (np.isfinite(sumw) and sumw > 0):
        raise io.InputError(
            f"sample '{name}': sum_weights: auto sums the weights of the {n} events in {where} to {sumw:.6g}; "
            "it must be > 0: give sum_weights as a number or a metadata reference"
        )
    log.info("sample %s: sum_weights: auto = %.8g (the weights of the %d events in the files; if the files hold "
             "only selected events this is NOT the generated sum: give sum_weights explicitly)", name, sumw, n)
    return sumw


def _evaluate(expr, arrays, path: str, what: str, *, default=None, raw: bool = False, cache=None) -> np.ndarray:
    try:
        out = expr.evaluate(arrays, default=default, cache=cache)
    except ValueError as exc:
        raise io.InputError(f"{path}: {what}: {exc}") from None
    return out if raw else np.asarray(out, dtype=np.float64)


def _selection(expr, arrays, path: str, cache=None) -> np.ndarray:
    try:
        return evaluate_selection(expr, arrays, cache=cache)
    except ValueError as exc:
        raise io.InputError(f"{path}: selection: {exc}") from None


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
        raise io.InputError(f"features table lacks column(s) {', '.join(missing)}: re-run the features stage")
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
            raise TrainingError(f"{study}: the {name} events have only one class")
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
        raise TrainingError(
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
        raise TrainingError(
            f"classifier '{classifier['name']}': xgboost refuses negative training weights; "
            "set training.negative_weights to abs or zero"
        )
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
        score = classifier_score(est, Xs)
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
        # capped peers (hepmva.peers SVM / k-NN) state how they were trained
        "fitted_mode": getattr(est, "fitted_mode_", None), "n_train_used": getattr(est, "n_train_used_", None),
        "learning_curve": _learning_curve(est, Xs, y, df["weight"].to_numpy(), train_idx, w_train, is_test,
                                          training, seed=int(seed) + fold, name=classifier["name"], fold=fold),
    }
    model_dir = Path(model_dir)
    tmp_dir = model_dir.with_name(f".{model_dir.name}.tmp{os.getpid()}")
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
    feats = load_feature_tables(feature_tables)
    keep = ["sample", "row", "label", "weight"] + (["truth_llr"] if "truth_llr" in feats else [])
    scores = io.read_tables(score_tables)
    df = scores.merge(feats[keep], on=["sample", "row"], how="left", validate="many_to_one")
    n_test = (df["role"] == "test").sum()
    if n_test != len(feats):
        raise io.InputError(f"scores cover {n_test} of {len(feats)} events: a fold's scores are missing or stale")
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
