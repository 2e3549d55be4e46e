"""Activation functions g(z) and their derivatives g'(z), side by side.

Each activation is an :class:`Activation` holding two in-place functions:

- ``forward(z, out)`` writes ``a = g(z)`` into ``out``;
- ``derivative(z, a, out)`` writes ``g'(z)`` into ``out``, written in terms of the already
  computed ``a = g(z)`` (sigmoid: ``a (1 - a)``, tanh: ``1 - a**2``, relu: ``1[a > 0]``), which is
  cheaper than recomputing and lets the network's forward pass overwrite ``z`` with ``a``;
- ``forward_derivative(z, out, gprime)`` does both at once (``out`` may be ``z``): the training
  pass needs ``a`` and ``g'(z)`` together, and relu's fused form (the mask, then ``a = z * mask``)
  takes two fast passes where ``np.maximum`` plus the mask takes three slower ones;
- compiled kernels (:mod:`hepmva.jit`, used when ``MLPClassifier(kernels=...)`` selects them):
  ``forward_inplace(a)`` (relu: ``a = max(z, 0)`` over the buffer holding ``z``, one pass) and
  ``backprop(delta, a)``: ``delta *= g'(z)`` with ``g'`` written from ``a`` as in ``derivative``, one
  pass and no ``g'`` buffer at all (the backward pass reads the ``a`` the forward pass kept).

Numerical safety lives here: the sigmoid is :func:`scipy.special.expit`, which never overflows.
The registry :data:`ACTIVATIONS` is keyed by the config string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import expit

from hepmva.jit import Kernel, kernel

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "get_activation",
    "identity",
    "identity_derivative",
    "relu",
    "relu_derivative",
    "relu_backprop",
    "relu_forward_derivative",
    "relu_forward_inplace",
    "sigmoid",
    "sigmoid_backprop",
    "sigmoid_derivative",
    "tanh",
    "tanh_backprop",
    "tanh_derivative",
]

Array = np.ndarray


# --- sigmoid: g(z) = 1 / (1 + exp(-z)),  g'(z) = g(z) (1 - g(z)) -----------------------------
def sigmoid(z: Array, out: Array | None = None) -> Array:
    """Logistic function ``1 / (1 + exp(-z))`` (stable for any z)."""
    return expit(z, out=out)


def sigmoid_derivative(z: Array, a: Array, out: Array | None = None) -> Array:
    """``g'(z) = a (1 - a)`` with ``a = sigmoid(z)``."""
    out = np.subtract(1.0, a, out=out)
    out *= a
    return out


@kernel
def sigmoid_backprop(delta: Array, a: Array) -> None:
    """``delta *= g'(z) = (1 - a) a`` in place (1-D arrays of one size; compiled kernel)."""
    one = a.dtype.type(1.0)
    for i in range(delta.size):
        delta[i] *= (one - a[i]) * a[i]


# --- tanh: g(z) = tanh(z),  g'(z) = 1 - tanh(z)^2 --------------------------------------------
def tanh(z: Array, out: Array | None = None) -> Array:
    """Hyperbolic tangent."""
    return np.tanh(z, out=out)


def tanh_derivative(z: Array, a: Array, out: Array | None = None) -> Array:
    """``g'(z) = 1 - a**2`` with ``a = tanh(z)``."""
    out = np.multiply(a, a, out=out)
    np.subtract(1.0, out, out=out)
    return out


@kernel
def tanh_backprop(delta: Array, a: Array) -> None:
    """``delta *= g'(z) = 1 - a**2`` in place (1-D arrays of one size; compiled kernel)."""
    one = a.dtype.type(1.0)
    for i in range(delta.size):
        delta[i] *= one - a[i] * a[i]


# --- relu: g(z) = max(z, 0),  g'(z) = 1 if z > 0 else 0 ---------------------------------------
def relu(z: Array, out: Array | None = None) -> Array:
    """Rectified linear unit ``max(z, 0)``."""
    return np.maximum(z, 0.0, out=out)


def relu_derivative(z: Array, a: Array, out: Array | None = None) -> Array:
    """``g'(z) = 1[z > 0] = 1[a > 0]`` (0 at z = 0), from ``a = max(z, 0)``."""
    if out is None:
        return (a > 0).astype(a.dtype)
    return np.greater(a, 0.0, out=out)


