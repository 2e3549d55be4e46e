"""Logging and error reporting for command-line and workflow use (library code only calls ``logging.getLogger``).

Every workflow script starts with ``log_to(snakemake.log[0])``. From then on:

- every hepmva log record goes to the rule's log file; warnings and errors also go to the terminal
  (``HEPMVA_TERMINAL_LOG=INFO`` shows the progress lines there too);
- an uncaught :class:`~hepmva.errors.HepmvaError` (bad input, bad config, a refused model file, training
  that cannot proceed) prints **one line** on the terminal, ``hepmva error: <message> (rule log: <path>)``,
  and its traceback goes to the log file only; the process exits with status 1;
- any other uncaught exception is a bug: the traceback goes to the log file *and* the terminal;
- the log records what the job cost: its start-up (``job start-up (Python, imports): 1.02 s wall, 0.95 s
  CPU``, the interpreter, Snakemake's preamble and the imports before the work) and, at a successful exit,
  the whole (``job done: 12.3 s wall, 20.1 s CPU (1.63 cores on average; ...), peak RSS 410 MiB``), CPU
  seconds of every thread and child process (``benchmarks/bench_study.py`` reads these lines).

:class:`Progress` is the progress line of long work (done / total, rate, time left), logged at most
every :data:`PROGRESS_INTERVAL` seconds.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import re
import resource
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, TypeVar

from hepmva.errors import HepmvaError

__all__ = ["log_to", "one_line", "exit_on_error", "collected_errors", "ERROR_PREFIX", "Progress",
           "PROGRESS_INTERVAL", "process_age", "JOB_START_PREFIX", "JOB_DONE_PREFIX", "JobCost", "job_cost"]

#: seconds between two progress lines of a :class:`Progress` made without ``interval``
PROGRESS_INTERVAL = 10.0

#: What every one-line error starts with on the terminal (the Snakefile's ``onerror`` handler finds these).
ERROR_PREFIX = "hepmva error: "

T = TypeVar("T")

#: start of the log line with a job's start-up cost (``log_to``) and of the one with its whole cost (at exit);
#: :func:`job_cost` reads them back
JOB_START_PREFIX = "job start-up (Python, imports): "
JOB_DONE_PREFIX = "job done: "
_job_log = logging.getLogger("hepmva.job")
_job = {"registered": False, "failed": False, "startup_cpu": 0.0}
_NUMBER = r"([\d.]+)"
_START_LINE = re.compile(rf"{re.escape(JOB_START_PREFIX)}{_NUMBER} s wall, {_NUMBER} s CPU")
_DONE_LINE = re.compile(rf"{re.escape(JOB_DONE_PREFIX)}{_NUMBER} s wall, {_NUMBER} s CPU .*peak RSS {_NUMBER} MiB")


class JobCost(NamedTuple):
    """What a job's log says it cost (:func:`job_cost`); None where the line is missing (a failed job has no
    ``job done`` line, a job that never called :func:`log_to` neither)."""

    wall: float | None
    cpu: float | None
    peak_rss_mib: float | None
    startup_wall: float | None
    startup_cpu: float | None


def job_cost(text: str) -> JobCost:
    """The costs in a rule log's text: its ``job start-up`` and ``job done`` lines (the benchmark scripts' reader)."""
    start, done = _START_LINE.search(text), _DONE_LINE.search(text)
    wall, cpu, rss = (float(x) for x in done.groups()) if done else (None, None, None)
    startup_wall, startup_cpu = (float(x) for x in start.groups()) if start else (None, None)
    return JobCost(wall, cpu, rss, startup_wall, startup_cpu)


def process_age() -> float | None:
    """Wall seconds since this process started (Linux ``/proc``; None elsewhere), 10 ms resolution."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, AttributeError):
        return None


