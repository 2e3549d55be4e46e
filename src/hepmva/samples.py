"""Labels, event weights and deterministic folds.

Event weight (the physics weight, used in every metric and histogram)::

    w_i = genWeight_i * sigma * L / sum_j genWeight_j

where the sum runs over all *generated* events of the sample (before any selection), so the
weighted yield of a selection is its expected number of events in a luminosity ``L``.

Training weight (used only to fit classifiers): the physics weight with the configured policy for
negative weights (``keep``, ``zero`` or ``abs``), then, when ``class_balance`` is on, each class
renormalised to the same total weight (TMVA's default), scaled so the mean training weight is 1.
Evaluation always uses the physics weights, negative ones included.

Folds: ``fold = splitmix64(event_id) mod k``. SplitMix64 is a fixed bijective integer mixer, so
the assignment depends only on the event id: the same on any machine, in any chunking, in any order.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["BOOKKEEPING_COLUMNS", "ExactSum", "splitmix64", "assign_folds", "physics_weights", "training_weights", "NEGATIVE_WEIGHT_POLICIES"]

NEGATIVE_WEIGHT_POLICIES = ("keep", "zero", "abs")

#: columns of a features table besides the features themselves (feature names may not take them)
BOOKKEEPING_COLUMNS = ("sample", "label", "weight", "event", "fold", "file_index", "entry", "truth_llr", "row")

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser of unsigned 64-bit integers (wrap-around arithmetic).

    Parameters
    ----------
    x : ndarray of shape (n,)
        Integers (cast to uint64; negative ids wrap).

    Returns
    -------
    ndarray of shape (n,), dtype uint64
    """
    z = np.asarray(x).astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z += _M1
        z ^= z >> np.uint64(30)
        z *= _M2
        z ^= z >> np.uint64(27)
        z *= _M3
        z ^= z >> np.uint64(31)
    return z


def assign_folds(event_id: np.ndarray, k: int) -> np.ndarray:
    """Fold index in ``[0, k)`` of each event, a stable hash of its id.

    Parameters
    ----------
    event_id : ndarray of shape (n,)
    k : int
        Number of folds (>= 2).

    Returns
    -------
    ndarray of shape (n,), dtype int8
    """
    if k < 2:
        raise ValueError(f"folds: need at least 2 folds, got {k}")
    return (splitmix64(event_id) % np.uint64(k)).astype(np.int8)


def physics_weights(gen_weight: np.ndarray, xsec_pb: float, lumi_pb: float, sum_weights: float) -> np.ndarray:
    """Per-event weight ``genWeight * xsec * lumi / sum_weights`` (float64).

    Parameters
    ----------
    gen_weight : ndarray of shape (n,)
        Generator weights (may be negative).
    xsec_pb : float
        Cross-section in pb.
    lumi_pb : float
        Integrated luminosity in pb^-1.
    sum_weights : float
        Sum of generator weights of all generated events (before selection).
    """
    if not np.isfinite(sum_weights) or sum_weights == 0:
        raise ValueError(f"sum_weights: must be finite and non-zero, got {sum_weights}")
    if not np.isfinite(xsec_pb) or xsec_pb < 0:
        raise ValueError(f"xsec_pb: must be finite and >= 0, got {xsec_pb}")
    return np.asarray(gen_weight, dtype=np.float64) * (xsec_pb * lumi_pb / sum_weights)


def training_weights(
    weight: np.ndarray, y: np.ndarray, *, negative_weights: str = "abs", class_balance: bool = True
) -> np.ndarray:
    """Training weights from physics weights.

    Parameters
    ----------
    weight : ndarray of shape (n,)
        Physics event weights.
    y : ndarray of shape (n,)
        Labels, 1 = signal, 0 = background.
    negative_weights : {"keep", "zero", "abs"}
        Policy for negative weights.
    class_balance : bool
        Renormalise each class to equal total weight.

    Returns
    -------
    ndarray of shape (n,), float64, mean 1.
    """
    if negative_weights not in NEGATIVE_WEIGHT_POLICIES:
        raise ValueError(
            f"training.negative_weights: unknown policy '{negative_weights}'; use one of {NEGATIVE_WEIGHT_POLICIES}"
        )
    w = np.asarray(weight, dtype=np.float64).copy()
    y = np.asarray(y)
    if negative_weights == "zero":
        w[w < 0] = 0.0
    elif negative_weights == "abs":
        np.abs(w, out=w)
    if class_balance:
        for cls in (0, 1):
            mask = y == cls
            total = w[mask].sum()
            if mask.any() and not total > 0:
                raise ValueError(
                    f"training weights: total weight of class {'signal' if cls else 'background'} is {total:g} "
                    "(not positive); check the samples' weights or use training.negative_weights: abs"
                )
            if mask.any():
                w[mask] *= 0.5 / total
    total = w.sum()
    if not total > 0:
        raise ValueError(f"training weights: total training weight is {total:g}, not positive")
    return w * (len(w) / total)


