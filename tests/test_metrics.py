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


def test_poisson1_counts_follow_poisson_1():
    from scipy import stats

    counts = m.poisson1_counts(np.random.default_rng(3), 4_000_000)
    assert counts.dtype == np.uint8
    observed = np.bincount(counts, minlength=9)
    expected = stats.poisson(1.0).pmf(np.arange(9)) * len(counts)
    expected[8] += stats.poisson(1.0).sf(8) * len(counts)  # the tail in the last class
    observed = np.append(observed[:8], observed[8:].sum())
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    assert counts.mean() == pytest.approx(1.0, abs=2e-3) and counts.var() == pytest.approx(1.0, abs=3e-3)
    # every CDF step cut by a 16-bit cell is resolved: the counts up to 7 all occur at their rates
    assert observed[7] == pytest.approx(expected[7], rel=0.1)


@pytest.mark.parametrize("ties", [False, True])
def test_bootstrap_replica_auc_is_the_reweighted_auc(ties):
    """A replica's AUC (few passes over the events) equals the AUC of the events with weights times counts."""
    y, score, w = _toy(3000, seed=5, ties=ties, negative=True)
    yy, ss, ww = m._check_inputs(y, score, w)
    g = m._sort_groups(yy, ss, ww)
    replica = m._ReplicaAUC(g)
    assert replica.ties == ties
    counts = m.poisson1_counts(np.random.default_rng(0), len(y))
    expected = m.roc_auc(y[g.order], score[g.order], w[g.order] * counts)
    assert replica(counts[g.y_sorted], counts[~g.y_sorted]) == pytest.approx(expected, rel=1e-12)
    assert replica(np.ones(int(yy.sum())), np.ones(int((~yy).sum()))) == pytest.approx(_brute_auc(y, score, w),
                                                                                          rel=1e-12)


def test_auc_bootstrap_disabled():
    y, score, w = _toy(100, seed=4)
    auc, std = m.auc_bootstrap(y, score, w, n_bootstrap=0)
    assert auc == m.roc_auc(y, score, w) and np.isnan(std)
    with pytest.raises(ValueError, match="n_bootstrap"):
        m.auc_bootstrap(y, score, w, n_bootstrap=-1)


def test_auc_bootstrap_fast_for_1m_events():
    import time

    rng = np.random.default_rng(0)
    n = 1_000_000
    y = rng.integers(0, 2, n)
    score = rng.normal(size=n) + y
    t0 = time.perf_counter()
    auc, std = m.auc_bootstrap(y, score, rng.uniform(0.5, 1.5, n), n_bootstrap=10)
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


@pytest.mark.parametrize("make", [
    lambda rng: rng.random(50_000),                                      # continuous: no ties
    lambda rng: rng.integers(0, 300, 50_000) / 300.0,                    # a BDT's few hundred distinct scores
    lambda rng: rng.choice([-0.0, 0.0, 1.0, -np.inf, np.inf, 0.5], 5000),  # signed zeros (equal), infinities
    lambda rng: rng.choice([np.nan, 0.2, 0.1], 3000),                    # NaNs: numpy's own stable sort
    lambda rng: rng.integers(-5, 5, 4000),                               # integers
    lambda rng: rng.integers(0, 3, 4000).astype(np.float32),
    lambda rng: np.zeros(0),
    lambda rng: np.array([3.0]),
])
def test_stable_argsort_is_numpy_s_stable_sort(make):
    x = make(np.random.default_rng(4))
    order, x_sorted = m.stable_argsort(x)
    expected = np.argsort(x, kind="stable")
    np.testing.assert_array_equal(order, expected)
    # the very bits, signed zeros included
    assert x_sorted.tobytes() == x[expected].tobytes()


def test_bad_eff_b_target():
    with pytest.raises(ValueError, match="eff_b"):
        m.signal_efficiency_at([0, 1], [0.0, 1.0], eff_b=(1.5,))


