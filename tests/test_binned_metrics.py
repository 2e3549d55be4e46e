"""Binned (mergeable histogram) metrics against the exact sort-based ones, on the generator's samples."""

import awkward as ak
import numpy as np
import pytest
import xgboost as xgb

from hepmva import binned_metrics as bm
from hepmva import generate, metrics
from hepmva.studies.scores import evaluate_scores

N_SIG, N_TTBAR, N_WJETS = 30_000, 12_000, 30_000


def _features(events) -> np.ndarray:
    lead = lambda a: ak.to_numpy(ak.fill_none(ak.firsts(a), 0.0))  # noqa: E731
    return np.column_stack([events["met"], lead(events["lep_pt"]), lead(events["jet_pt"]),
                            ak.to_numpy(ak.num(events["jet_pt"])), lead(events["jet_eta"])]).astype(np.float64)


@pytest.fixture(scope="module")
def study():
    """Generator samples with physics weights (per-process cross-section / events), a real xgboost's
    test scores and the exact log-likelihood ratio."""
    parts, first = [], 1
    for proc, n, xsec, label in (("signal", N_SIG, 2.0, 1), ("ttbar", N_TTBAR, 30.0, 0), ("wjets", N_WJETS, 100.0, 0)):
        ev = generate.generate_events(proc, n, seed=7, first_event=first)
        first += n
        parts.append((_features(ev), np.full(n, label), np.full(n, xsec / n) * ev["genWeight"], ev["llr"]))
    X, y, w, llr = (np.concatenate([p[i] for p in parts]) for i in range(4))
    rng = np.random.default_rng(3)
    train = rng.random(len(y)) < 0.5
    model = xgb.XGBClassifier(n_estimators=60, max_depth=4, learning_rate=0.2, n_jobs=1, random_state=0)
    w_fit = np.abs(w[train])  # the generator has negative genWeights; classes balanced to mean weight 1
    for label in (0, 1):
        w_fit[y[train] == label] *= np.sum(y[train] == label) / w_fit[y[train] == label].sum()
    model.fit(X[train], y[train], sample_weight=w_fit)
    test = ~train
    out = {"y": y[test], "w": w[test], "s": model.predict_proba(X[test])[:, 1], "llr": llr[test]}
    assert 0.75 < metrics.roc_auc(out["y"], out["s"], out["w"]) < metrics.roc_auc(out["y"], out["llr"], out["w"])
    assert len(np.unique(out["s"])) > 1000  # a real, finely spread score distribution
    return out


@pytest.mark.parametrize("column", ["s", "llr"])
def test_binned_agrees_with_exact(study, column):
    y, s, w = study["y"], study[column], study["w"]
    h = bm.score_histogram(y, s, w)
    assert h.axes["t"].metadata.transform == ("logit" if column == "s" else "asinh")
    assert bm.roc_auc(h) == pytest.approx(metrics.roc_auc(y, s, w), abs=1e-4)
    assert abs(bm.roc_auc(h) - metrics.roc_auc(y, s, w)) <= bm.auc_binning_bound(h) + 1e-12
    targets = (0.001, 0.01, 0.1, 0.3)
    exact, binned = metrics.signal_efficiency_at(y, s, w, eff_b=targets), bm.signal_efficiency_at(h, eff_b=targets)
    for t in targets:
        assert binned[t] == pytest.approx(exact[t], abs=1e-3), t
    assert bm.separation(h) == pytest.approx(metrics.separation(y, s, w), abs=2e-3)
    roc = bm.roc_curve(h)
    assert roc.eff_s[0] == roc.eff_b[0] == 0 and roc.eff_s[-1] == pytest.approx(1) and roc.eff_b[-1] == pytest.approx(1)
    assert np.all(np.diff(roc.thresholds) <= 0)


def test_sharp_bdt_peaks_are_resolved():
    """Scores piled up within 1e-6 of 1 (an overtrained BDT's signal) still give the exact efficiencies."""
    rng = np.random.default_rng(0)
    n = 50_000
    y = rng.integers(0, 2, n)
    margin = np.where(y == 1, rng.normal(14, 1.5, n), rng.normal(10, 2.0, n))  # 1 - s ~ 1e-6 .. 1e-4
    s = 1.0 / (1.0 + np.exp(-margin))
    h = bm.score_histogram(y, s)
    assert bm.roc_auc(h) == pytest.approx(metrics.roc_auc(y, s), abs=1e-4)
    exact, binned = metrics.signal_efficiency_at(y, s, eff_b=(0.01, 0.1)), bm.signal_efficiency_at(h, eff_b=(0.01, 0.1))
    for t in exact:
        assert binned[t] == pytest.approx(exact[t], abs=1e-3)
    # a linear binning of [0, 1] with as many bins puts most events into its last bin
    assert np.histogram(s, bins=bm.DEFAULT_BINS, range=(0, 1))[0].max() > 0.5 * n


