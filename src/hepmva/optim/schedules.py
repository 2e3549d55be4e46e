"""Learning-rate schedules: tiny pure functions ``eta_t = schedule(eta0, t, ...)``.

``t`` counts from 0 (the MLP applies them per epoch). All return a float.

- ``constant``:     ``eta0``
- ``inverse_time``: ``eta0 / (1 + decay t)^power``  (scikit-learn's "invscaling" with decay=1)
- ``step``:         ``eta0 gamma^floor(t / step_size)``
- ``exponential``:  ``eta0 gamma^t``
- ``cosine``:       ``eta_min + (eta0 - eta_min) (1 + cos(pi t / T)) / 2``, held at eta_min after T
"""

from __future__ import annotations

import math
from typing import Any, Callable

__all__ = [
    "SCHEDULES",
    "constant",
    "cosine",
    "exponential",
    "get_schedule",
    "inverse_time",
    "step",
]


def constant(eta0: float, t: int, **_: Any) -> float:
    """``eta0`` for every t."""
    return float(eta0)


def inverse_time(eta0: float, t: int, *, decay: float = 1.0, power: float = 0.5, **_: Any) -> float:
    """Inverse-time decay ``eta0 / (1 + decay t)^power``."""
    return float(eta0) / (1.0 + decay * t) ** power


def step(eta0: float, t: int, *, gamma: float = 0.5, step_size: int = 10, **_: Any) -> float:
    """Step decay: multiply by ``gamma`` every ``step_size`` steps."""
    return float(eta0) * gamma ** (t // max(int(step_size), 1))


def exponential(eta0: float, t: int, *, gamma: float = 0.95, **_: Any) -> float:
    """Exponential decay ``eta0 gamma^t``."""
    return float(eta0) * gamma**t


def cosine(eta0: float, t: int, *, T: int = 100, eta_min: float = 0.0, **_: Any) -> float:
    """Cosine annealing from ``eta0`` at t=0 to ``eta_min`` at t=T (constant afterwards)."""
    frac = min(t, T) / max(T, 1)
    return eta_min + (float(eta0) - eta_min) * 0.5 * (1.0 + math.cos(math.pi * frac))


SCHEDULES: dict[str, Callable[..., float]] = {
    "constant": constant,
    "inverse_time": inverse_time,
    "invscaling": inverse_time,  # scikit-learn's name
    "step": step,
    "exponential": exponential,
    "cosine": cosine,
}


def get_schedule(name: str) -> Callable[..., float]:
    """Look up a schedule by config name; one-line ValueError if unknown."""
    try:
        return SCHEDULES[name]
    except (KeyError, TypeError):
        raise ValueError(f"learning_rate={name!r} is not one of {sorted(SCHEDULES)}") from None
