"""Tests for hepmva.metrics: oracles are sklearn.metrics, scipy.stats and brute force."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from hepmva import metrics as m


def _toy(n: int, seed: int = 0, *, ties: bool = False, negative: bool = False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = rng.normal(size=n) + 0.8 * y
    if ties:
        score = np.round(score, 1)
    w = rng.uniform(0.2, 2.0, n)
    if negative:
        flip = rng.random(n) < 0.2
        w[flip] *= -0.5
    return y, score, w


def _brute_auc(y, score, w):
    s_sig, w_sig = score[y == 1], w[y == 1]
    s_bkg, w_bkg = score[y == 0], w[y == 0]
    diff = s_sig[:, None] - s_bkg[None, :]
    kernel = (diff > 0) + 0.5 * (diff == 0)
    return float(w_sig @ kernel @ w_bkg / (w_sig.sum() * w_bkg.sum()))


def _brute_eff(y, score, w, thr):
    sel = score >= thr
    return w[sel & (y == 1)].sum() / w[y == 1].sum(), w[sel & (y == 0)].sum() / w[y == 0].sum()


# ---------------------------------------------------------------- ROC / AUC vs sklearn
@pytest.mark.parametrize("ties", [False, True])
def test_roc_auc_matches_sklearn_weighted(ties):
    y, score, w = _toy(5000, ties=ties)
    assert m.roc_auc(y, score, w) == pytest.approx(skm.roc_auc_score(y, score, sample_weight=w), abs=1e-12)
    assert m.roc_auc(y, score) == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_roc_curve_matches_sklearn_weighted(ties):
    y, score, w = _toy(3000, seed=1, ties=ties)
    roc = m.roc_curve(y, score, w)
    fpr, tpr, thr = skm.roc_curve(y, score, sample_weight=w, drop_intermediate=False)
    np.testing.assert_allclose(roc.eff_b, fpr, atol=1e-12)
    np.testing.assert_allclose(roc.eff_s, tpr, atol=1e-12)
    np.testing.assert_array_equal(roc.thresholds[1:], thr[1:])
    assert roc.thresholds[0] == np.inf
    assert roc.eff_b[0] == 0 and roc.eff_b[-1] == pytest.approx(1.0)
    assert np.all(np.diff(roc.eff_b) >= 0)
    # trapezoid area of the curve is the AUC
    assert np.trapezoid(roc.eff_s, roc.eff_b) == pytest.approx(m.roc_auc(y, score, w), abs=1e-12)


def test_signal_efficiency_matches_sklearn_interp():
    y, score, w = _toy(20000, seed=2)
    fpr, tpr, _ = skm.roc_curve(y, score, sample_weight=w, drop_intermediate=False)
    eff = m.signal_efficiency_at(y, score, w)
    assert set(eff) == {0.01, 0.1, 0.3}
    for t, e in eff.items():
        assert e == pytest.approx(np.interp(t, fpr, tpr), abs=1e-12)
    assert eff[0.01] < eff[0.1] < eff[0.3]
    single = m.signal_efficiency_at(y, score, w, eff_b=0.1)
    assert single == {0.1: eff[0.1]}


# ---------------------------------------------------------------- negative weights: brute force
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_brute_force_negative_weights(seed):
    y, score, w = _toy(300, seed=seed, ties=True, negative=True)
    assert (w < 0).any()
    assert m.roc_auc(y, score, w) == pytest.approx(_brute_auc(y, score, w), abs=1e-12)


def test_roc_points_brute_force_negative_weights():
    y, score, w = _toy(200, seed=3, ties=True, negative=True)
    roc = m.roc_curve(y, score, w)
    assert len(roc.thresholds) == len(np.unique(score)) + 1
    for es, eb, thr in zip(roc.eff_s[1:], roc.eff_b[1:], roc.thresholds[1:]):
        bs, bb = _brute_eff(y, score, w, thr)
        assert es == pytest.approx(bs, abs=1e-12) and eb == pytest.approx(bb, abs=1e-12)


def test_signal_efficiency_first_crossing_negative_weights():
    # hand-made: background efficiency dips because of a negative-weight event
    y = np.array([1, 0, 0, 1, 0, 1])
    score = np.array([6, 5, 4, 3, 2, 1.0])
    w = np.array([1, 2, -1, 1, 1, 1.0])
    roc = m.roc_curve(y, score, w)
    np.testing.assert_allclose(roc.eff_b, [0, 0, 1, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(roc.eff_s, [0, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1])
    # first reaches 0.5 on the segment (0, 1/3) -> (1, 1/3)
    assert m.signal_efficiency_at(y, score, w, eff_b=0.5)[0.5] == pytest.approx(1 / 3)
    assert m.roc_auc(y, score, w) == pytest.approx(_brute_auc(y, score, w))


# ---------------------------------------------------------------- bootstrap
def test_auc_bootstrap_std_matches_analytic_scale():
    y, score, w = _toy(4000, seed=4)
    auc, std = m.auc_bootstrap(y, score, w, n_bootstrap=200, random_state=1)
    assert auc == m.roc_auc(y, score, w)
    # Hanley-McNeil standard error for unweighted AUC as a scale reference
    n1, n0 = (y == 1).sum(), (y == 0).sum()
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se = np.sqrt((auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0))
    assert 0.6 * se < std < 1.6 * se
    # reproducible with the same seed, different otherwise
    assert m.auc_bootstrap(y, score, w, n_bootstrap=200, random_state=1) == (auc, std)
    assert m.auc_bootstrap(y, score, w, n_bootstrap=200, random_state=2)[1] != std


def test_auc_bootstrap_fast_for_1m_events():
    import time

    rng = np.random.default_rng(0)
    n = 1_000_000
    y = rng.integers(0, 2, n)
    score = rng.normal(size=n) + y
    t0 = time.perf_counter()
    auc, std = m.auc_bootstrap(y, score, rng.uniform(0.5, 1.5, n), n_bootstrap=20)
    assert time.perf_counter() - t0 < 20
    assert 0.75 < auc < 0.77 and 0 < std < 0.002


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0, 1, 1], [0.1, 0.2]), "length mismatch"),
        (([1, 1, 1], [0.1, 0.2, 0.3]), "only one class"),
        (([0, 1, 1], [0.1, np.nan, 0.3]), "NaN"),
        (([0, 1, 2], [0.1, 0.2, 0.3]), "only 0 and 1"),
        (([0, 1, 1], [0.1, 0.2, 0.3], [1.0, 1.0, -1.0]), "total signal weight"),
        (([0, 1, 1], [0.1, 0.2, 0.3], [0.0, 1.0, 1.0]), "total background weight"),
        (([0, 1, 1], [0.1, 0.2, 0.3], [1.0, 1.0]), "length mismatch"),
    ],
)
@pytest.mark.parametrize(
    "fn", [m.roc_curve, m.roc_auc, m.auc_bootstrap, m.signal_efficiency_at]
)
def test_bad_input_raises_one_line(fn, args, match):
    with pytest.raises(ValueError, match=match) as exc:
        fn(*args)
    assert "\n" not in str(exc.value)


def test_bad_eff_b_target():
    with pytest.raises(ValueError, match="eff_b"):
        m.signal_efficiency_at([0, 1], [0.0, 1.0], eff_b=(1.5,))
