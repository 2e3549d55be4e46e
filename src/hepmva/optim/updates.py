"""First-order update rules (the gradient-descent family), in place on a flat parameter vector.

Every optimizer owns only its state (arrays shaped like ``theta``, allocated once) and exposes
``step(theta, grad, eta)``, which overwrites ``theta`` in place with one update using the
gradient ``grad = nabla_theta J`` and the current learning rate ``eta`` (schedules live in
:mod:`hepmva.optim.schedules`). Which examples the gradient is computed on (all: batch gradient
descent; one, shuffled: stochastic; ``b``: mini-batch) is the caller's choice.

Rules (``g = grad``, all operations elementwise):

- ``SGD``:      ``theta := theta - eta g``
- ``Momentum``: ``Delta := -eta g + alpha Delta;  theta := theta + Delta``
  (the lecture's ``w := w - eta grad J + alpha Delta w``)
- ``Nesterov``: ``Delta := -eta g + alpha Delta;  theta := theta + alpha Delta - eta g``
  (Sutskever et al. 2013 form: the look-ahead gradient expressed at the current point)
- ``RMSProp``:  ``v := rho v + (1 - rho) g^2;  theta := theta - eta g / (sqrt(v) + epsilon)``
- ``AdaGrad``:  ``G := G + g^2;  theta := theta - eta g / (sqrt(G) + epsilon)``
- ``Adam``:     ``m := beta_1 m + (1 - beta_1) g;  v := beta_2 v + (1 - beta_2) g^2;
  theta := theta - eta [m / (1 - beta_1^t)] / (sqrt(v / (1 - beta_2^t)) + epsilon)``
- ``PolyakAverage``: the running mean ``theta_bar := theta_bar + (theta - theta_bar) / (t + 1)``
  of the iterates (parameter averaging), kept beside any of the above.

``kernels=True`` (``MLPClassifier(kernels=...)`` decides) makes Adam take its step in one compiled
loop (:func:`adam_step`, :mod:`hepmva.jit`) instead of ten numpy passes; the same arithmetic, in the
same order. Adam can also add an L2 penalty's gradient itself (``step(..., l2=c)``: ``g + c theta``
on the ``l2_segments`` of ``theta``, the weights), which the compiled loop does while it reads
``theta`` and ``g`` anyway: one pass over the parameters less per step (``fuses_l2``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hepmva.jit import kernel

__all__ = [
    "OPTIMIZERS",
    "AdaGrad",
    "Adam",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "PolyakAverage",
    "RMSProp",
    "SGD",
    "adam_step",
    "make_optimizer",
]

Array = np.ndarray


class Optimizer:
    """Base class: state shaped like ``theta``; :meth:`step` updates ``theta`` in place.

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
        The parameter vector (only its shape and dtype are used here).
    kernels : bool, default=False
        Take the step in a compiled loop where the rule has one (Adam).
    """

    #: whether ``step(theta, grad, eta, l2=c)`` adds the L2 gradient ``c theta`` (on the rule's
    #: ``l2_segments``) in its own pass over the parameters (the caller then leaves it out of ``grad``)
    fuses_l2 = False

    def __init__(self, theta: Array, kernels: bool = False) -> None:
        self.t = 0  # number of steps taken
        self.kernels = bool(kernels)
        self._work = np.empty_like(theta)

    def step(self, theta: Array, grad: Array, eta: float) -> None:  # pragma: no cover
        """Update ``theta`` in place by one step with gradient ``grad`` and learning rate ``eta``."""
        raise NotImplementedError


class SGD(Optimizer):
    """Plain gradient descent ``theta := theta - eta grad``."""

    def step(self, theta: Array, grad: Array, eta: float) -> None:
        self.t += 1
        np.multiply(grad, eta, out=self._work)
        theta -= self._work


class Momentum(Optimizer):
    """Momentum, lecture form ``w := w - eta grad J + alpha Delta w``.

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
    momentum : float
        ``alpha`` in [0, 1).
    """

    def __init__(self, theta: Array, momentum: float = 0.9, kernels: bool = False) -> None:
        super().__init__(theta, kernels)
        self.momentum = float(momentum)
        self.delta = np.zeros_like(theta)  # Delta w, the previous update

    def step(self, theta: Array, grad: Array, eta: float) -> None:
        self.t += 1
        self.delta *= self.momentum
        np.multiply(grad, eta, out=self._work)
        self.delta -= self._work  # Delta := alpha Delta - eta g
        theta += self.delta


class Nesterov(Momentum):
    """Nesterov's accelerated gradient: ``Delta := alpha Delta - eta g;  w += alpha Delta - eta g``."""

    def step(self, theta: Array, grad: Array, eta: float) -> None:
        self.t += 1
        self.delta *= self.momentum
        np.multiply(grad, eta, out=self._work)  # work = eta g
        self.delta -= self._work
        theta -= self._work
        np.multiply(self.delta, self.momentum, out=self._work)
        theta += self._work


