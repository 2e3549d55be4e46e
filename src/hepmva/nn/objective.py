"""The MLP's cost as functions of one flat parameter vector: what the full-batch minimisers see.

:class:`FlatObjective` holds a network and a fixed set of weighted events and offers

- :meth:`~FlatObjective.value`: ``J(theta)`` by a forward pass only (the GA's fitness);
- :meth:`~FlatObjective.value_and_grad`: ``(J(theta), nabla J(theta))`` by backpropagation (Newton,
  BFGS, L-BFGS, gradient descent);
- :meth:`~FlatObjective.decision`: the output pre-activation ``z^(L)`` at ``theta`` on any events.

with ``J(theta) = sum_i w_i L(y_i, a_i) / sum_i w_i + (alpha / 2 sum_i w_i) sum_l ||W^(l)||^2``
(:mod:`hepmva.nn.mlp`): frequency-consistent, so integer weights equal repeated events exactly. The
MLP's own full-batch solvers, the training-methods study and the gradient tests all use this one
objective.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["FlatObjective"]


class FlatObjective:
    """``J`` of ``net`` on the events ``(X, y, sample_weight)`` as a function of ``theta``.

    Parameters
    ----------
    net : MLPClassifier
        A network with parameters (being fitted, or set up by :meth:`initial`); ``value``,
        ``value_and_grad`` and ``decision`` copy ``theta`` into it.
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Labels in {0, 1}.
    sample_weight : ndarray of shape (n_samples,), optional
        Event weights (negative allowed; positive sum); unit weights by default.
    """

    def __init__(self, net: Any, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None):
        dtype = net._theta.dtype
        self.net = net
        self.X = np.ascontiguousarray(X, dtype=dtype)
        self.y = np.asarray(y, dtype=dtype).ravel()
        self.w = (np.ones(len(self.y), dtype=dtype) if sample_weight is None
                  else np.asarray(sample_weight, dtype=dtype).ravel())
        if not (self.X.shape[0] == len(self.y) == len(self.w)):
            raise ValueError(f"FlatObjective: X, y, sample_weight have {self.X.shape[0]}, {len(self.y)}, "
                             f"{len(self.w)} events")
        self.w_sum = float(np.sum(self.w, dtype=np.float64))
        if not self.w_sum > 0:
            raise ValueError(f"FlatObjective: the event weights sum to {self.w_sum!r}, must be positive")
        net._prepare_math()
        #: the network's parameters when the objective was made (the minimisers' start), float64
        self.theta0 = net._pack().astype(np.float64)

    @classmethod
    def initial(cls, net: Any, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None, *,
                random_state: int = 0) -> FlatObjective:
        """The objective of an unfitted ``net`` whose parameters ``theta_0`` are drawn as ``fit`` would.

        Parameters
        ----------
        net : MLPClassifier
            Its architecture, activation, loss, alpha and dtype are used; it is never ``fit``.
        X, y, sample_weight : the events (see the class).
        random_state : int
            Seed of the initial weights.
        """
        net._init_params(int(np.shape(X)[1]), np.random.default_rng(random_state))
        net.classes_ = np.array([0, 1])
        return cls(net, X, y, sample_weight)

    @property
    def n_params(self) -> int:
        """Number of parameters (length of ``theta``)."""
        return int(self.net._theta.size)

    def value(self, theta: np.ndarray) -> float:
        """``J(theta)`` by a forward pass only; +inf when not finite (a GA individual that overflows)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            self.net._unpack(theta)
            J = self.net._full_loss(self.X, self.y, self.w)[0] + self.net._penalty(self.w_sum)
        return J if np.isfinite(J) else np.inf

    def value_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """``(J(theta), nabla J(theta))`` by backpropagation; the gradient is a new float64 array."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            J, g = self.net._loss_grad(theta, self.X, self.y, self.w)
        return float(J), np.asarray(g, dtype=np.float64)

    def decision(self, theta: np.ndarray, X: np.ndarray | None = None) -> np.ndarray:
        """Output pre-activation ``z^(L)`` at ``theta`` on ``X`` (default: the objective's events), float64."""
        self.net._unpack(theta)
        X = self.X if X is None else np.ascontiguousarray(X, dtype=self.net._theta.dtype)
        return np.asarray(self.net._decision(X), dtype=np.float64)
