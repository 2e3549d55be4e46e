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

import numpy as np

__all__ = ["BOOKKEEPING_COLUMNS", "splitmix64", "assign_folds", "physics_weights", "training_weights", "NEGATIVE_WEIGHT_POLICIES"]

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