def test_merged_per_file_histograms_equal_one_histogram(study):
    y, s = study["y"], study["s"]
    w = np.round(study["w"] * 2**20) / 2**20  # dyadic weights: every partial sum is exact in float64
    binning = bm.choose_binning(s.min(), s.max())
    files = np.array_split(np.arange(len(y)), 7)
    merged = bm.merge_histograms(bm.score_histogram(y[i], s[i], w[i], binning=binning) for i in files)
    whole = bm.score_histogram(y, s, w, binning=binning)
    assert merged == whole
    np.testing.assert_array_equal(merged.view(flow=True)["value"], whole.view(flow=True)["value"])
    np.testing.assert_array_equal(merged.view(flow=True)["variance"], whole.view(flow=True)["variance"])
    assert bm.roc_auc(merged) == bm.roc_auc(whole)
    assert bm.auc_bootstrap(merged, n_bootstrap=20) == bm.auc_bootstrap(whole, n_bootstrap=20)


def test_binned_bootstrap_matches_the_event_bootstrap(study):
    """Unit weights: Poisson(n) per bin is exactly the event-level Poisson bootstrap of the binned counts."""
    y, s = study["y"], study["s"]
    h = bm.score_histogram(y, s)
    auc_b, err_b = bm.auc_bootstrap(h, n_bootstrap=200, random_state=1)
    auc_e, err_e = metrics.auc_bootstrap(y, s, n_bootstrap=200, random_state=1)
    assert err_b == pytest.approx(err_e, rel=0.25)
    # weighted: mean and variance of each bin content are those of the event bootstrap
    _, err_bw = bm.auc_bootstrap(bm.score_histogram(y, s, study["w"]), n_bootstrap=200, random_state=1)
    _, err_ew = metrics.auc_bootstrap(y, s, study["w"], n_bootstrap=200, random_state=1)
    assert err_bw == pytest.approx(err_ew, rel=0.25)
    assert np.isnan(bm.auc_bootstrap(h, n_bootstrap=1)[1])


def test_negative_weights(study):
    y, s = study["y"], study["s"]
    rng = np.random.default_rng(5)
    w = study["w"] * np.where(rng.random(len(y)) < 0.15, -1.0, 1.0)
    h = bm.score_histogram(y, s, w)
    assert bm.roc_auc(h) == pytest.approx(metrics.roc_auc(y, s, w), abs=1e-4)
    auc, err = bm.auc_bootstrap(h, n_bootstrap=50)
    assert np.isfinite(err) and err > 0


def test_evaluate_scores_method_switch(study):
    y, s, w = study["y"], study["s"], study["w"]
    exact = evaluate_scores(y, s, w, eff_b=(0.01, 0.1), n_bootstrap=50, method="exact")
    binned = evaluate_scores(y, s, w, eff_b=(0.01, 0.1), n_bootstrap=50, method="binned")
    assert exact["evaluation_method"] == "exact" and binned["evaluation_method"] == "binned"
    assert binned["auc"] == pytest.approx(exact["auc"], abs=1e-4)
    for k in exact["eff_s_at_eff_b"]:
        assert binned["eff_s_at_eff_b"][k] == pytest.approx(exact["eff_s_at_eff_b"][k], abs=1e-3)
    assert binned["n_events"] == exact["n_events"] == len(y)
    assert evaluate_scores(y, s, w, n_bootstrap=0, method="auto")["evaluation_method"] == "exact"
    assert evaluate_scores(y, s, w, n_bootstrap=0, method="auto", exact_max_events=len(y) - 1)[
        "evaluation_method"] == "binned"


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="evaluation.method"):
        bm.choose_method("fast", 10, 100)
    with pytest.raises(ValueError, match="finite"):
        bm.score_histogram([0, 1], [0.2, np.nan])
    with pytest.raises(ValueError, match="logit binning"):
        bm.score_histogram([0, 1], [0.2, 1.5], binning=bm.choose_binning(0.0, 1.0))
    a = bm.score_histogram([0, 1], [0.2, 0.7])
    b = bm.score_histogram([0, 1], [-2.0, 3.0])
    with pytest.raises(ValueError, match="different binnings"):
        bm.merge_histograms([a, b])
    with pytest.raises(ValueError, match="positive total"):
        bm.roc_auc(bm.score_histogram([1, 1], [0.2, 0.7]))



# --------------------------------------------------------------- the rest of what evaluate reports, binned
def _histograms(y, s, w, binning=None):
    return bm.ScoreHistograms.from_scores(y, s, w, binning=binning or bm.choose_binning(s.min(), s.max()))


def test_merged_part_histograms_equal_one_histogram_exactly(study):
    """Counts, weights and moments of per-part ScoreHistograms add up to those of all events at once."""
    y, s = study["y"], study["s"]
    w = np.round(study["w"] * 2**20) / 2**20
    binning = bm.choose_binning(s.min(), s.max())
    parts = [_histograms(y[i], s[i], w[i], binning) for i in np.array_split(np.arange(len(y)), 9)]
    merged, whole = sum(parts), _histograms(y, s, w, binning)
    for field in ("value", "variance"):
        np.testing.assert_array_equal(merged.weighted.view(flow=True)[field], whole.weighted.view(flow=True)[field])
    np.testing.assert_array_equal(merged.counts.view(flow=True), whole.counts.view(flow=True))
    np.testing.assert_allclose(merged.moments, whole.moments, rtol=1e-12)
    assert (merged.score_min, merged.score_max) == (s.min(), s.max())
    assert merged.n_events(1) == int((y == 1).sum()) and merged.n_events(0) == int((y == 0).sum())
    assert bm.cut_scan(merged).best == bm.cut_scan(whole).best
    with pytest.raises(ValueError, match="different binnings"):
        merged + _histograms(y, s, w, bm.choose_binning(s.min(), s.max(), bins=1000))


