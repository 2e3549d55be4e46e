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
