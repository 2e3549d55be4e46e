"""Learning-rate schedules: closed forms at chosen steps."""

from __future__ import annotations

import math

import pytest

from hepmva.optim.schedules import SCHEDULES, cosine, exponential, get_schedule, inverse_time, step


def test_closed_forms() -> None:
    assert SCHEDULES["constant"](0.1, 57) == 0.1
    assert inverse_time(0.1, 3, decay=1.0, power=0.5) == pytest.approx(0.1 / 2.0)
    assert inverse_time(0.1, 0) == 0.1
    assert step(0.1, 9, gamma=0.5, step_size=10) == 0.1
    assert step(0.1, 10, gamma=0.5, step_size=10) == pytest.approx(0.05)
    assert step(0.1, 25, gamma=0.5, step_size=10) == pytest.approx(0.025)
    assert exponential(0.1, 2, gamma=0.9) == pytest.approx(0.081)
    assert cosine(0.1, 0, T=10) == pytest.approx(0.1)
    assert cosine(0.1, 5, T=10) == pytest.approx(0.05)
    assert cosine(0.1, 10, T=10, eta_min=0.01) == pytest.approx(0.01)
    assert cosine(0.1, 20, T=10, eta_min=0.01) == pytest.approx(0.01)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedules_are_pure_nonincreasing_and_positive(name: str) -> None:
    f = get_schedule(name)
    values = [f(0.1, t, T=50) for t in range(60)]
    assert values[0] == pytest.approx(0.1)
    assert all(b <= a + 1e-15 for a, b in zip(values, values[1:]))
    assert all(v >= 0 and math.isfinite(v) for v in values)
    assert values == [f(0.1, t, T=50) for t in range(60)]


def test_unknown_schedule() -> None:
    with pytest.raises(ValueError, match="'warmup'"):
        get_schedule("warmup")