@pytest.mark.parametrize("column", ["s", "llr"])
def test_binned_significance_separation_cut_scan_and_rejection_agree_with_exact(study, column):
    y, s, w = study["y"], study[column], study["w"]
    H = _histograms(y, s, w)
    assert bm.significance(H) == pytest.approx(metrics.discrimination_significance(y, s, w), rel=1e-9)
    assert bm.separation(H.weighted, score_range=(s.min(), s.max())) == pytest.approx(
        metrics.separation(y, s, w), abs=2e-3)
    for rel_unc_b in (0.0, 0.1):
        exact = metrics.cut_scan(y, s, w, min_b_events=10, rel_unc_b=rel_unc_b)
        binned = bm.cut_scan(H, min_b_events=10, rel_unc_b=rel_unc_b)
        for best_e, best_b in ((exact.best, binned.best), (exact.best_sys, binned.best_sys)):
            assert best_b.z_asimov == pytest.approx(best_e.z_asimov, rel=1e-3)
            assert best_b.z_asimov_sys == pytest.approx(best_e.z_asimov_sys, rel=1e-3)
            assert best_b.eff_s == pytest.approx(best_e.eff_s, abs=1e-3)
            assert best_b.eff_b == pytest.approx(best_e.eff_b, abs=1e-3)
            t_e, t_b = (H.binning.forward(np.float64(best.threshold)) for best in (best_e, best_b))
            assert abs(t_b - t_e) <= 2 * (H.binning.high - H.binning.low) / H.binning.bins  # within a bin or so
        # the scan itself: at each binned threshold the yields passing equal the exact ones of that cut
        # (the bin edge in score units is exact to rounding: the cut is lowered by 1e-12 relative)
        i = np.linspace(0, len(binned.thresholds) - 1, 50).astype(int)
        at = metrics.cut_scan(y, s, w, thresholds=binned.thresholds[i] - 1e-12 * np.abs(binned.thresholds[i]))
        np.testing.assert_allclose(binned.s[i], at.s[np.argsort(-binned.thresholds[i], kind="stable")], rtol=1e-9,
                                   atol=1e-12)
        np.testing.assert_array_equal(binned.n_b_events[i], at.n_b_events)
    exact_roc = metrics.rejection_curve(y, s, w, min_b_events=10)
    binned_roc = bm.rejection_curve(H, min_b_events=10)
    assert binned_roc.auc == pytest.approx(exact_roc.auc, abs=1e-4)
    assert binned_roc.eff_s_min == pytest.approx(exact_roc.eff_s_min, abs=1e-3)
    ok = np.isfinite(exact_roc.rejection) & np.isfinite(binned_roc.rejection)
    assert ok.sum() > 300
    np.testing.assert_allclose(1 / binned_roc.rejection[ok], 1 / exact_roc.rejection[ok], atol=1e-3)
    band = bm.rejection_curve(H, min_b_events=10, n_bootstrap=30, random_state=2)
    ref = metrics.rejection_curve(y, s, w, min_b_events=10, n_bootstrap=30, random_state=2)
    width = lambda c: np.nanmedian((c.hi - c.lo) / c.rejection)  # noqa: E731
    assert width(band) == pytest.approx(width(ref), rel=0.35)


def test_binned_overtraining_tests_agree_with_exact(study):
    """KS and AD (statistics and p-values) of train vs test from the histograms equal the unbinned tests."""
    y, s, w = study["y"], study["s"], study["w"]
    rng = np.random.default_rng(9)
    a = rng.random(len(y)) < 0.4
    for shift in (1.0, 1.03):  # the same distribution, and a slightly different one (small p-values)
        s_train = np.clip(s[a] ** shift, 0, 1)
        binning = bm.choose_binning(0.0, 1.0)
        exact = metrics.overtraining_tests(y[a], s_train, y[~a], s[~a], w[a], w[~a])
        binned = bm.overtraining_tests(_histograms(y[a], s_train, w[a], binning), _histograms(y[~a], s[~a], w[~a], binning))
        assert set(binned) == set(exact)
        for k in exact:
            assert binned[k].n_eff_1 == pytest.approx(exact[k].n_eff_1, rel=1e-9)
            assert binned[k].statistic == pytest.approx(exact[k].statistic, abs=2e-3 if k.startswith("ks") else 2e-2), k
            assert binned[k].pvalue == pytest.approx(exact[k].pvalue, abs=0.02, rel=0.05), k
        if shift > 1:
            assert min(t.pvalue for t in binned.values()) < 0.01
