"""Logging set-up for command-line and workflow use (library code only calls ``logging.getLogger``),
and :class:`Progress`, the progress line of long work (events/s and time left, in the logs)."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

__all__ = ["log_to", "Progress", "PROGRESS_INTERVAL"]

#: seconds between two progress lines of a :class:`Progress` made without ``interval``
PROGRESS_INTERVAL = 10.0


def log_to(path: str | Path | None, level: int = logging.INFO) -> None:
    """Send hepmva's log records (and warnings) to ``path`` and to stderr."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s", "%H:%M:%S")
    for h in handlers:
        h.setFormatter(fmt)
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(True)


def _duration(seconds: float) -> str:
    seconds = max(float(seconds), 0.0)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Progress of a long loop, logged at most every ``interval`` seconds: done / total, rate, time left.

    ``update(n)`` after each piece of work (a chunk of events, a boosting round, a tree, a bootstrap
    replica); a line such as ``features ttbar: 2.1e+05 / 4.0e+05 events (52 %), 3.1e+04 events/s,
    about 6 s left`` is logged when ``interval`` seconds have passed since the last one, so that
    nothing is silent for long and fast loops do not flood the log. ``done()`` logs the total.

    Parameters
    ----------
    logger : logging.Logger
        Where the lines go (INFO).
    what : str
        What is being done (start of every line).
    total : float, optional
        Expected amount of work (unknown: no percentage, no time left).
    unit : str
        Unit of the work ("events", "rounds", "trees", "replicas").
    interval : float, optional
        Seconds between two lines (default :data:`PROGRESS_INTERVAL`, 10 s).
    clock : callable, optional
        Time source (``time.perf_counter``), replaceable for tests.
    """

    def __init__(self, logger: logging.Logger, what: str, *, total: float | None = None, unit: str = "events",
                 interval: float | None = None, clock=time.perf_counter) -> None:
        self.logger, self.what, self.total, self.unit = logger, what, total, unit
        self.interval = float(PROGRESS_INTERVAL if interval is None else interval)
        self.clock = clock
        self.n = 0.0
        self.t0 = self._last = clock()

    def _count(self, x: float) -> str:
        return f"{x:.0f}" if abs(x) < 1e5 else f"{x:.3g}"

    def message(self) -> str:
        """The current progress line."""
        elapsed = self.clock() - self.t0
        rate = self.n / elapsed if elapsed > 0 else float("nan")
        parts = [f"{self.what}: {self._count(self.n)}"]
        if self.total:
            parts[0] += f" / {self._count(self.total)} {self.unit} ({100 * self.n / self.total:.0f} %)"
        else:
            parts[0] += f" {self.unit}"
        parts.append(f"{rate:.3g} {self.unit}/s" if rate == rate else "")
        if self.total and rate > 0 and self.n < self.total:
            parts.append(f"about {_duration((self.total - self.n) / rate)} left")
        parts.append(f"{_duration(elapsed)} elapsed")
        return ", ".join(p for p in parts if p)

    def update(self, n: float = 1) -> None:
        """Count ``n`` more units of work; log a line if ``interval`` seconds passed since the last."""
        self.n += n
        now = self.clock()
        if now - self._last >= self.interval:
            self._last = now
            self.logger.info(self.message())

    def done(self) -> None:
        """Log the final count, rate and elapsed time (if the work took longer than ``interval``)."""
        if self.clock() - self.t0 >= self.interval:
            self.logger.info("%s (done)", self.message())
