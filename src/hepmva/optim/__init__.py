"""Optimisation on flat parameter vectors.

- :mod:`hepmva.optim.updates`    first-order update rules (SGD, momentum, Nesterov, RMSProp,
  AdaGrad, Adam) and Polyak averaging, each updating arrays in place
- :mod:`hepmva.optim.schedules`  learning-rate schedules as pure functions of the step
"""

from hepmva.optim.minimize import MinimizeResult, minimize  # second-order + GA minimisers
from hepmva.optim.schedules import SCHEDULES, get_schedule
from hepmva.optim.updates import (
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    Momentum,
    Nesterov,
    Optimizer,
    PolyakAverage,
    RMSProp,
    make_optimizer,
)

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "SGD",
    "AdaGrad",
    "Adam",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "PolyakAverage",
    "RMSProp",
    "get_schedule",
    "make_optimizer",
]