def _cpu_seconds() -> float:
    """CPU seconds (user + system, every thread) of this process and of its finished child processes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_rss_mib() -> float:
    """This process's peak resident memory (MiB): ``VmHWM`` of ``/proc/self/status``, which exec resets.

    ``ru_maxrss`` is not: a job that Snakemake starts (fork, then exec of the script's Python) reports at least
    the Snakemake process's own peak, ~260 MiB, however little the job uses. ``ru_maxrss`` where /proc is absent.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _log_job_cost() -> None:
    """At exit of a job that did not fail: its wall and CPU seconds and peak memory (the error line stays last
    in a failed job's log, where :func:`collected_errors` finds it).

    Then :func:`gc.freeze`: a job's imports leave ~10^6 objects alive to the end, and the interpreter's exit walks
    them all in its garbage collections: 0.3-0.7 s of CPU per job, as much as some jobs' work (a train job of a
    scikit-learn kind: 3.65 -> 3.02 s of CPU, the same as leaving by ``os._exit``). Frozen, they are skipped;
    the rest of the exit (atexit handlers registered before this one, every reference-counted release, the
    flushing of files) is unchanged.
    """
    try:
        age = process_age()
        if _job["failed"] or age is None:
            return
        cpu = _cpu_seconds()
        rss_mib = peak_rss_mib()
        _job_log.info("%s%.2f s wall, %.2f s CPU (%.2f cores on average; %.2f s CPU of it start-up), peak RSS "
                      "%.0f MiB", JOB_DONE_PREFIX, age, cpu, cpu / age if age > 0 else 0.0, _job["startup_cpu"],
                      rss_mib)
    finally:
        gc.freeze()


def one_line(exc: BaseException) -> str:
    """The user-facing line of ``exc``: its message with line breaks folded into ``; ``."""
    text = "; ".join(part.strip() for part in str(exc).strip().splitlines() if part.strip())
    return text or type(exc).__name__


def exit_on_error(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Return ``func(*args, **kwargs)``; on a :class:`~hepmva.errors.HepmvaError` print its one line and exit 1.

    For code that runs before any rule (the Snakefile's config check): the user sees one line, not
    Snakemake's traceback block.
    """
    try:
        return func(*args, **kwargs)
    except HepmvaError as exc:
        sys.stderr.write(f"{ERROR_PREFIX}{one_line(exc)}\n")
        sys.stderr.flush()
        raise SystemExit(1) from None


def log_to(path: str | Path | None, level: int = logging.INFO) -> None:
    """Send hepmva's log records (and warnings) to ``path``, and install the one-line error hook.

    Parameters
    ----------
    path : str or Path or None
        The rule's log file (created, truncated); None logs to the terminal only.
    level : int
        Level of the records kept in the log file (the terminal shows warnings and errors unless
        ``HEPMVA_TERMINAL_LOG`` names another level).
    """
    fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s", "%H:%M:%S")
    terminal = logging.StreamHandler(sys.stderr)
    wanted = os.environ.get("HEPMVA_TERMINAL_LOG", "WARNING" if path else "INFO").upper()
    terminal.setLevel(logging.getLevelNamesMapping().get(wanted, logging.WARNING))
    handlers: list[logging.Handler] = [terminal]
    logfile: logging.FileHandler | None = None
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        logfile = logging.FileHandler(path, mode="w")
        handlers.append(logfile)
    for h in handlers:
        h.setFormatter(fmt)
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(True)
    sys.excepthook = _make_excepthook(logfile, path)
    age = process_age()
    if age is not None:  # what every job pays before its work: interpreter, imports, Snakemake's preamble
        _job["startup_cpu"] = _cpu_seconds()
        _job_log.info("%s%.2f s wall, %.2f s CPU", JOB_START_PREFIX, age, _job["startup_cpu"])
        if not _job["registered"]:
            _job["registered"] = True
            atexit.register(_log_job_cost)
    # The objects of the imports so far live as long as the process (a job, the CLI: log_to is called once, at
    # its start): frozen, the garbage collector's full collections stop walking them (an evaluate job: 5.2 ->
    # 4.85 s of CPU). Objects created later are collected as before.
    gc.freeze()


def _make_excepthook(logfile: logging.FileHandler | None, path: str | Path | None):
    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        _job["failed"] = True
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        if logfile is not None:
            logfile.stream.write(text)
            if isinstance(exc, HepmvaError):
                logfile.stream.write(f"{ERROR_PREFIX}{one_line(exc)}\n")
            logfile.flush()
        if isinstance(exc, HepmvaError):
            where = f" (rule log: {path})" if path else ""
            sys.stderr.write(f"{ERROR_PREFIX}{one_line(exc)}{where}\n")
        else:
            sys.stderr.write(text)
        sys.stderr.flush()

    return hook


def collected_errors(log_dir: str | Path, since: float) -> list[str]:
    """The one-line errors that rules wrote into their logs under ``log_dir`` since ``since`` (epoch seconds).

    Each entry is ``hepmva error: <message> (rule log: <path>)``; used by the Snakefile's ``onerror`` handler
    to end a failed run on the reason rather than on Snakemake's "At least one job did not complete".
    """
    out = []
    for path in sorted(Path(log_dir).rglob("*.log")):
        try:
            if path.stat().st_mtime < since:
                continue
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        if lines and lines[-1].startswith(ERROR_PREFIX):
            out.append(f"{lines[-1]} (rule log: {path})")
    return out


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
