"""Loss functions J for a sigmoid output unit, with their output error delta^(L), side by side.

The network's output is ``a = sigmoid(z)`` with ``z = z^(L)`` the output pre-activation. For one
event with label ``y`` in {0, 1} and event weight ``w`` the per-event losses are

- binary cross-entropy: ``L = -[y log a + (1 - y) log(1 - a)] = log(1 + e^z) - y z``
- mean squared error:   ``L = (a - y)^2``   (the lecture's ``(y - y_hat)^2``)

and the cost over a set of events is the weighted mean ``J = sum_i w_i L_i / W`` with a
normalisation ``W`` chosen by the caller (the sum of weights, see :mod:`hepmva.nn.mlp`).

The output error (lecture: ``delta^(L) = dJ/da^(L) * g'(z^(L))``) is, per event and up to the
factor ``w_i / W``,

- cross-entropy: ``(dL/da) a (1 - a) = [(a - y) / (a (1 - a))] a (1 - a) = a - y``
- squared error: ``2 (a - y) a (1 - a)``

The cross-entropy is evaluated from ``z`` with ``logaddexp``, so it is finite for every finite z
(no clipping needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = [
    "LOSSES",
    "Loss",
    "binary_cross_entropy",
    "binary_cross_entropy_delta",
    "get_loss",
    "squared_error",
    "squared_error_delta",
]

Array = np.ndarray


# --- binary cross-entropy ---------------------------------------------------------------------
def binary_cross_entropy(y: Array, z: Array, a: Array, w: Array) -> float:
    """``sum_i w_i [log(1 + exp(z_i)) - y_i z_i]`` (un-normalised weighted sum).

    Parameters
    ----------
    y, z, a, w : ndarray of shape (n_samples, 1)
        Labels in {0, 1}, output pre-activation, output ``sigmoid(z)``, event weights.
    """
    L = np.logaddexp(0.0, z)
    L -= y * z
    return float(np.vdot(w, L))


def binary_cross_entropy_delta(
    y: Array, z: Array, a: Array, w: Array, out: Array | None = None
) -> Array:
    """Output error ``w_i (a_i - y_i)`` of shape (n_samples, 1)."""
    out = np.subtract(a, y, out=out)
    out *= w
    return out


# --- squared error ----------------------------------------------------------------------------
def squared_error(y: Array, z: Array, a: Array, w: Array) -> float:
    """``sum_i w_i (a_i - y_i)^2`` (un-normalised weighted sum)."""
    r = a - y
    r *= r
    return float(np.vdot(w, r))


def squared_error_delta(
    y: Array, z: Array, a: Array, w: Array, out: Array | None = None
) -> Array:
    """Output error ``w_i * 2 (a_i - y_i) * a_i (1 - a_i)`` of shape (n_samples, 1)."""
    out = np.subtract(a, y, out=out)
    out *= a
    out *= 1.0 - a
    out *= w
    out *= 2.0
    return out


@dataclass(frozen=True)
class Loss:
    """A loss and its output error for a sigmoid output unit.

    Attributes
    ----------
    name : str
    value : callable ``(y, z, a, w) -> float``
        Weighted sum of per-event losses.
    delta : callable ``(y, z, a, w, out) -> ndarray``
        Output error ``w * dL/da * g'(z)`` per event.
    """

    name: str
    value: Callable[..., float]
    delta: Callable[..., Array]


LOSSES: dict[str, Loss] = {
    "cross_entropy": Loss("cross_entropy", binary_cross_entropy, binary_cross_entropy_delta),
    "mse": Loss("mse", squared_error, squared_error_delta),
}
LOSSES["log_loss"] = LOSSES["cross_entropy"]
LOSSES["squared_error"] = LOSSES["mse"]


def get_loss(name: str) -> Loss:
    """Look up a loss by config name; one-line ValueError if unknown."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"loss={name!r} is not one of {sorted(LOSSES)}") from None