# ---------------------------------------------------------------- separation, significance
def test_separation_limits_and_hand_value():
    y = np.array([1, 1, 0, 0])
    assert m.separation(y, [1.0, 1.0, 0.0, 0.0]) == pytest.approx(1.0)
    assert m.separation(y, [0.0, 1.0, 0.0, 1.0], bins=2) == pytest.approx(0.0)
    # hand: S fractions (3/4, 1/4), B (1/4, 3/4) -> 0.5 * 2 * (1/2)^2 / 1 = 0.25
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    sc = np.array([1, 1, 1, 0, 1, 0, 0, 0.0])
    assert m.separation(y, sc, bins=2) == pytest.approx(0.25)
    # weights: doubling one class's weights changes nothing, re-weighting events does
    w = np.ones(8)
    assert m.separation(y, sc, 3 * w, bins=2) == pytest.approx(0.25)
    w[3] = 3.0  # S fractions (low, high bin) -> (1/2, 1/2), B stays (3/4, 1/4)
    expected = 0.5 * (0.25**2 / 1.25 + 0.25**2 / 0.75)
    assert m.separation(y, sc, w, bins=2) == pytest.approx(expected)


def test_separation_gaussians_closed_form():
    # two unit Gaussians at distance delta: <S^2> = 1/2 int (f-g)^2/(f+g) dx (numerical integral)
    rng = np.random.default_rng(5)
    n, delta = 400_000, 1.0
    y = np.repeat([1, 0], n)
    sc = np.concatenate((rng.normal(delta, 1, n), rng.normal(0, 1, n)))
    x = np.linspace(-8, 9, 20001)
    f = np.exp(-0.5 * (x - delta) ** 2) / np.sqrt(2 * np.pi)
    g = np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi)
    exact = 0.5 * np.trapezoid((f - g) ** 2 / (f + g), x)
    assert m.separation(y, sc, bins=200) == pytest.approx(exact, rel=0.03)


def test_discrimination_significance():
    y = np.array([1, 1, 0, 0])
    # means 2 and 0, rms 1 and 1 -> 2/sqrt(2)
    assert m.discrimination_significance(y, [1.0, 3.0, -1.0, 1.0]) == pytest.approx(np.sqrt(2))
    y, sc, w = _toy(2000, seed=6, negative=True)
    ws, wb = w[y == 1], w[y == 0]
    ms, mb = (ws @ sc[y == 1]) / ws.sum(), (wb @ sc[y == 0]) / wb.sum()
    vs = (ws @ sc[y == 1] ** 2) / ws.sum() - ms**2
    vb = (wb @ sc[y == 0] ** 2) / wb.sum() - mb**2
    assert m.discrimination_significance(y, sc, w) == pytest.approx(abs(ms - mb) / np.sqrt(vs + vb))


# ---------------------------------------------------------------- KS / AD vs scipy
@pytest.mark.parametrize(("n1", "n2", "shift"), [(300, 500, 0.0), (300, 500, 0.3), (20000, 15000, 0.02)])
def test_ks_unit_weights_matches_scipy(n1, n2, shift):
    from scipy import stats

    rng = np.random.default_rng(n1 + n2)
    x1, x2 = rng.normal(size=n1), rng.normal(shift, 1, n2)
    res = m.ks_2samp_weighted(x1, x2)
    ref = stats.ks_2samp(x1, x2)
    assert res.statistic == pytest.approx(ref.statistic, abs=1e-12)
    assert res.pvalue == pytest.approx(ref.pvalue, rel=1e-10)
    assert (res.n_eff_1, res.n_eff_2) == (n1, n2)
    # with non-uniform weights that are all equal to 2 on one side: same answer (normalisation)
    assert m.ks_2samp_weighted(x1, x2, 2 * np.ones(n1)).pvalue == pytest.approx(ref.pvalue)


def test_ks_weighted_asymptotic_matches_scipy_asymp_and_ties():
    from scipy import stats

    rng = np.random.default_rng(1)
    x1, x2 = np.round(rng.normal(size=3000), 1), np.round(rng.normal(0.05, 1, 4000), 1)
    ref = stats.ks_2samp(x1, x2, method="asymp")
    # integer weights = repeated events: same D; p-value uses n_eff of the weights
    w1 = rng.integers(1, 3, len(x1)).astype(float)
    res = m.ks_2samp_weighted(x1, x2, w1)
    rep = stats.ks_2samp(np.repeat(x1, w1.astype(int)), x2)
    assert res.statistic == pytest.approx(rep.statistic, abs=1e-14)
    n1 = w1.sum() ** 2 / (w1**2).sum()
    en = np.round(n1 * 4000 / (n1 + 4000))
    assert res.pvalue == pytest.approx(stats.kstwo.sf(res.statistic, en))
    assert res.n_eff_1 == pytest.approx(n1) and res.n_eff_1 < 3000
    # nearly uniform weights: close to the unweighted asymptotic result
    res2 = m.ks_2samp_weighted(x1, x2, np.full(len(x1), 1.0) + 1e-9 * rng.random(len(x1)))
    assert res2.pvalue == pytest.approx(ref.pvalue, rel=1e-3)


