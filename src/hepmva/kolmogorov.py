"""The survival function of the two-sided one-sample Kolmogorov-Smirnov statistic, ``P(D_n >= d)``: the p-value of the
KS test (``kstwo.sf(d, n)`` of scipy), without importing ``scipy.stats``.

Every evaluate job runs KS overtraining tests, and importing ``scipy.stats`` for them cost 0.66 CPU s of a ~4 s job
(its ~100 distributions are built and their docstrings parsed at import). This is scipy's own algorithm for
``n > 140`` (Simard & L'Ecuyer 2011, as ``scipy.stats._ksstats._kolmogn``, scipy 1.17; BSD-3-Clause, Copyright (c)
2001-2002 Enthought, Inc. and 2003-2024 SciPy Developers), with the one-sided ``scipy.special.smirnov`` as
Birnbaum & Tingey's sum up to ``n = 100 000`` (its terms by Loader's binomial probabilities, see :func:`_smirnov`):

- ``n d <= 1`` and ``n d >= n - 1``: Ruben & Gambino's exact closed forms;
- ``d >= 0.5`` or ``n d^2 >= 2.2``: twice the one-sided exact ``smirnov(n, d)`` (the two one-sided events are then
  disjoint, or their intersection negligible);
- otherwise ``1 - P(D_n <= d)``, the CDF from Durbin's matrix algorithm as Marsaglia, Tsang & Wang compute it
  (``n <= 100000`` and ``n d^1.5 <= 1.4``) or from Pelz & Good's asymptotic series.

For ``n <= 140`` it calls scipy itself (Pomeranz's recursion; the evaluation's samples are far larger).
``tests/test_kolmogorov.py`` checks it against ``scipy.stats.kstwo.sf`` over ``n`` from 141 to 10^7.
"""

from __future__ import annotations

import math

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


#: the largest n summed here (an array of n terms: 5 ms at n = 23 000, 50 ms at 200 000); above it scipy's
#: compiled sum, whose import then costs less than the sum
_SMIRNOV_MAX_SUM_N = 100_000
_MINLOG = -7.451332191019412076235e2  # cephes' MINLOG, log(2^-1075)


def _smirnov(n: int, d: float) -> float:
    """``P(D_n^+ >= d)``, the one-sided exact probability (``scipy.special.smirnov(n, d)``), for ``1/n < d < 1 - 1/n``,
    by Birnbaum & Tingey's sum as scipy's xsf evaluates it (lower sum; the same cut-overs):

        P(D_n^+ >= d) = d sum_{v=0}^{floor(n(1-d))} C(n, v) p_v^(v-1) (1 - p_v)^(n-v),   p_v = d + v/n,

    where each term is the binomial probability b(v; n, p_v) / p_v, here by Loader's saddle-point form (as R's
    ``dbinom``), accurate to a few ulps however large ``n``; scipy sums in double-double arithmetic. The p-values
    the KS tests report agree to 1e-12 (``tests/test_kolmogorov.py``), without the 0.15-0.3 s of importing
    ``scipy.special`` in most evaluate jobs (a classifier that overtrains a little has ``n d^2 >= 2.2``). For
    ``n > 100 000`` it calls scipy."""
    if -2.0 * n * d * d < _MINLOG:
        return 0.0
    if n > _SMIRNOV_MAX_SUM_N:
        from scipy.special import smirnov

        return float(smirnov(n, d))
    v = np.arange(1, n - int(np.floor(n * d)), dtype=np.float64)  # v = 1 ... floor(n(1-d)) (or one less, at 0)
    np_v = n * d + v  # n p_v
    nq_v = (n - v) - n * d  # n (1 - p_v)
    keep = nq_v > 0
    v, np_v, nq_v = v[keep], np_v[keep], nq_v[keep]
    log_b = (_stirlerr(float(n)) - _stirlerr(v) - _stirlerr(n - v) - _bd0(v, np_v) - _bd0(n - v, nq_v)
             - 0.5 * (_LOG_2PI + np.log(v) + np.log1p(-v / n)))
    terms = np.exp(log_b) / (np_v / n)
    head = np.exp(n * np.log1p(-d)) / d  # v = 0: (1 - d)^n / d
    return float(d * (head + np.sum(terms)))


#: Stirling's error stirlerr(k) = log(k!) - (k + 1/2) log k + k - log sqrt(2 pi) for k = 0 ... 15 (Loader's table,
#: from math.lgamma; stirlerr(0) is never used)
_STIRLERR_SMALL = np.array([0.0] + [math.lgamma(k + 1.0) - (k + 0.5) * math.log(k) + k - 0.5 * _LOG_2PI
                                    for k in range(1, 16)])


def _stirlerr(k):
    """Stirling's error log(k!) - log(sqrt(2 pi k) (k/e)^k) of integers ``k >= 1`` (Loader 2000), elementwise."""
    k = np.asarray(k, dtype=np.float64)
    small = k <= 15
    kk = np.where(small, 16.0, k)
    nn = kk * kk
    s0, s1, s2, s3, s4 = 1 / 12, 1 / 360, 1 / 1260, 1 / 1680, 1 / 1188
    out = np.where(kk > 500, (s0 - s1 / nn) / kk,
                   np.where(kk > 80, (s0 - (s1 - s2 / nn) / nn) / kk,
                            np.where(kk > 35, (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / kk,
                                     (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / kk)))
    out = np.where(small, _STIRLERR_SMALL[np.minimum(k, 15).astype(np.intp)], out)
    return out if out.ndim else float(out)


def _bd0(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The deviance term x log(x/m) + m - x (Loader 2000), by its series where x is close to m, elementwise."""
    out = x * np.log(x / m) + m - x
    near = np.abs(x - m) < 0.1 * (x + m)
    if near.any():
        xn, mn = x[near], m[near]
        v = (xn - mn) / (xn + mn)
        s = (xn - mn) * v
        ej = 2 * xn * v
        v2 = v * v
        for j in range(1, 200):  # |v| < 0.1/1.1: each term ~100 times the next
            ej = ej * v2
            s_next = s + ej / (2 * j + 1)
            if np.array_equal(s_next, s):
                break
            s = s_next
        out[near] = s
    return out


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