def relu_forward_derivative(z: Array, out: Array, gprime: Array) -> Array:
    """``a = max(z, 0)`` into ``out`` and ``g'(z) = 1[z > 0]`` into ``gprime``, fused.

    ``a = z * 1[z > 0]``: the mask is the derivative, so two passes give both (``out`` may be
    ``z``). A non-finite ``z`` (only from a diverging network) gives a non-finite ``a``.
    """
    np.greater(z, 0.0, out=gprime)
    return np.multiply(z, gprime, out=out)


@kernel
def relu_forward_inplace(a: Array) -> None:
    """``a = max(z, 0)`` in place over the 1-D buffer holding ``z`` (compiled kernel; NaN stays NaN)."""
    zero = a.dtype.type(0.0)
    for i in range(a.size):
        if a[i] <= zero:
            a[i] = zero


@kernel
def relu_backprop(delta: Array, a: Array) -> None:
    """``delta *= g'(z) = 1[a > 0]`` in place (1-D arrays of one size; compiled kernel).

    A multiplication by 1 or 0, as ``delta *= relu_derivative(z, a)``: the same numbers, NaN included.
    """
    zero, one = a.dtype.type(0.0), a.dtype.type(1.0)
    for i in range(delta.size):
        delta[i] *= one if a[i] > zero else zero


# --- identity (linear): g(z) = z,  g'(z) = 1 --------------------------------------------------
def identity(z: Array, out: Array | None = None) -> Array:
    """Linear activation ``g(z) = z``."""
    if out is None:
        return z.copy()
    if out is not z:
        np.copyto(out, z)
    return out


def identity_derivative(z: Array, a: Array, out: Array | None = None) -> Array:
    """``g'(z) = 1``."""
    if out is None:
        return np.ones_like(z)
    out.fill(1.0)
    return out


@dataclass(frozen=True)
class Activation:
    """An activation function and its derivative.

    Attributes
    ----------
    name : str
        Config name.
    forward : callable ``(z, out) -> a``
        ``a = g(z)``, elementwise, written into ``out`` (may be ``z`` itself).
    derivative : callable ``(z, a, out) -> g'(z)``
        The derivative at ``z``; ``a = g(z)`` must be passed too (it is what is used, so ``z``
        may already have been overwritten by ``a``).
    fused : callable ``(z, out, gprime) -> a`` or None
        A faster :meth:`forward_derivative` than forward-then-derivative, where there is one.
    forward_inplace : Kernel or None
        Compiled ``a = g(z)`` in place over a 1-D buffer; None: ``forward(z, out=z)`` is one pass already.
    backprop : Kernel or None
        Compiled ``delta *= g'(z)`` from ``a`` (1-D arrays); None: ``g' = 1`` (nothing to do).
    """

    name: str
    forward: Callable[..., Array]
    derivative: Callable[..., Array]
    fused: Callable[..., Array] | None = None
    forward_inplace: Kernel | None = None
    backprop: Kernel | None = None

    def forward_derivative(self, z: Array, out: Array, gprime: Array) -> Array:
        """``a = g(z)`` into ``out`` (may be ``z``) and ``g'(z)`` into ``gprime``; returns ``out``."""
        if self.fused is not None:
            return self.fused(z, out, gprime)
        self.forward(z, out=out)
        self.derivative(out, out, out=gprime)
        return out


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_derivative, backprop=sigmoid_backprop),
    "tanh": Activation("tanh", tanh, tanh_derivative, backprop=tanh_backprop),
    "relu": Activation("relu", relu, relu_derivative, relu_forward_derivative,
                       forward_inplace=relu_forward_inplace, backprop=relu_backprop),
    "linear": Activation("linear", identity, identity_derivative),
}
ACTIVATIONS["logistic"] = ACTIVATIONS["sigmoid"]  # scikit-learn's name
ACTIVATIONS["identity"] = ACTIVATIONS["linear"]  # scikit-learn's name


def get_activation(name: str) -> Activation:
    """Look up an activation by config name; one-line ValueError if unknown."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"activation={name!r} is not one of {sorted(ACTIVATIONS)}"
        ) from None
