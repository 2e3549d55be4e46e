"""The survival function of the two-sided one-sample Kolmogorov-Smirnov statistic, ``P(D_n >= d)``: the p-value of the
KS test (``kstwo.sf(d, n)`` of scipy), without importing ``scipy.stats``.

Every evaluate job runs KS overtraining tests, and importing ``scipy.stats`` for them cost 0.66 CPU s of a ~4 s job
(its ~100 distributions are built and their docstrings parsed at import). This is scipy's own algorithm for
``n > 140`` (Simard & L'Ecuyer 2011, as ``scipy.stats._ksstats._kolmogn``, scipy 1.17; BSD-3-Clause, Copyright (c)
2001-2002 Enthought, Inc. and 2003-2024 SciPy Developers), on top of ``scipy.special.smirnov``:

- ``n d <= 1`` and ``n d >= n - 1``: Ruben & Gambino's exact closed forms;
- ``d >= 0.5`` or ``n d^2 >= 2.2``: twice the one-sided exact ``smirnov(n, d)`` (the two one-sided events are then
  disjoint, or their intersection negligible);
- otherwise ``1 - P(D_n <= d)``, the CDF from Durbin's matrix algorithm as Marsaglia, Tsang & Wang compute it
  (``n <= 100000`` and ``n d^1.5 <= 1.4``) or from Pelz & Good's asymptotic series.

For ``n <= 140`` it calls scipy itself (Pomeranz's recursion; the evaluation's samples are far larger).
``tests/test_kolmogorov.py`` checks it against ``scipy.stats.kstwo.sf`` over ``n`` from 141 to 10^7.
"""

from __future__ import annotations

import numpy as np

__all__ = ["kstwo_sf"]

_E128 = 128
_EP128 = np.ldexp(np.longdouble(1), _E128)
_EM128 = np.ldexp(np.longdouble(1), -_E128)
_SQRT2PI = np.sqrt(2 * np.pi)
_LOG_2PI = np.log(2 * np.pi)
_MIN_LOG = -708
_SQRT3 = np.sqrt(3)
_PI_SQUARED = np.pi ** 2
_PI_FOUR = np.pi ** 4
_PI_SIX = np.pi ** 6
# Stirling's coefficients B_{2j} / (2j) / (2j - 1), j = 8, ..., 1
_STIRLING_COEFFS = [-2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3,
                    8.4175084175084175084e-4, -5.952380952380952381e-4, 7.9365079365079365079e-4,
                    -2.7777777777777777778e-3, 8.3333333333333333333e-2]


def kstwo_sf(d: float, n: int) -> float:
    """``P(D_n >= d)`` for the two-sided KS statistic ``D_n`` of ``n`` events (``scipy.stats.kstwo.sf(d, n)``)."""
    n = int(n)
    if n < 1:
        raise ValueError(f"kstwo_sf: n must be a positive integer, got {n}")
    d = float(d)
    if np.isnan(d):
        return float("nan")
    if n <= 140:
        from scipy import stats  # Pomeranz's recursion: small samples only

        return float(stats.kstwo.sf(d, n))
    if d >= 1.0:
        return 0.0
    if d <= 0.0:
        return 1.0
    t = n * d
    if t <= 1.0:  # Ruben-Gambino: 1/2n <= d <= 1/n
        if t <= 0.5:
            return 1.0
        prob = np.exp(_log_nfactorial_div_n_pow_n(n) + n * np.log(2 * t - 1))
        return _clip(1.0 - prob)
    if t >= n - 1:  # Ruben-Gambino
        return _clip(2 * (1.0 - d) ** n)
    if d >= 0.5:  # exact: twice the one-sided probability
        return _clip(2 * _smirnov(n, d))
    nxsquared = t * d
    if nxsquared >= 370.0:
        return 0.0
    if nxsquared >= 2.2:
        return _clip(2 * _smirnov(n, d))
    if n <= 100000 and n * d ** 1.5 <= 1.4:
        cdf = _cdf_durbin(n, d)
    else:
        cdf = _cdf_pelz_good(n, d)
    return _clip(1.0 - cdf)


def _smirnov(n: int, d: float) -> float:
    """``scipy.special.smirnov(n, d)``, the one-sided probability, imported here: the KS tests of a classifier that
    does not overtrain (small ``d``) never reach it, and ``import scipy.special`` is ~0.15-0.3 s of every job."""
    from scipy.special import smirnov

    return float(smirnov(n, d))


def _clip(p) -> float:
    return float(np.clip(p, 0.0, 1.0))


def _log_nfactorial_div_n_pow_n(n: int) -> float:
    """log(n! / n^n) by Stirling's series, n log(n) taken out first (no cancellation)."""
    rn = 1.0 / n
    return np.log(n) / 2 - n + _LOG_2PI / 2 + rn * np.polyval(_STIRLING_COEFFS, rn / n)


