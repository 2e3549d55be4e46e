"""The GA-optimised rectangular-cut classifier (CutsGA)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.base import clone

from hepmva.cuts import CutsGAClassifier, window_efficiencies
from hepmva.metrics import roc_curve


def _gaussians_1d(n=10000, seed=0):
    """Signal N(+1, 1), background N(-1, 1): the best cut at efficiency t is x >= 1 + z_(1-t)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(int)
    X = (rng.normal(size=n) + np.where(y == 1, 1.0, -1.0))[:, None]
    return X, y


def _box_2d(n=20000, seed=1):
    """Signal uniform in the box [-1, 1]^2, background wider: the ideal window is the box."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(int)
    X = np.where(y[:, None] == 1, rng.uniform(-1, 1, (n, 2)), rng.normal(0, 2.0, (n, 2)))
    w = rng.uniform(0.5, 1.5, size=n)
    return X, y, w


@pytest.fixture(scope="module")
def box_model():
    X, y, w = _box_2d()
    return CutsGAClassifier(random_state=0).fit(X, y, sample_weight=w), (X, y, w)


def test_cut_efficiency_close_to_neyman_pearson_in_1d():
    X, y = _gaussians_1d()
    targets = [0.2, 0.5, 0.8]
    clf = CutsGAClassifier(target_efficiencies=targets, max_events=None, random_state=0).fit(X, y)
    for t, eff_s, eff_b in zip(clf.targets_, clf.eff_s_, clf.eff_b_, strict=True):
        c = 1.0 + norm.ppf(1.0 - eff_s)  # optimal cut keeping eff_s of the signal
        best_b = norm.sf(c + 1.0)
        assert -0.01 < eff_s - t < 0.03  # flat fitness near the optimum: small overshoot
        assert eff_b <= best_b + 0.01, (t, eff_b, best_b)
    # a single one-sided cut is optimal in 1-D: no upper cut where it would cost signal
    assert np.all(np.isneginf(clf.lower_) | (clf.lower_ < 3))


def test_windows_are_nested_and_score_roc_equals_the_envelope(box_model):
    clf, (X, y, w) = box_model
    assert np.all(np.diff(clf.lower_, axis=0) <= 0) and np.all(np.diff(clf.upper_, axis=0) >= 0)
    score = clf.decision_function(X)
    roc = roc_curve(y, score, w)
    sig = y == 1
    for k, t in enumerate(clf.targets_):
        sel = score >= 1.0 - t
        assert np.isclose(w[sel & sig].sum() / w[sig].sum(), clf.eff_s_[k])
        assert np.isclose(w[sel & ~sig].sum() / w[~sig].sum(), clf.eff_b_[k])
        # each working point is a vertex of the ROC curve of the score
        near = np.isclose(roc.eff_s, clf.eff_s_[k]) & np.isclose(roc.eff_b, clf.eff_b_[k])
        assert near.any()
    P = clf.passes(X)
    np.testing.assert_array_equal(P[:, :-1] <= P[:, 1:], True)  # pass tight => pass looser


def test_box_is_found_and_beats_any_single_window_of_random_search(box_model):
    clf, (X, y, w) = box_model
    k = int(np.argmin(np.abs(clf.targets_ - 0.9)))
    # the ideal window [-1, 1]^2 keeps all the signal at ~ (0.38)^2 = 0.15 of the background
    assert clf.eff_b_[k] < 0.2
    # random search over windows with the same number of evaluations does worse
    rng = np.random.default_rng(0)
    X, y, w = X[:5000], y[:5000], w[:5000]
    n_evals = 30 * 90 + 10 * 30 * 30
    lo = rng.uniform(-4, 4, size=(n_evals, 2))
    hi = lo + rng.uniform(0, 8, size=(n_evals, 2))
    eff_s, eff_b = window_efficiencies(X, y == 1, w, lo, hi)
    ok = eff_s >= clf.eff_s_[k] - 0.01
    assert clf.eff_b_[k] < eff_b[ok].min()


def test_predict_uses_working_point(box_model):
    clf, (X, y, w) = box_model
    clf2 = clone(clf).set_params(working_point=0.5)
    clf2.__dict__.update({k: v for k, v in clf.__dict__.items() if k.endswith("_")})
    k = int(np.argmin(np.abs(clf.targets_ - 0.5)))
    np.testing.assert_array_equal(clf2.predict(X) == 1, clf.passes(X)[:, k])


def test_readable_export_and_state_round_trip(box_model):
    clf, (X, _, _) = box_model
    table = json.loads(clf.to_json(["pt", "eta"]))
    assert [r["target_efficiency"] for r in table] == list(clf.targets_)
    assert set(table[0]["cuts"]) <= {"pt", "eta"}
    text = clf.to_text(["pt", "eta"])
    assert "target 0.500" in text and "pt" in text
    meta, arrays = clf.export_state()
    meta = json.loads(json.dumps(meta))
    clone_ = CutsGAClassifier.from_state(meta, {k: np.asarray(v) for k, v in arrays.items()})
    np.testing.assert_array_equal(clone_.decision_function(X), clf.decision_function(X))
    assert clone_.to_text() == clf.to_text()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target_efficiencies": [0.5, 1.5]}, "target_efficiencies"),
        ({"pop_size": 0}, "pop_size"),
        ({"penalty": -1.0}, "penalty"),
    ],
)
def test_bad_parameters(kwargs, match):
    X, y = _gaussians_1d(200)
    with pytest.raises(ValueError, match=match):
        CutsGAClassifier(**kwargs).fit(X, y)


def test_needs_two_classes():
    X, _ = _gaussians_1d(200)
    with pytest.raises(ValueError, match="2 classes"):
        CutsGAClassifier().fit(X, np.zeros(200))


def test_write_cuts_in_original_units(box_model, tmp_path):
    clf, (X, _, _) = box_model
    offset, scale = np.array([10.0, -1.0]), np.array([2.0, 0.5])
    files = clf.write_cuts(tmp_path / "model", ["pt", "eta"], offset=offset, scale=scale)
    assert [f.name for f in files] == ["cuts.txt", "cuts.json"]
    table = json.loads((tmp_path / "model" / "cuts.json").read_text())
    k = 0
    lo = clf.lower_[k]
    for j, name in enumerate(["pt", "eta"]):
        if np.isfinite(lo[j]):
            assert table[k]["cuts"][name]["min"] == pytest.approx(offset[j] + scale[j] * lo[j])
    assert "pt" in (tmp_path / "model" / "cuts.txt").read_text()
    with pytest.raises(ValueError, match="scale"):
        clf.cuts_table(scale=np.array([1.0, -1.0]))
