"""Optimisation on flat parameter vectors.

- :mod:`hepmva.optim.updates`    first-order update rules (SGD, momentum, Nesterov, RMSProp,
  AdaGrad, Adam) and Polyak averaging, each updating arrays in place
- :mod:`hepmva.optim.schedules`  learning-rate schedules as pure functions of the step
- :mod:`hepmva.optim.minimize`   ``minimize(fun, x0, method=...)``: Newton, BFGS, L-BFGS, gradient
  descent and the genetic algorithm, one private function per method behind a dispatch table
- :mod:`hepmva.optim.result`     the one result record of every minimiser (and their shared bookkeeping)
- :mod:`hepmva.optim.linesearch` the Wolfe line search of the quasi-Newton methods
- :mod:`hepmva.optim.ga`         the genetic algorithm and its random-search baseline
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
    "MinimizeResult",
    "minimize",
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
