"""The permutation importance in two halves (hepmva.studies.importance): each train job scores its fold's events of
the subsample, shuffled and not; the evaluate job joins them. Checked against the single-process reference
(hepmva.metrics.permutation_importance, which is checked against scikit-learn's in tests/test_metrics.py) on the
same events, shuffles and reloaded fold models."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hepmva import io, metrics
from hepmva.errors import InputError
from hepmva.models import classifier_score, load_estimator
from hepmva.persistence import read_model_info
from hepmva.preprocessing import Scaler
from hepmva.stages.evaluate import permutation_importance_study
from hepmva.stages.train import train_fold
from hepmva.studies.importance import (IMPORTANCE_STREAM, combine_fold_importance, importance_events_for,
                                       permuted_fold_scores)
from hepmva.training_set import random_events

NAMES = ["strong", "weak", "noise"]


def _tables(tmp_path, n=1500, seed=2):
    rng = np.random.default_rng(seed)
    tables = []
    for sample, label in (("sig", 1), ("bkg", 0)):
        df = pd.DataFrame({"strong": rng.normal(size=n) + 2.0 * label, "weak": rng.normal(size=n) + 0.3 * label,
                           "noise": rng.normal(size=n)})
        df["label"], df["weight"], df["sample"] = label, rng.uniform(0.5, 1.5, n), sample
        df["fold"], df["event"] = rng.integers(0, 2, n), np.arange(n, dtype=np.uint64)
        path = tmp_path / f"{sample}.parquet"
        io.write_table(df, path)
        tables.append(path)
    return tables


def _train(tmp_path, tables, kind, params, *, n_events=2000, n_repeats=2):
    dirs, files = [], []
    for fold in (0, 1):
        train_fold(tables, classifier={"name": "c", "kind": kind, "params": params}, fold=fold, feature_names=NAMES,
                   training={}, model_dir=tmp_path / f"m{fold}", scores_path=tmp_path / f"s{fold}.parquet",
                   importance_path=tmp_path / f"imp{fold}.npz",
                   importance={"importance_events": n_events, "importance_repeats": n_repeats})
        dirs.append(tmp_path / f"m{fold}")
        files.append(tmp_path / f"imp{fold}.npz")
    return dirs, files


@pytest.mark.parametrize(("kind", "params"), [("decision_tree", {"max_depth": 4}), ("knn", {"n_neighbors": 20}),
                                              ("mlp", {"hidden_layer_sizes": [8], "solver": "lbfgs", "max_iter": 100})])
def test_two_halves_equal_the_single_process_reference_on_the_reloaded_models(tmp_path, kind, params):
    tables = _tables(tmp_path)
    dirs, files = _train(tmp_path, tables, kind, params)
    res = permutation_importance_study(files, feature_names=NAMES, name="c", json_path=tmp_path / "imp.json",
                                       plot_path=tmp_path / "imp.png")

    # the reference: the events and shuffles drawn as the evaluate job drew them before, the models from disk
    n_events = importance_events_for(kind, 2000)
    df = random_events(tables, NAMES, n_events, seed=0, stream=IMPORTANCE_STREAM)
    X, fold = df[NAMES].to_numpy(dtype=np.float64), df["fold"].to_numpy()
    models = {}
    for d in dirs:
        info = read_model_info(d / "model.json")
        models[int(info["fold"])] = (load_estimator(d, n_jobs=1), Scaler.from_dict(info["scaler"]))

    def score_fn(Z):
        out = np.empty(len(Z))
        for k, (est, scaler) in models.items():
            m = fold == k
            out[m] = classifier_score(est, scaler.transform(Z[m]))
        return out

    ref = metrics.permutation_importance(score_fn, X, df["label"].to_numpy(), df["weight"].to_numpy(), n_repeats=2,
                                         feature_names=NAMES, random_state=np.random.default_rng([0, 5]))
    assert res["n_events"] == len(df) == (n_events or 3000)
    np.testing.assert_allclose(res["baseline_auc"], ref.baseline_auc, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res["importances_mean"], ref.importances_mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res["importances_std"], ref.importances_std, rtol=0, atol=1e-12)
    mean = np.asarray(res["importances_mean"])
    assert mean[0] > 0.2 and mean[0] > mean[1] > mean[2] - 0.01  # the strong feature first, the noise last
    assert 0.85 < res["baseline_auc"] < 1
    assert (res["own_importance"] is not None) == (kind == "decision_tree")
    saved = json.loads((tmp_path / "imp.json").read_text())
    assert saved["features"] == NAMES and (tmp_path / "imp.png").stat().st_size > 3000


def test_missing_or_mismatched_fold_files_are_refused_in_one_line(tmp_path):
    tables = _tables(tmp_path, n=600)
    _, files = _train(tmp_path, tables, "fisher", {}, n_events=500)
    folds = {str(p): io.read_arrays(p) for p in files}
    with pytest.raises(InputError, match="do not cover the importance subsample once"):
        combine_fold_importance({str(files[0]): folds[str(files[0])]}, NAMES)
    with pytest.raises(InputError, match="do not cover"):
        combine_fold_importance({"a": folds[str(files[0])], "b": folds[str(files[0])], "c": folds[str(files[1])]}, NAMES)
    other = dict(folds[str(files[1])], n_repeats=np.int64(5))
    with pytest.raises(InputError, match="other features, events or importance settings"):
        combine_fold_importance({str(files[0]): folds[str(files[0])], "other": other}, NAMES)
    with pytest.raises(InputError, match="not a permutation-importance file"):
        combine_fold_importance({"old": dict(folds[str(files[0])], format=np.int64(0))}, NAMES)


def test_fold_file_is_plain_arrays_and_object_arrays_are_refused(tmp_path):
    X = np.random.default_rng(0).normal(size=(50, 3))
    arrays = permuted_fold_scores(lambda Z: Z[:, 0], X, np.arange(50) % 2, np.ones(50), np.arange(50) % 3 == 0,
                                  fold=1, feature_names=NAMES, n_repeats=2, seed=0)
    io.write_arrays(arrays, tmp_path / "a.npz")
    back = io.read_arrays(tmp_path / "a.npz")
    assert set(back) == set(arrays) and back["permuted"].shape == (3, 2, 17)
    np.save(tmp_path / "o.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "o.npz", bad=np.array([{"x": 1}], dtype=object))
    with pytest.raises(InputError, match="not a plain-array file"):
        io.read_arrays(tmp_path / "o.npz")