@pytest.mark.parametrize(("n1", "n2", "shift", "ties"), [(200, 300, 0.15, False), (2000, 3000, 0.08, False), (500, 400, 0.15, True)])
def test_ad_unit_weights_matches_scipy(n1, n2, shift, ties):
    from scipy import stats

    rng = np.random.default_rng(n1)
    x1, x2 = rng.normal(size=n1), rng.normal(shift, 1, n2)
    if ties:
        x1, x2 = np.round(x1, 1), np.round(x2, 1)
    ref = stats.anderson_ksamp([x1, x2], variant="midrank")
    assert 0.001 < ref.pvalue < 0.25  # inside the table: no scipy cap warning
    res = m.anderson_2samp_weighted(x1, x2)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert res.pvalue == pytest.approx(ref.pvalue, rel=1e-8)


def test_ad_capped_like_scipy():
    from scipy import stats

    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=300), rng.normal(size=300)
    with pytest.warns(UserWarning, match="capped"):
        ref = stats.anderson_ksamp([x1, x2], variant="midrank")
    res = m.anderson_2samp_weighted(x1, x2)
    assert res.statistic == pytest.approx(ref.statistic) and res.pvalue == ref.pvalue == 0.25
    far = m.anderson_2samp_weighted(x1, x2 + 1.0)
    assert far.pvalue == 0.001


def test_weighted_tests_integer_weights_equal_repeated_events_statistic():
    # integer weights w_i are "w_i copies of the event": the AD statistic with n_eff == n
    # equals scipy's on the repeated sample when the weights are constant within a sample
    from scipy import stats

    rng = np.random.default_rng(4)
    x1, x2 = rng.normal(size=400), rng.normal(0.2, 1, 300)
    res = m.anderson_2samp_weighted(x1, x2, np.full(400, 3.0), np.full(300, 0.5))
    ref = stats.anderson_ksamp([x1, x2], variant="midrank")
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-10)


def test_weighted_tests_calibrated_under_null_with_weights():
    # under H0 with weighted events (incl. negative), p-values are roughly uniform
    rng = np.random.default_rng(7)
    p_ks, p_ad = [], []
    for _ in range(200):
        x1, x2 = rng.exponential(size=600), rng.exponential(size=800)
        w1, w2 = rng.uniform(0.2, 3.0, 600), rng.uniform(0.2, 3.0, 800)
        w1[:30] *= -0.3
        p_ks.append(m.ks_2samp_weighted(x1, x2, w1, w2).pvalue)
        p_ad.append(m.anderson_2samp_weighted(x1, x2, w1, w2).pvalue)
    p_ks, p_ad = np.array(p_ks), np.array(p_ad)
    assert 0.02 <= np.mean(p_ks < 0.05) <= 0.10
    assert 0.02 <= np.mean(p_ad < 0.05) <= 0.10
    # and they detect a shift
    x1, x2 = rng.normal(size=3000), rng.normal(0.15, 1, 3000)
    w1, w2 = rng.uniform(0.2, 3.0, 3000), rng.uniform(0.2, 3.0, 3000)
    assert m.ks_2samp_weighted(x1, x2, w1, w2).pvalue < 0.01
    assert m.anderson_2samp_weighted(x1, x2, w1, w2).pvalue <= 0.005