def _cdf_durbin(n: int, d: float) -> float:
    """``P(D_n <= d)`` by Durbin's matrix algorithm: the k-th diagonal element of ``(n! / n^n) H^n`` with
    ``d = (k - h) / n``, ``H`` of size ``2k - 1``, powered by squaring with rescaling (Marsaglia, Tsang & Wang)."""
    nd = n * d
    k = int(np.ceil(nd))
    h = k - nd
    m = 2 * k - 1
    H = np.zeros([m, m])
    intm = np.arange(1, m + 1)
    v = 1.0 - h ** intm
    w = np.empty(m)
    fac = 1.0
    for j in intm:
        w[j - 1] = fac
        fac /= j  # may underflow: harmless
        v[j - 1] *= fac
    tt = max(2 * h - 1.0, 0) ** m - 2 * h ** m
    v[-1] = (1.0 + tt) * fac
    for i in range(1, m):
        H[i - 1:, i] = w[:m - i + 1]
    H[:, 0] = v
    H[-1, :] = np.flip(v, axis=0)

    Hpwr = np.eye(np.shape(H)[0])
    nn, expnt, Hexpnt = n, 0, 0
    while nn > 0:
        if nn % 2:
            Hpwr = np.matmul(Hpwr, H)
            expnt += Hexpnt
        H = np.matmul(H, H)
        Hexpnt *= 2
        if np.abs(H[k - 1, k - 1]) > _EP128:
            H /= _EP128
            Hexpnt += _E128
        nn = nn // 2
    p = Hpwr[k - 1, k - 1]
    for i in range(1, n + 1):  # times n! / n^n
        p = i * p / n
        if np.abs(p) < _EM128:
            p *= _EP128
            expnt -= _E128
    if expnt != 0:
        p = np.ldexp(p, expnt)
    return p


def _cdf_pelz_good(n: int, x: float) -> float:
    """``P(D_n <= x)`` by Pelz & Good's series: Li-Chien and Korolyuk's ``K0(z) + K1(z)/sqrt(n) + K2(z)/n +
    K3(z)/n^1.5`` with ``z = x sqrt(n)``, each term rewritten by Jacobi's theta functions for small ``z``."""
    z = np.sqrt(n) * x
    zsquared, zthree, zfour, zsix = z ** 2, z ** 3, z ** 4, z ** 6
    qlog = -_PI_SQUARED / 8 / zsquared
    if qlog < _MIN_LOG:
        return 0.0
    q = np.exp(qlog)
    k1a = -zsquared
    k1b = _PI_SQUARED / 4
    k2a = 6 * zsix + 2 * zfour
    k2b = (2 * zfour - 5 * zsquared) * _PI_SQUARED / 4
    k2c = _PI_FOUR * (1 - 2 * zsquared) / 16
    k3d = _PI_SIX * (5 - 30 * zsquared) / 64
    k3c = _PI_FOUR * (-60 * zsquared + 212 * zfour) / 16
    k3b = _PI_SQUARED * (135 * zfour - 96 * zsix) / 4
    k3a = -30 * zsix - 90 * z ** 8
    K0to3 = np.zeros(4)
    maxk = int(np.ceil(16 * z / np.pi))
    for k in range(maxk, 0, -1):  # Horner's scheme for sum c_i q^(i^2) over the odd integers
        m = 2 * k - 1
        msquared, mfour, msix = m ** 2, m ** 4, m ** 6
        qpower = np.power(q, 8 * k)
        coeffs = np.array([1.0, k1a + k1b * msquared, k2a + k2b * msquared + k2c * mfour,
                           k3a + k3b * msquared + k3c * mfour + k3d * msix])
        K0to3 *= qpower
        K0to3 += coeffs
    K0to3 *= q
    K0to3 *= _SQRT2PI
    K0to3 /= np.array([z, 6 * zfour, 72 * z ** 7, 6480 * z ** 10])
    q = np.exp(-_PI_SQUARED / 2 / zsquared)  # the sums over all integers k of K2 and K3
    ks = np.arange(maxk, 0, -1)
    ksquared = ks ** 2
    sqrt3z = _SQRT3 * z
    kspi = np.pi * ks
    qpwers = q ** ksquared
    k2extra = np.sum(ksquared * qpwers)
    k2extra *= _PI_SQUARED * _SQRT2PI / (-36 * zthree)
    K0to3[2] += k2extra
    k3extra = np.sum((sqrt3z + kspi) * (sqrt3z - kspi) * ksquared * qpwers)
    k3extra *= _PI_SQUARED * _SQRT2PI / (216 * zsix)
    K0to3[3] += k3extra
    K0to3 /= np.power(n * 1.0, np.arange(len(K0to3)) / 2.0)
    return sum(K0to3)
