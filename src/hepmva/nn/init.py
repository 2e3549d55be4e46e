"""Weight initialisers: ``init(fan_in, fan_out, rng, dtype) -> W`` of shape (fan_in, fan_out).

- ``zero``: all weights 0. Every hidden unit of a layer then receives the same gradient and
  stays identical to its neighbours for ever (the symmetry the lecture warns about).
- ``uniform`` / ``normal``: U(-0.1, 0.1) / N(0, 0.1^2), independent of the layer size.
- ``glorot`` (Xavier, uniform): U(-s, s), ``s = sqrt(6 / (fan_in + fan_out))``; suits sigmoid/tanh.
- ``glorot_normal``: N(0, 2 / (fan_in + fan_out)).
- ``he`` (normal): N(0, 2 / fan_in); suits relu.
- ``he_uniform``: U(-s, s), ``s = sqrt(6 / fan_in)``.

Biases always start at zero.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["INITIALIZERS", "default_init", "get_initializer"]

RANDOM_SCALE = 0.1


def _zero(fan_in: int, fan_out: int, rng: np.random.Generator, dtype) -> np.ndarray:
    return np.zeros((fan_in, fan_out), dtype=dtype)


def _uniform(fan_in: int, fan_out: int, rng: np.random.Generator, dtype) -> np.ndarray:
    return rng.uniform(-RANDOM_SCALE, RANDOM_SCALE, (fan_in, fan_out)).astype(dtype)


def _normal(fan_in: int, fan_out: int, rng: np.random.Generator, dtype) -> np.ndarray:
    return rng.normal(0.0, RANDOM_SCALE, (fan_in, fan_out)).astype(dtype)


def _glorot_uniform(fan_in: int, fan_out: int, rng: np.random.Generator, dtype) -> np.ndarray:
    s = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-s, s, (fan_in, fan_out)).astype(dtype)


def _glorot_normal(fan_in: int, fan_out: int, rng: np.random.Generator, dtype) -> np.ndarray:
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), (fan_in, fan_out)).astype(dtype)


def _he_normal(fan_in: int, fan_out: int, rng: np.random.Generator, dtype) -> np.ndarray:
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, fan_out)).astype(dtype)


def _he_uniform(fan_in: int, fan_out: int, rng: np.random.Generator, dtype) -> np.ndarray:
    s = np.sqrt(6.0 / fan_in)
    return rng.uniform(-s, s, (fan_in, fan_out)).astype(dtype)


INITIALIZERS: dict[str, Callable[..., np.ndarray]] = {
    "zero": _zero,
    "uniform": _uniform,
    "normal": _normal,
    "glorot": _glorot_uniform,
    "glorot_uniform": _glorot_uniform,
    "xavier": _glorot_uniform,
    "glorot_normal": _glorot_normal,
    "he": _he_normal,
    "he_normal": _he_normal,
    "he_uniform": _he_uniform,
}


def default_init(activation: str) -> str:
    """He for relu, Glorot otherwise (the ``init="auto"`` choice)."""
    return "he" if activation == "relu" else "glorot"


def get_initializer(name: str) -> Callable[..., np.ndarray]:
    """Look up an initialiser by config name; one-line ValueError if unknown."""
    try:
        return INITIALIZERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"init={name!r} is not one of {sorted(INITIALIZERS)} or 'auto'") from None
