import numpy as np
import pytest

from hepmva.preprocessing import Scaler, fit_scaler


def test_weighted_standard_scaler_equals_repeated_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(3, 2, (50, 3))
    k = rng.integers(1, 4, 50)
    s_w = fit_scaler(X, k.astype(float))
    s_r = fit_scaler(np.repeat(X, k, axis=0))
    np.testing.assert_allclose(s_w.offset_, s_r.offset_)
    np.testing.assert_allclose(s_w.scale_, s_r.scale_)
    Z = s_r.transform(np.repeat(X, k, axis=0))
    np.testing.assert_allclose(Z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(0), 1, atol=1e-12)


def test_minmax_constant_feature_and_roundtrip():
    X = np.array([[1.0, 5.0], [3.0, 5.0]])
    s = fit_scaler(X, method="minmax")
    np.testing.assert_allclose(s.transform(X), [[0, 0], [1, 0]])
    s2 = Scaler.from_dict(s.to_dict())
    np.testing.assert_allclose(s2.transform(X), s.transform(X))
    with pytest.raises(ValueError, match="scaler"):
        Scaler("robust")