def test_overtraining_tests_keys():
    y, sc, w = _toy(2000, seed=8)
    res = m.overtraining_tests(y[:1000], sc[:1000], y[1000:], sc[1000:], w[:1000], w[1000:])
    assert set(res) == {"ks_signal", "ks_background", "ad_signal", "ad_background"}
    assert all(0 <= r.pvalue <= 1 for r in res.values())
    # one pooled sort serves both tests: each is exactly the stand-alone test of that class's scores
    for weights in ((w[:1000], w[1000:]), (None, None)):
        res = m.overtraining_tests(y[:1000], sc[:1000], y[1000:], sc[1000:], *weights)
        for label, c in (("signal", 1), ("background", 0)):
            a, b = y[:1000] == c, y[1000:] == c
            args = (sc[:1000][a], sc[1000:][b]) + ((weights[0][a], weights[1][b]) if weights[0] is not None else ())
            assert res[f"ks_{label}"] == m.ks_2samp_weighted(*args)
            assert res[f"ad_{label}"] == m.anderson_2samp_weighted(*args)


def test_two_sample_bad_input():
    with pytest.raises(ValueError, match="x1 contains NaN"):
        m.ks_2samp_weighted([np.nan, 1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="weights of x2"):
        m.anderson_2samp_weighted([0.0, 1.0], [1.0, 2.0], None, [1.0])
    with pytest.raises(ValueError, match="total weight of x1"):
        m.ks_2samp_weighted([0.0, 1.0], [1.0, 2.0], [1.0, -1.0])


# ---------------------------------------------------------------- Asimov, cut scan
def test_asimov_closed_form_and_small_signal_limit():
    s, b = np.array([5.0, 10.0, 100.0]), np.array([1.0, 50.0, 20.0])
    z = m.asimov_significance(s, b)
    np.testing.assert_allclose(z, np.sqrt(2 * ((s + b) * np.log(1 + s / b) - s)), rtol=1e-12)
    # s << b: Z -> s / sqrt(b), with relative correction ~ s / (3 b)
    s, b = 1e-3 * np.array([1.0, 10, 100]), np.array([1.0, 10, 100]) * 1e3
    np.testing.assert_allclose(m.asimov_significance(s, b), s / np.sqrt(b), rtol=1e-6)
    s, b = 10.0, 1e4
    assert m.asimov_significance(s, b) == pytest.approx(s / np.sqrt(b), rel=s / b)
    assert np.isnan(m.asimov_significance(1.0, 0.0)) and np.isnan(m.asimov_significance(1.0, -1.0))
    assert m.asimov_significance(0.0, 5.0) == 0.0


def test_cut_scan_yields_and_optimum_brute_force():
    y, sc, w = _toy(3000, seed=9, negative=True)
    w = np.abs(w) * 0.01  # luminosity-normalised yields
    scan = m.cut_scan(y, sc, w, min_b_events=20)
    for i in range(0, len(scan.thresholds), 97):
        sel = sc >= scan.thresholds[i]
        assert scan.s[i] == pytest.approx(w[sel & (y == 1)].sum())
        assert scan.b[i] == pytest.approx(w[sel & (y == 0)].sum())
        assert scan.n_b_events[i] == (sel & (y == 0)).sum()
    best, z = scan.best, []
    for t in np.unique(sc):
        sel = sc >= t
        s, b = w[sel & (y == 1)].sum(), w[sel & (y == 0)].sum()
        if (sel & (y == 0)).sum() >= 20:
            z.append((np.sqrt(2 * ((s + b) * np.log(1 + s / b) - s)), t, s, b))
    zmax, tmax, smax, bmax = max(z)
    assert best.z_asimov == pytest.approx(zmax) and best.threshold == tmax
    assert (best.s, best.b) == (pytest.approx(smax), pytest.approx(bmax))
    assert best.s_over_sqrt_s_plus_b == pytest.approx(smax / np.sqrt(smax + bmax))
    assert best.eff_s == pytest.approx(smax / w[y == 1].sum())


def test_cut_scan_on_grid_and_s_over_sqrt_b_regime():
    rng = np.random.default_rng(10)
    n = 50_000
    y = (rng.random(n) < 0.5).astype(int)
    sc = rng.normal(size=n) + 1.5 * y
    w = np.where(y == 1, 1e-3, 1.0)  # tiny signal: Asimov ~ s/sqrt(b)
    grid = np.linspace(-2, 3, 11)
    scan = m.cut_scan(y, sc, w, thresholds=grid)
    assert np.all(np.diff(scan.thresholds) < 0)
    for t, s, b in zip(scan.thresholds, scan.s, scan.b):
        sel = sc >= t
        assert s == pytest.approx(w[sel & (y == 1)].sum()) and b == pytest.approx(w[sel & (y == 0)].sum())
    # second-order expansion: Z = s/sqrt(b) * (1 - s/(6b) + O((s/b)^2))
    ok = scan.b > 0
    s, b = scan.s[ok], scan.b[ok]
    rel = scan.z_asimov[ok] / (s / np.sqrt(b)) - 1
    assert np.all(np.abs(rel + s / (6 * b)) <= (s / b) ** 2)
    assert np.max(s / b) > 0.01  # the first-order term is visible, so the check has teeth


def test_cut_scan_no_eligible_cut_gives_nan(caplog):
    scan = m.cut_scan([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], min_b_events=5)
    assert np.isnan(scan.best.threshold)
    assert "no cut keeps" in caplog.text


# ---------------------------------------------------------------- permutation importance
def test_permutation_importance_ranks_informative_feature():
    rng = np.random.default_rng(11)
    n = 4000
    y = rng.integers(0, 2, n)
    X = np.column_stack((rng.normal(size=n) + 1.5 * y, rng.normal(size=n) + 0.3 * y, rng.normal(size=n)))
    w = rng.uniform(0.5, 1.5, n)

    def score_fn(Z):
        return 1.5 * Z[:, 0] + 0.3 * Z[:, 1]

    res = m.permutation_importance(score_fn, X, y, w, n_repeats=3, feature_names=["a", "b", "c"])
    assert res.baseline_auc == pytest.approx(m.roc_auc(y, score_fn(X), w))
    assert res.importances.shape == (3, 3)
    assert res.importances_mean[0] > 0.2 > res.importances_mean[1] > 0.002
    assert res.importances_mean[2] == 0.0  # unused feature: exactly no drop
    assert res.feature_names == ["a", "b", "c"]
    sub = m.permutation_importance(score_fn, X, y, w, n_repeats=2, max_samples=1000)
    assert sub.importances_mean[0] > 0.2
    with pytest.raises(ValueError, match="feature_names"):
        m.permutation_importance(score_fn, X, y, feature_names=["a"])


# ---------------------------------------------------------------- Asimov with a background uncertainty
def test_asimov_with_sigma_b_hand_value():
    # s = 5, b = 10, sigma_b = 20 % of b = 2 (sigma^2 = 4), worked by hand:
    # 15 ln(15*14/(100+60)) = 4.079013, (100/4) ln(1 + 20/140) = 3.338285, Z = sqrt(2 * 0.740728)
    assert m.asimov_significance(5.0, 10.0, 0.2) == pytest.approx(1.217145, abs=2e-6)


def test_asimov_with_sigma_b_tends_to_sigma_b_zero_and_to_s_over_sqrt_b_plus_sigma2():
    s, b = np.array([1.0, 5.0, 30.0]), np.array([10.0, 100.0, 40.0])
    z0 = m.asimov_significance(s, b)
    for rel in (1e-3, 1e-5):
        np.testing.assert_allclose(m.asimov_significance(s, b, rel), z0, rtol=10 * rel)
    assert np.all(m.asimov_significance(s, b, 0.1) < z0)  # an uncertainty only lowers Z
    s, b, rel = 1.0, 1e5, 0.01  # s << b: Z -> s / sqrt(b + sigma^2)
    assert m.asimov_significance(s, b, rel) == pytest.approx(s / np.sqrt(b + (rel * b) ** 2), rel=1e-4)
    with pytest.raises(ValueError, match="rel_unc_b"):
        m.asimov_significance(1.0, 1.0, -0.1)


def test_asimov_with_sigma_b_equals_the_profile_likelihood_ratio_of_the_on_off_model():
    """Independent oracle: n ~ Pois(mu s + b), m ~ Pois(tau b) with tau = b / sigma^2, Asimov data
    n = s + b, m = tau b; q0 = -2 ln L(mu=0, profiled b) / L(mu=1, b), maximised by scipy."""
    from scipy.optimize import minimize_scalar

    for s, b, rel in ((5.0, 10.0, 0.2), (20.0, 200.0, 0.05), (3.0, 1.5, 0.5)):
        sigma2 = (rel * b) ** 2
        tau = b / sigma2
        n, k = s + b, tau * b

        def nll(mu, bb):
            return -(n * np.log(mu * s + bb) - (mu * s + bb) + k * np.log(tau * bb) - tau * bb)

        free = nll(1.0, b)  # the Asimov data are fitted exactly by mu = 1, b = b
        null = minimize_scalar(lambda bb: nll(0.0, bb), bounds=(1e-9, 10 * (s + b)), method="bounded",
                               options={"xatol": 1e-12}).fun
        assert m.asimov_significance(s, b, rel) == pytest.approx(np.sqrt(2 * (null - free)), rel=1e-5)


def test_cut_scan_quotes_the_optimum_with_sigma_b_beside_the_sigma_b_zero_one():
    y, sc, w = _toy(4000, seed=3, negative=False)
    w = w * 50
    plain = m.cut_scan(y, sc, w, min_b_events=20)
    scan = m.cut_scan(y, sc, w, min_b_events=20, rel_unc_b=0.2)
    assert scan.best == plain.best._replace(z_asimov_sys=scan.best.z_asimov_sys)
    np.testing.assert_allclose(scan.z_asimov_sys, m.asimov_significance(scan.s, scan.b, 0.2))
    ok = (scan.n_b_events >= 20) & np.isfinite(scan.z_asimov_sys)
    assert scan.best_sys.z_asimov_sys == pytest.approx(np.max(scan.z_asimov_sys[ok]))
    assert scan.best_sys.z_asimov_sys <= scan.best.z_asimov + 1e-12
    assert scan.best_sys.b <= scan.best.b  # a relative background uncertainty favours a tighter cut (higher S/B)


def test_format_pvalue_clips_only_anderson_darling():
    assert m.format_pvalue(0.3, "ad") == ">= 0.25" and m.format_pvalue(0.0005, "ad") == "<= 0.001"
    assert m.format_pvalue(0.3, "ks") == "0.3" and m.format_pvalue(0.0123456, "ad") == "0.0123"
    assert m.format_pvalue(float("nan")) == ""


# ---------------------------------------------------------------- rejection curves for the ROC plots
def test_rejection_curve_matches_the_roc_curve_and_stops_where_the_background_mc_runs_out():
    y, sc, w = _toy(3000, seed=4, negative=False)
    grid = np.linspace(0.05, 0.99, 50)  # (at exactly 1 np.interp takes the last of the tied points)
    rc = m.rejection_curve(y, sc, w, eff_s=grid, min_b_events=25)
    roc = m.roc_curve(y, sc, w)
    ok = np.isfinite(rc.rejection)
    np.testing.assert_allclose(1.0 / rc.rejection[ok], np.interp(grid[ok], roc.eff_s, roc.eff_b), rtol=1e-9)
    # below eff_s_min fewer than 25 background events pass the cut reaching that efficiency
    order = np.argsort(-sc, kind="stable")
    n_b = np.cumsum(y[order] == 0)
    eff = np.cumsum(np.where(y[order] == 1, w[order], 0)) / w[y == 1].sum()
    assert rc.eff_s_min == pytest.approx(eff[np.argmax(n_b >= 25)])
    assert np.all(np.isnan(rc.rejection[grid < rc.eff_s_min])) and np.all(ok[grid >= rc.eff_s_min])
    assert rc.auc == pytest.approx(m.roc_auc(y, sc, w)) and rc.lo is None


def test_rejection_curve_bootstrap_band_brackets_the_curve():
    y, sc, w = _toy(4000, seed=5, negative=True)
    rc = m.rejection_curve(y, sc, w, min_b_events=10, n_bootstrap=40, random_state=1)
    ok = np.isfinite(rc.rejection) & (rc.eff_s > 0.2)
    assert np.all(rc.lo[ok] <= rc.hi[ok])
    inside = (rc.lo[ok] <= rc.rejection[ok] * 1.02) & (rc.rejection[ok] <= rc.hi[ok] * 1.02)
    assert inside.mean() > 0.9
    assert np.all(rc.hi[ok] > rc.lo[ok])  # a real band