class RMSProp(Optimizer):
    """RMSProp: per-parameter rate ``eta / sqrt(v)``, ``v`` the running mean of ``g^2``.

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
    rho : float
        Decay of the running mean of squared gradients.
    epsilon : float
        Added to ``sqrt(v)`` for numerical safety.
    """

    def __init__(self, theta: Array, rho: float = 0.9, epsilon: float = 1e-8, kernels: bool = False) -> None:
        super().__init__(theta, kernels)
        self.rho = float(rho)
        self.epsilon = float(epsilon)
        self.v = np.zeros_like(theta)

    def step(self, theta: Array, grad: Array, eta: float) -> None:
        self.t += 1
        w = self._work
        np.multiply(grad, grad, out=w)
        w *= 1.0 - self.rho
        self.v *= self.rho
        self.v += w
        np.sqrt(self.v, out=w)
        w += self.epsilon
        np.divide(grad, w, out=w)
        w *= eta
        theta -= w


class AdaGrad(Optimizer):
    """AdaGrad: per-parameter rate ``eta / sqrt(G)``, ``G`` the sum of all past ``g^2``."""

    def __init__(self, theta: Array, epsilon: float = 1e-8, kernels: bool = False) -> None:
        super().__init__(theta, kernels)
        self.epsilon = float(epsilon)
        self.G = np.zeros_like(theta)

    def step(self, theta: Array, grad: Array, eta: float) -> None:
        self.t += 1
        w = self._work
        np.multiply(grad, grad, out=w)
        self.G += w
        np.sqrt(self.G, out=w)
        w += self.epsilon
        np.divide(grad, w, out=w)
        w *= eta
        theta -= w


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias-corrected first and second moments.

    The moments are stored rescaled, ``mu = m / (1 - beta_1)`` and ``nu = v / (1 - beta_2)``,
    so their updates need no multiplication of the gradient: ``mu := beta_1 mu + g`` and
    ``nu := beta_2 nu + g^2``; the constant factors and both bias corrections are folded into
    the scalar step size and epsilon. The step is exactly ``eta m_hat / (sqrt(v_hat) + epsilon)``
    in ten passes over the parameters instead of thirteen (``m`` and ``v`` are properties).

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
    beta_1, beta_2 : float
        Decay rates of the first and second moment estimates.
    epsilon : float
        Added to the root of the second moment.
    kernels : bool, default=False
        The step in one compiled loop (:func:`adam_step`).
    l2_segments : ndarray of shape (k, 2) or None
        Flat index ranges ``[lo, hi)`` of ``theta`` (ascending, disjoint) that ``step(..., l2=c)``
        penalises: ``g_i + c theta_i`` in place of ``g_i`` there (the L2 penalty
        ``(c/2) sum theta_i^2``'s gradient; a network's weights, not its biases). With ``kernels``
        the compiled loop adds it as it goes (``fuses_l2``).
    """

    def __init__(
        self, theta: Array, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
        kernels: bool = False, l2_segments: Array | None = None,
    ) -> None:
        super().__init__(theta, kernels)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.mu = np.zeros_like(theta)  # m / (1 - beta_1)
        self.nu = np.zeros_like(theta)  # v / (1 - beta_2)
        self._kernel = adam_step.compiled() if self.kernels else None
        self._scalar = theta.dtype.type  # the kernel's scalars in the parameters' dtype
        self.fuses_l2 = self._kernel is not None and l2_segments is not None
        # [0, n_params) cut into ranges, each penalised or not: bounds[s] <= i < bounds[s + 1]
        bounds, penalised = [0], []
        for lo, hi in ([] if l2_segments is None else np.asarray(l2_segments).reshape(-1, 2).tolist()):
            if lo > bounds[-1]:
                bounds.append(lo)
                penalised.append(False)
            bounds.append(hi)
            penalised.append(True)
        if bounds[-1] < theta.size:
            bounds.append(theta.size)
            penalised.append(False)
        self._bounds = np.array(bounds, dtype=np.int64)
        self._penalised = np.array(penalised, dtype=np.bool_)

    @property
    def m(self) -> Array:
        """First moment ``m = beta_1 m + (1 - beta_1) g`` (a new array)."""
        return self.mu * (1.0 - self.beta_1)

    @property
    def v(self) -> Array:
        """Second moment ``v = beta_2 v + (1 - beta_2) g^2`` (a new array)."""
        return self.nu * (1.0 - self.beta_2)

    def step(self, theta: Array, grad: Array, eta: float, l2: float = 0.0) -> None:
        """One step; ``l2``: add ``l2 theta`` to ``grad`` on the ``l2_segments`` first (``grad`` is
        left as it is with the kernel, and holds the sum after the numpy step)."""
        self.t += 1
        w = self._work
        b1, b2 = self.beta_1, self.beta_2
        # eta m_hat / (sqrt(v_hat) + eps) with m_hat = (1 - b1) mu / (1 - b1^t) and
        # v_hat = (1 - b2) nu / (1 - b2^t) is  eta' mu / (sqrt(nu) + eps')  with
        # eta' = eta (1 - b1) sqrt(1 - b2^t) / ((1 - b1^t) sqrt(1 - b2)),
        # eps' = eps sqrt(1 - b2^t) / sqrt(1 - b2).
        c2 = math.sqrt((1.0 - b2**self.t) / (1.0 - b2)) if b2 else 1.0
        eta_t = eta * (1.0 - b1) * c2 / (1.0 - b1**self.t)
        if self._kernel is not None:
            f = self._scalar
            self._kernel(theta, grad, self.mu, self.nu, f(b1), f(b2), f(eta_t), f(self.epsilon * c2),
                         f(l2), self._bounds, self._penalised)
            return
        if l2:  # g := g + l2 theta on the penalised ranges
            for s in np.flatnonzero(self._penalised):
                lo, hi = self._bounds[s], self._bounds[s + 1]
                grad[lo:hi] += self._scalar(l2) * theta[lo:hi]
        # mu := b1 mu + g ;  nu := b2 nu + g^2
        self.mu *= b1
        self.mu += grad
        np.multiply(grad, grad, out=w)
        self.nu *= b2
        self.nu += w
        np.sqrt(self.nu, out=w)
        w += self.epsilon * c2
        np.divide(self.mu, w, out=w)
        w *= eta_t
        theta -= w


@kernel
def adam_step(theta: Array, g: Array, mu: Array, nu: Array, b1, b2, eta_t, eps_t, l2, bounds: Array,
              penalised: Array) -> None:
    """Adam's step in one loop (compiled kernel): for every parameter ``i``

    ``mu_i := b1 mu_i + g_i``, ``nu_i := b2 nu_i + g_i^2``,
    ``theta_i := theta_i - eta' mu_i / (sqrt(nu_i) + eps')`` (:class:`Adam`'s rescaled form; the
    scalars in the dtype of the arrays, the operations in :meth:`Adam.step`'s order), with
    ``g_i + l2 theta_i`` in place of ``g_i`` in the ranges ``bounds[s] <= i < bounds[s + 1]`` that
    are ``penalised[s]`` (``bounds`` ascending from 0 to ``theta.size``; ``g`` is not written).
    Each range is a loop over views of its own, which LLVM vectorises (indexing the whole arrays
    from a range's bounds it does not: 8x slower).
    """
    for s in range(penalised.size):
        lo, hi = bounds[s], bounds[s + 1]
        th, gs, ms, vs = theta[lo:hi], g[lo:hi], mu[lo:hi], nu[lo:hi]
        if penalised[s] and l2 != 0:
            for i in range(th.size):
                gi = gs[i] + l2 * th[i]
                m = b1 * ms[i] + gi
                v = b2 * vs[i] + gi * gi
                ms[i] = m
                vs[i] = v
                th[i] -= m / (math.sqrt(v) + eps_t) * eta_t
        else:
            for i in range(th.size):
                gi = gs[i]
                m = b1 * ms[i] + gi
                v = b2 * vs[i] + gi * gi
                ms[i] = m
                vs[i] = v
                th[i] -= m / (math.sqrt(v) + eps_t) * eta_t


class PolyakAverage:
    """Running mean of the iterates, ``theta_bar_t = (1/t) sum_{s<=t} theta_s`` (Polyak averaging).

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
        The starting point; the average starts equal to it.
    """

    def __init__(self, theta: Array) -> None:
        self.t = 1
        self.theta_bar = theta.copy()
        self._work = np.empty_like(theta)

    def update(self, theta: Array) -> None:
        """Fold the current iterate into the average (in place)."""
        self.t += 1
        np.subtract(theta, self.theta_bar, out=self._work)
        self._work *= 1.0 / self.t
        self.theta_bar += self._work


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "rmsprop": RMSProp,
    "adagrad": AdaGrad,
    "adam": Adam,
}


def make_optimizer(name: str, theta: Array, **hyper: Any) -> Optimizer:
    """Build the optimizer ``name`` for parameters shaped like ``theta``.

    Only the hyper-parameters the rule knows are used (``momentum``; ``rho``; ``beta_1``,
    ``beta_2``, ``l2_segments``; ``epsilon``; ``kernels`` for all); others are ignored so one dict can
    serve every rule.
    """
    try:
        cls = OPTIMIZERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"optimizer {name!r} is not one of {sorted(OPTIMIZERS)}") from None
    known = ("kernels",) + {
        SGD: (),
        Momentum: ("momentum",),
        Nesterov: ("momentum",),
        RMSProp: ("rho", "epsilon"),
        AdaGrad: ("epsilon",),
        Adam: ("beta_1", "beta_2", "epsilon", "l2_segments"),
    }[cls]
    return cls(theta, **{k: v for k, v in hyper.items() if k in known})
