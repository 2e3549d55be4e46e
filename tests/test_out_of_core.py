"""Out-of-core training (xgboost's external-memory iterator, the MLP's streamed mini-batches) and the budget."""

import json
import logging

import numpy as np
import pytest
import xgboost
from sklearn.metrics import roc_auc_score

from hepmva import io
from hepmva.datasets import TrainingPolicy
from hepmva.errors import TrainingError
from hepmva.models import KINDS, fit_memory_mb, fit_mode, get_kind, make_classifier
from hepmva.nn import MLPClassifier
from hepmva.nn.mlp import FIRST_ORDER_SOLVERS
from hepmva.out_of_core import fit_mlp_streamed, fit_xgboost_external
from hepmva.stages.train import train_fold
from hepmva.training_set import TrainingSet, plan_training_set
from tests.test_training_set import FEATURES, write_tables

POLICY = TrainingPolicy.from_config({})


def _sets(tmp_path, n_sig=6000, n_bkg=10000, **kw):
    paths = write_tables(tmp_path, {"sig": (1, n_sig), "ttbar": (0, n_bkg // 2), "wjets": (0, n_bkg // 2)}, **kw)
    plan = plan_training_set(paths, fold=0, cap=None, seed=1, policy=POLICY)
    tset = TrainingSet(paths, FEATURES, plan, POLICY)
    tset = tset.with_scaler(tset.fit_scaler())
    held = plan_training_set(paths, fold=0, cap=None, seed=1, policy=POLICY, held_out=True)
    return paths, tset, TrainingSet(paths, FEATURES, held, POLICY, tset.scaler).load()


def _auc(est, test):
    return roc_auc_score(test.y, est.predict_proba(test.X)[:, 1], sample_weight=np.abs(test.weight))


def test_xgboost_external_memory_over_several_batches_matches_in_memory_auc(tmp_path, caplog):
    _, tset, test = _sets(tmp_path)
    params = {"n_estimators": 60, "max_depth": 3, "learning_rate": 0.2, "n_jobs": 1}
    data = tset.load()
    ref = xgboost.XGBClassifier(**params).fit(data.X, data.y, sample_weight=data.w)
    with caplog.at_level(logging.INFO, logger="hepmva"):
        est = fit_xgboost_external(xgboost.XGBClassifier(**params), tset, memory_bytes=200_000)
    batches = int(next(r.getMessage() for r in caplog.records if "external memory" in r.getMessage())
                  .split(" in ")[1].split()[0])
    assert batches >= 5  # really streamed in pieces
    assert est.get_booster().num_boosted_rounds() == 60 and list(est.classes_) == [0, 1]
    a_ref, a_ext = _auc(ref, test), _auc(est, test)
    assert a_ext > 0.7 and abs(a_ext - a_ref) < 0.005, (a_ext, a_ref)
    # it is saved and reloaded as any xgboost model
    est.save_model(tmp_path / "m.ubj")
    back = xgboost.XGBClassifier()
    back.load_model(tmp_path / "m.ubj")
    np.testing.assert_array_equal(back.predict_proba(test.X), est.predict_proba(test.X))


def test_mlp_streaming_equals_in_memory_with_one_buffer_and_is_close_with_small_ones(tmp_path):
    _, tset, test = _sets(tmp_path)
    kw = dict(hidden_layer_sizes=(16,), max_iter=6, random_state=3, batch_size=128, learning_rate_init=3e-3)
    data = tset.load()
    ref = MLPClassifier(**kw).fit(data.X, data.y, data.w)
    one = MLPClassifier(**kw).fit_stream(tset, buffer_events=10**7)
    np.testing.assert_array_equal(one._theta, ref._theta)
    assert one.loss_curve_ == ref.loss_curve_
    small = MLPClassifier(**kw).fit_stream(tset, buffer_events=1000)
    assert small.t_ == ref.t_  # the same number of updates: one epoch is one pass over everything
    assert abs(_auc(small, test) - _auc(ref, test)) < 0.01 and _auc(small, test) > 0.7
    # deterministic for the seed
    np.testing.assert_array_equal(MLPClassifier(**kw).fit_stream(tset, buffer_events=1000)._theta, small._theta)


def test_mlp_streaming_with_early_stopping_holds_out_a_validation_set(tmp_path):
    _, tset, test = _sets(tmp_path)
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=8, random_state=0, early_stopping=True, n_iter_no_change=3)
    est = fit_mlp_streamed(est, tset, memory_bytes=300_000)
    assert len(est.validation_loss_curve_) == est.n_iter_ > 0
    assert _auc(est, test) > 0.7
    with pytest.raises(ValueError, match="needs validation_data"):
        MLPClassifier(early_stopping=True).fit_stream(tset, buffer_events=1000)
    with pytest.raises(ValueError, match="cannot stream"):
        MLPClassifier(solver="lbfgs").fit_stream(tset, buffer_events=1000)


def test_budget_switches_streaming_kinds_and_refuses_the_others_in_one_line():
    assert get_kind("mlp").stream_when[1] == FIRST_ORDER_SOLVERS  # the record names exactly the streaming solvers
    assert {k for k, r in KINDS.items() if r.streams} == {"xgboost", "mlp"}
    n, d = 2_000_000, 20
    need = fit_memory_mb("svm", n, d)
    assert fit_mode(make_classifier("svm"), "svm", name="s", n_events=n, n_features=d, budget_mb=need * 2) == "memory"
    assert fit_mode(make_classifier("xgboost"), "xgboost", name="b", n_events=n, n_features=d, budget_mb=10) == "stream"
    assert fit_mode(make_classifier("mlp"), "mlp", name="m", n_events=n, n_features=d, budget_mb=10) == "stream"
    for kind, params in (("svm", {}), ("mlp", {"solver": "bfgs"})):
        with pytest.raises(TrainingError) as err:
            fit_mode(make_classifier(kind, params), kind, name="c1", n_events=n, n_features=d, budget_mb=100)
        msg = str(err.value)
        assert "\n" not in msg and "classifier 'c1'" in msg and f"~{fit_memory_mb(kind, n, d):.0f} MB" in msg
        assert "training.memory_budget_mb = 100" in msg and "max_train_events to at most" in msg
        fits = int(msg.split("at most ")[1].split()[0])
        assert fit_memory_mb(kind, fits, d) <= 100 < fit_memory_mb(kind, fits + 100, d)


@pytest.mark.parametrize("kind, params", [("xgboost", {"n_estimators": 30, "max_depth": 3}),
                                          ("mlp", {"hidden_layer_sizes": [8], "max_iter": 15, "learning_rate_init": 0.01,
                                                   "early_stopping": True})])
def test_train_fold_over_the_budget_trains_out_of_core(tmp_path, caplog, kind, params):
    paths, _, _ = _sets(tmp_path, n_sig=4000, n_bkg=6000)
    clf = {"name": f"c_{kind}", "kind": kind, "params": params}
    with caplog.at_level(logging.INFO, logger="hepmva"):
        info = train_fold(paths, classifier=clf, fold=0, feature_names=FEATURES, training={"memory_budget_mb": 0.2},
                          seed=1, model_dir=tmp_path / "m", scores_path=tmp_path / "s.parquet")
    assert any("OUT OF CORE" in r.getMessage() for r in caplog.records)
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["fit_mode"] == "stream" and meta["fit_memory_mb"] > 0.2 and info["n_train"] == meta["n_train"]
    scores = io.read_table(tmp_path / "s.parquet")
    test = scores[scores.role == "test"]
    labels = {"sig": 1, "ttbar": 0, "wjets": 0}
    assert roc_auc_score(test["sample"].map(labels), test["score"]) > 0.7
    assert meta["learning_curve"] is not None
    # a kind that cannot stream stops in one line, nothing written
    with pytest.raises(TrainingError, match="cannot train out of core") as err:
        train_fold(paths, classifier={"name": "f", "kind": "fisher"}, fold=0, feature_names=FEATURES,
                   training={"memory_budget_mb": 0.2}, model_dir=tmp_path / "f", scores_path=tmp_path / "f.parquet")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "f").exists() and not (tmp_path / "f.parquet").exists()
