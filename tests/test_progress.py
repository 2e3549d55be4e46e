"""Progress lines of long work: hepmva.logs.Progress, training progress per classifier kind, the
features stage per chunk."""

import logging

import numpy as np
import pytest

import hepmva.logs
from hepmva.logs import Progress


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_progress_logs_rate_and_time_left_at_most_every_interval(caplog):
    clock = _Clock()
    log = logging.getLogger("hepmva.test")
    with caplog.at_level(logging.INFO, logger="hepmva.test"):
        p = Progress(log, "features ttbar", total=1000, unit="events", interval=10, clock=clock)
        for _ in range(4):  # 100 events per 3 s: a line every 4th chunk at most
            clock.t += 3
            p.update(100)
        clock.t += 3
        p.update(100)
        p.done()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "features ttbar: 400 / 1000 events (40 %), 33.3 events/s, about 18 s left, 12 s elapsed"
    assert lines[-1].endswith("(done)") and "500 / 1000" in lines[-1]
    assert len(lines) == 2


def test_progress_without_total_and_quiet_short_work(caplog):
    clock = _Clock()
    log = logging.getLogger("hepmva.test")
    with caplog.at_level(logging.INFO, logger="hepmva.test"):
        p = Progress(log, "reading", unit="events", interval=10, clock=clock)
        clock.t = 20
        p.update(2_000_000)
        q = Progress(log, "quick", total=5, interval=10, clock=clock)
        q.update(5)
        q.done()  # took no time: nothing to say
    assert [r.getMessage() for r in caplog.records] == ["reading: 2e+06 events, 1e+05 events/s, 20 s elapsed"]


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("kind, params, unit", [
    ("xgboost", {"n_estimators": 4, "max_depth": 2}, "rounds"),
    ("gbdt", {"n_estimators": 4, "max_depth": 2}, "stages"),
    ("adaboost", {"n_estimators": 4}, "rounds"),
    ("hgb", {"max_iter": 4}, "iterations"),
    ("random_forest", {"n_estimators": 4, "max_depth": 3}, "trees"),
    ("bagging", {"n_estimators": 4, "max_depth": 3}, "trees"),
])
def test_training_progress_counts_every_step_and_leaves_the_model_as_without(kind, params, unit, n_jobs, caplog,
                                                                             monkeypatch, capfd):
    from hepmva.models import classifier_score, make_classifier, training_progress

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 3))
    y = (X[:, 0] + rng.normal(size=600) > 0).astype(int)
    w = rng.uniform(0.5, 1.5, 600)
    plain = make_classifier(kind, params, n_jobs=n_jobs, random_state=0).fit(X, y, sample_weight=w)
    capfd.readouterr()
    monkeypatch.setattr(hepmva.logs, "PROGRESS_INTERVAL", 0.0)
    est = make_classifier(kind, params, n_jobs=n_jobs, random_state=0)
    before = est.get_params()
    with caplog.at_level(logging.INFO, logger="hepmva.training"):
        with training_progress(est, kind, what=f"classifier {kind} fold 0", n_events=600) as fit_kwargs:
            est.fit(X, y, sample_weight=w, **fit_kwargs)
    lines = [r.getMessage() for r in caplog.records if r.name == "hepmva.training"]
    assert f"classifier {kind} fold 0: training on 600 events: 4 / 4 {unit} (100 %)" in lines[-1]
    assert any(f"1 / 4 {unit}" in line and f"{unit}/s" in line and "left" in line for line in lines)
    assert est.get_params() == before  # verbose / callbacks restored: the saved model is the plain one
    np.testing.assert_allclose(classifier_score(est, X), classifier_score(plain, X))
    out = capfd.readouterr()  # file descriptors: worker processes' output too
    assert out.out == "" and out.err == ""  # the library's own verbose lines did not reach the terminal


def test_training_progress_leaves_other_kinds_alone():
    from hepmva.models import make_classifier, training_progress

    est = make_classifier("fisher")
    with training_progress(est, "fisher", what="x") as fit_kwargs:
        assert fit_kwargs == {}


def test_features_stage_logs_progress_per_chunk(ntuple_factory, tmp_path, caplog, monkeypatch):
    from hepmva.stages.features import build_features

    n = 5000
    path = ntuple_factory("s.root", n=n)
    monkeypatch.setattr(hepmva.logs, "PROGRESS_INTERVAL", 0.0)
    sample = {"name": "s", "label": "signal", "tree": "Events", "xsec_pb": 1.0, "sum_weights": float(n)}
    with caplog.at_level(logging.INFO, logger="hepmva.stages.features"):
        build_features(sample, [str(path)], features=[{"name": "met", "expr": "met"}], luminosity_pb=1.0, folds=2,
                       step_size=1000, output=tmp_path / "s.json")
    lines = [r.getMessage() for r in caplog.records if "sample s part 0: features:" in r.getMessage()]
    assert len(lines) >= 5  # one per chunk of 1000 entries
    assert lines[0].startswith("sample s part 0: features: 1000 / 5000 events (20 %)") and "events/s" in lines[0]
    assert "about" in lines[0] and "left" in lines[0]


def test_scoring_in_chunks_logs_progress_and_gives_the_same_scores(caplog, monkeypatch):
    from hepmva.models import classifier_score, make_classifier

    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 3))
    y = (X[:, 0] > 0).astype(int)
    est = make_classifier("knn", {"n_neighbors": 10}).fit(X[:500], y[:500], sample_weight=np.ones(500))
    monkeypatch.setattr(hepmva.logs, "PROGRESS_INTERVAL", 0.0)
    with caplog.at_level(logging.INFO, logger="hepmva.training"):
        chunked = classifier_score(est, X, progress="classifier knn fold 0", chunk=1000)
    np.testing.assert_array_equal(chunked, classifier_score(est, X))
    lines = [r.getMessage() for r in caplog.records if "scoring" in r.getMessage()]
    assert lines[0].startswith("classifier knn fold 0: scoring: 1000 / 3000 events (33 %)") and "left" in lines[0]
