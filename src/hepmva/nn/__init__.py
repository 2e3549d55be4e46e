"""The in-house neural network (numpy; its elementwise steps optionally compiled by numba, :mod:`hepmva.jit`).

- :mod:`hepmva.nn.activations`  g(z) and g'(z) side by side (sigmoid, tanh, relu, linear)
- :mod:`hepmva.nn.losses`       cross-entropy and squared error with their output error delta^(L)
- :mod:`hepmva.nn.init`         weight initialisers (zero, uniform, normal, Glorot, He)
- :mod:`hepmva.nn.mlp`          :class:`MLPClassifier`: forward pass, backpropagation, training loop
- :mod:`hepmva.nn.objective`    :class:`FlatObjective`: the cost as value / value-and-gradient / decision of
  one flat parameter vector (the full-batch solvers, the training-methods study, the gradient tests)
"""

from hepmva.nn.activations import ACTIVATIONS, get_activation
from hepmva.nn.init import INITIALIZERS, get_initializer
from hepmva.nn.losses import LOSSES, get_loss
from hepmva.nn.mlp import DivergenceError, MLPClassifier

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "LOSSES",
    "DivergenceError",
    "MLPClassifier",
    "get_activation",
    "get_initializer",
    "get_loss",
]