class ExactSum:
    """The sum of float64 values without any rounding until :attr:`value` (correctly rounded once).

    The sum of a sample's weights (``sum_weights: auto``) is accumulated part by part (one per input file
    or entry range); an exact sum makes it, and so every physics weight, the same bits however the files
    are split. The state is an integer ``T`` with ``sum = T * 2**-1126`` (every finite double is an
    integer multiple of ``2**-1074 = 2**52 * 2**-1126``), kept as text (:meth:`to_text`) between jobs.

    Vectorised: ``x = +-mant * 2**e`` read from the bits; the 53-bit integer mantissas are split into
    27- and 26-bit halves and summed per exponent, exactly (float64 adds integers below ``2**53``
    without rounding, so at most ``2**25`` values are summed at once).
    """

    _SHIFT = 1126
    _BLOCK = 1 << 25

    def __init__(self, total: int = 0, finite: bool = True):
        self.total, self.finite = int(total), bool(finite)

    def add(self, x) -> "ExactSum":
        """Add the values of ``x`` (any shape); a NaN or infinity makes the sum non-finite."""
        x = np.ascontiguousarray(x, dtype=np.float64).ravel()
        with np.errstate(all="ignore"):
            total = x.sum()
        if not np.isfinite(total) and not np.all(np.isfinite(x)):
            self.finite = False
            return self
        for start in range(0, len(x), self._BLOCK):
            bits = x[start:start + self._BLOCK].view(np.uint64)
            field = (bits >> np.uint64(52)).astype(np.int64) & 0x7FF   # biased exponent
            mant = (bits & np.uint64((1 << 52) - 1)).astype(np.int64)
            mant[field > 0] |= 1 << 52                                # x = +-mant * 2**(max(field, 1) - 1075)
            negative = (bits >> np.uint64(63)).astype(bool)
            hi = (mant >> 26).astype(np.float64)
            lo = (mant & ((1 << 26) - 1)).astype(np.float64)
            hi[negative] *= -1.0
            lo[negative] *= -1.0
            present = np.flatnonzero(np.bincount(field, minlength=2048))
            if len(present) <= 8:  # the usual case (unit or few distinct weights): one masked sum per exponent
                sums = [(f, hi[field == f].sum(), lo[field == f].sum()) for f in present] if len(present) > 1 \
                    else [(present[0], hi.sum(), lo.sum())] if len(present) else []
            else:
                h, lw = np.bincount(field, weights=hi, minlength=2048), np.bincount(field, weights=lo, minlength=2048)
                sums = [(f, h[f], lw[f]) for f in present]
            for f, h, lw in sums:  # every partial sum is an integer below 2**53: exact in float64
                self.total += ((int(h) << 26) + int(lw)) << (max(int(f), 1) - 1075 + self._SHIFT)
        return self

    def add_count(self, n: int) -> "ExactSum":
        """Add ``n`` unit weights."""
        self.total += int(n) << self._SHIFT
        return self

    def __iadd__(self, other: "ExactSum") -> "ExactSum":
        self.total += other.total
        self.finite &= other.finite
        return self

    @property
    def value(self) -> float:
        """The sum, correctly rounded to float64 (NaN when a value was not finite, +-inf past the range)."""
        if not self.finite:
            return float("nan")
        try:
            return float(Fraction(self.total, 1 << self._SHIFT))
        except OverflowError:
            return float("inf") if self.total > 0 else float("-inf")

    def to_text(self) -> str:
        """The exact state as text (``"nan"`` when not finite), for :meth:`from_text`."""
        return hex(self.total) if self.finite else "nan"

    @classmethod
    def from_text(cls, text: str) -> "ExactSum":
        return cls(finite=False) if text == "nan" else cls(int(text, 16))
