"""hepmva.kolmogorov.kstwo_sf against scipy.stats.kstwo.sf, the function it ports (every branch of the dispatch:
Ruben-Gambino's closed forms, twice Smirnov's one-sided probability, Durbin's matrix, Pelz-Good's series, and the
small-n fallback to scipy itself)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hepmva.kolmogorov import kstwo_sf


@pytest.mark.parametrize("n", [1, 7, 140, 141, 500, 2_000, 10_000, 50_000, 100_001, 10_000_000])
def test_kstwo_sf_is_scipys(n):
    # d from below 1/(2n) to 1: p-values from 1 to underflow, through every branch
    d = np.unique(np.concatenate([np.geomspace(0.2 / n, 1.0, 40), [0.5 / n, 1.0 / n, 1 - 1.0 / n, 0.5, 0.999],
                                  np.sqrt(np.array([0.3, 0.754693, 1.0, 2.19, 2.21, 4.0, 17.9, 18.1, 369.0]) / n)]))
    d = d[(d > 0) & (d <= 1)]
    ours = np.array([kstwo_sf(x, n) for x in d])
    ref = stats.kstwo.sf(d, n)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-300)


def test_kstwo_sf_edges():
    assert kstwo_sf(0.0, 1000) == 1.0 and kstwo_sf(1.0, 1000) == 0.0 and kstwo_sf(1.5, 1000) == 0.0
    assert np.isnan(kstwo_sf(float("nan"), 1000))
    with pytest.raises(ValueError, match="positive integer"):
        kstwo_sf(0.1, 0)


@pytest.mark.parametrize("n", [141, 1000, 1013, 23_456, 100_000, 100_001])
def test_one_sided_smirnov_is_scipys(n):
    """The one-sided exact probability (Birnbaum-Tingey's sum, Loader's binomial terms) against
    scipy.special.smirnov's double-double sum, over the range kstwo_sf uses it in (n d^2 from 2.2 to 370, and
    d >= 0.5), n d on and beside integers, up to the largest n it sums (then scipy's own)."""
    from scipy import special

    from hepmva.kolmogorov import _smirnov

    d = np.sqrt(np.array([2.2, 2.5, 4.0, 9.0, 30.0, 100.0, 250.0, 369.9]) / n)
    d = np.concatenate([d, [0.5, 0.75, 1 - 2.0 / n], np.array([3, 7, 50]) / np.sqrt(n)])
    d = np.concatenate([d, np.round(d * n) / n])  # n d an integer: the last term of the sum is zero
    d = np.unique(d[(d > 1.0 / n) & (d < 1 - 1.0 / n)])
    ours = np.array([_smirnov(n, x) for x in d])
    np.testing.assert_allclose(ours, special.smirnov(n, d), rtol=1e-12, atol=1e-300)
