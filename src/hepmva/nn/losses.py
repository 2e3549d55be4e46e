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

Each loss also has an ``output`` kernel (:mod:`hepmva.jit`, compiled; used when
``MLPClassifier(kernels=...)`` selects the kernels): the sigmoid output unit, the weighted loss sum
and the output error of a batch in one loop instead of about ten small numpy calls.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Callable

import numpy as np

from hepmva.jit import Kernel, kernel

__all__ = [
    "LOSSES",
    "Loss",
    "binary_cross_entropy",
    "binary_cross_entropy_delta",
    "binary_cross_entropy_output",
    "get_loss",
    "squared_error",
    "squared_error_delta",
    "squared_error_output",
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


@kernel
def binary_cross_entropy_output(y: Array, z: Array, w: Array, scale, a: Array, delta: Array) -> float:
    """The batch's output unit in one loop (compiled kernel; columns of shape (m, 1)).

    Writes ``a = sigmoid(z)`` and ``delta = scale * w (a - y)`` and returns
    ``scale * sum_i w_i [log(1 + e^z_i) - y_i z_i]`` (summed in float64). ``scale`` has the
    dtype of the arrays.
    """
    one = a.dtype.type(1.0)
    total = 0.0
    for i in range(z.shape[0]):
        zi = z[i, 0]
        if zi >= 0:
            e = math.exp(-zi)
            ai = one / (one + e)
            softplus = zi + math.log1p(e)
        else:
            e = math.exp(zi)
            ai = e / (one + e)
            softplus = math.log1p(e)
        a[i, 0] = ai
        total += w[i, 0] * (softplus - y[i, 0] * zi)
        delta[i, 0] = (ai - y[i, 0]) * w[i, 0] * scale
    return total * scale


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


@kernel
def squared_error_output(y: Array, z: Array, w: Array, scale, a: Array, delta: Array) -> float:
    """As :func:`binary_cross_entropy_output` for ``L = (a - y)^2``: ``delta = scale w 2 (a - y) a (1 - a)``."""
    one, two = a.dtype.type(1.0), a.dtype.type(2.0)
    total = 0.0
    for i in range(z.shape[0]):
        zi = z[i, 0]
        if zi >= 0:
            ai = one / (one + math.exp(-zi))
        else:
            e = math.exp(zi)
            ai = e / (one + e)
        a[i, 0] = ai
        r = ai - y[i, 0]
        total += w[i, 0] * (r * r)
        delta[i, 0] = r * ai * (one - ai) * w[i, 0] * two * scale
    return total * scale


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
    output : Kernel
        Compiled ``(y, z, w, scale, a, delta) -> scale * value``: the sigmoid output ``a``, the
        error ``scale * delta`` and the scaled loss sum of a batch at once.
    """

    name: str
    value: Callable[..., float]
    delta: Callable[..., Array]
    output: Kernel


LOSSES: dict[str, Loss] = {
    "cross_entropy": Loss("cross_entropy", binary_cross_entropy, binary_cross_entropy_delta,
                          binary_cross_entropy_output),
    "mse": Loss("mse", squared_error, squared_error_delta, squared_error_output),
}
LOSSES["log_loss"] = LOSSES["cross_entropy"]
LOSSES["squared_error"] = LOSSES["mse"]


def get_loss(name: str) -> Loss:
    """Look up a loss by config name; one-line ValueError if unknown."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"loss={name!r} is not one of {sorted(LOSSES)}") from None
