import numpy as np
import pytest

from hepmva.plotting.inputs import plot_correlation, weighted_correlation


def test_weighted_correlation_equals_repeated_events_and_numpy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    X[:, 1] += 0.8 * X[:, 0]
    k = rng.integers(1, 4, 400)
    np.testing.assert_allclose(weighted_correlation(X, k.astype(float)),
                               np.corrcoef(np.repeat(X, k, axis=0), rowvar=False), atol=1e-12)


def test_constant_feature_has_zero_correlation(tmp_path):
    X = np.column_stack([np.arange(10.0), np.ones(10)])
    c = weighted_correlation(X, np.ones(10))
    assert c[0, 0] == 1 and c[0, 1] == 0 and c[1, 1] == 0
    fig = plot_correlation(X, np.ones(10), ["a", "b"], title="t", path=tmp_path / "c.png")
    assert fig is not None and (tmp_path / "c.png").stat().st_size > 1000


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_overall_weight_sign_does_not_change_correlation(sign):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    w = rng.uniform(0.5, 1.5, 200)
    np.testing.assert_allclose(weighted_correlation(X, sign * w), weighted_correlation(X, w))
