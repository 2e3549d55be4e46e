"""hepmva.histograms against numpy on repeated events, and the hist objects' own bookkeeping."""

import numpy as np
import pytest

from hepmva.histograms import (centred, common_axis, feature_axis, flow_fractions, is_integer_valued, unit_area,
                               weighted_hist, weighted_quantile)


def test_weighted_quantile_equals_repeated_events():
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    k = rng.integers(1, 5, size=300)
    q = np.array([0.05, 0.5, 0.95])
    np.testing.assert_allclose(weighted_quantile(x, q, k.astype(float)), np.quantile(np.repeat(x, k), q),
                               atol=0.05)
    # unit weights: numpy's "hazen" definition (mid-points of the steps)
    np.testing.assert_allclose(weighted_quantile(x, q), np.quantile(x, q, method="hazen"), atol=1e-12)


def test_weighted_quantile_uses_absolute_weights_and_rejects_bad_q():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    assert weighted_quantile(x, 0.5, [1, -1, 1, 1]) == weighted_quantile(x, 0.5, [1, 1, 1, 1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        weighted_quantile(x, 1.5)


def test_weighted_hist_sums_and_variances_match_numpy_and_keep_the_flow():
    rng = np.random.default_rng(1)
    x = rng.exponential(50.0, size=2000)
    w = rng.normal(1.0, 0.5, size=2000)  # some negative weights
    axis = feature_axis(x, w, bins=20, label="MET [GeV]")
    h = weighted_hist(axis, x, w)
    edges = axis.edges
    inside = (x >= edges[0]) & (x < edges[-1])
    ref, _ = np.histogram(x[inside], edges, weights=w[inside])
    ref2, _ = np.histogram(x[inside], edges, weights=w[inside] ** 2)
    np.testing.assert_allclose(h.values(), ref)
    np.testing.assert_allclose(h.variances(), ref2)
    # nothing lost: under + in range + overflow = total weight
    assert h.sum(flow=True).value == pytest.approx(w.sum())
    under, over = flow_fractions(h)
    assert under == pytest.approx(w[x < edges[0]].sum() / w.sum())
    assert over == pytest.approx(w[x >= edges[-1]].sum() / w.sum())
    assert over > 0  # the 99.5 % quantile leaves a tail


def test_unit_area_is_a_density_whose_area_is_the_in_range_fraction():
    rng = np.random.default_rng(2)
    x = rng.normal(size=5000)
    h = weighted_hist(feature_axis(x, bins=30), x)
    d = unit_area(h)
    area = float(np.sum(d.values() * h.axes[0].widths))
    under, over = flow_fractions(h)
    assert area == pytest.approx(1.0 - under - over)
    np.testing.assert_allclose(np.sqrt(d.variances()), np.sqrt(h.variances()) / (5000 * h.axes[0].widths))


def test_integer_feature_gets_one_bin_per_value_centred_on_it():
    njet = np.array([0, 1, 1, 2, 2, 2, 3, 7])
    assert is_integer_valued(njet) and not is_integer_valued(njet + 0.5)
    axis = feature_axis(njet)
    assert axis.traits.discrete and list(axis.edges) == list(range(0, 9))
    h = weighted_hist(axis, njet)
    np.testing.assert_allclose(h.values(), [1, 2, 3, 1, 0, 0, 0, 1])
    c = centred(unit_area(h))
    np.testing.assert_allclose(c.axes[0].centers, np.arange(0, 8))
    assert c.values().sum() == pytest.approx(1.0)  # fractions (width 1)


def test_union_of_class_ranges_keeps_a_small_class():
    rng = np.random.default_rng(3)
    big, small = rng.normal(0, 1, 10000), rng.normal(10, 1, 30)
    x = np.concatenate([big, small])
    g = np.r_[np.zeros(10000), np.ones(30)]
    assert feature_axis(x, groups=g).edges[-1] > 11
    assert feature_axis(x).edges[-1] < 5  # pooled: the small class is mostly overflow
    assert common_axis([big, small]).edges[0] == pytest.approx(feature_axis(x).edges[0])


def test_non_finite_values_are_an_error_not_a_silent_loss():
    axis = feature_axis(np.arange(10.0))
    with pytest.raises(ValueError, match="non-finite"):
        weighted_hist(axis, [1.0, np.nan])
    with pytest.raises(ValueError, match="no finite values for 'mjj'"):
        feature_axis([np.nan], label="mjj")
