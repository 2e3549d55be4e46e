"""The one-line error mechanism: a HepmvaError is one line on the terminal, its traceback is in the rule log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hepmva.errors import ConfigError, HepmvaError, InputError
from hepmva.logs import (ERROR_PREFIX, JOB_DONE_PREFIX, JOB_START_PREFIX, collected_errors, exit_on_error, job_cost,
                         one_line)

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path, body: str) -> subprocess.CompletedProcess:
    """Run a script that starts like every workflow script (``log_to(<log>)``), in a fresh interpreter."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(f"""
        import logging
        from hepmva.logs import log_to
        log_to({str(tmp_path / "logs" / "rule.log")!r})
        logging.getLogger("hepmva.test").info("progress line")
    """) + textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("HEPMVA_TERMINAL_LOG", None)
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)


def test_user_error_is_one_line_on_the_terminal_and_a_traceback_in_the_log(tmp_path):
    proc = _run(tmp_path, """
        from hepmva.errors import InputError
        def read():
            raise InputError("data/x.root:Events: no branch 'mett' (did you mean 'met'?)")
        read()
    """)
    assert proc.returncode == 1
    log = tmp_path / "logs" / "rule.log"
    assert proc.stderr.splitlines() == [
        f"{ERROR_PREFIX}data/x.root:Events: no branch 'mett' (did you mean 'met'?) (rule log: {log})"]
    text = log.read_text()
    assert "progress line" in text and "Traceback (most recent call last)" in text and "in read" in text
    assert text.splitlines()[-1] == f"{ERROR_PREFIX}data/x.root:Events: no branch 'mett' (did you mean 'met'?)"


def test_unexpected_error_keeps_its_traceback_on_the_terminal(tmp_path):
    proc = _run(tmp_path, """
        def bug():
            return {}["missing"]
        bug()
    """)
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr and "KeyError: 'missing'" in proc.stderr
    assert ERROR_PREFIX not in proc.stderr
    assert "KeyError: 'missing'" in (tmp_path / "logs" / "rule.log").read_text()


def test_collected_errors_finds_the_failed_jobs_lines(tmp_path):
    proc = _run(tmp_path, """
        from hepmva.errors import TrainingError
        raise TrainingError("classifier 'mlp' fold 0: the training set has only one class")
    """)
    assert proc.returncode == 1
    (tmp_path / "logs" / "ok.log").write_text("all fine\n")
    lines = collected_errors(tmp_path / "logs", since=0)
    assert lines == [f"{ERROR_PREFIX}classifier 'mlp' fold 0: the training set has only one class "
                     f"(rule log: {tmp_path / 'logs' / 'rule.log'})"]
    assert collected_errors(tmp_path / "logs", since=(tmp_path / "logs" / "rule.log").stat().st_mtime + 10) == []


def test_exit_on_error_prints_one_line_and_exits(capsys):
    def check():
        raise ConfigError("config key 'folds': 'two' is not an integer")

    with pytest.raises(SystemExit) as info:
        exit_on_error(check)
    assert info.value.code == 1
    assert capsys.readouterr().err == f"{ERROR_PREFIX}config key 'folds': 'two' is not an integer\n"
    assert exit_on_error(lambda x: x + 1, 1) == 2


def test_every_user_error_is_a_hepmva_error_and_folds_to_one_line():
    from hepmva import config, io

    assert config.ConfigError is ConfigError and io.InputError is InputError
    assert issubclass(ConfigError, (HepmvaError, ValueError))
    assert one_line(InputError("first\n  second\n")) == "first; second"


def test_log_records_the_jobs_start_up_and_whole_cost(tmp_path):
    proc = _run(tmp_path, """
        import time
        t0 = time.process_time()
        while time.process_time() - t0 < 0.3:  # 0.3 s of CPU work
            pass
    """)
    assert proc.returncode == 0 and proc.stderr == ""
    lines = (tmp_path / "logs" / "rule.log").read_text().splitlines()
    start = next(line for line in lines if JOB_START_PREFIX in line)
    done = next(line for line in lines if JOB_DONE_PREFIX in line)
    assert lines.index(start) < lines.index(done) == len(lines) - 1
    wall, cpu = (float(x) for x in re.findall(r"([\d.]+) s (?:wall|CPU)", done)[:2])
    startup_wall, startup_cpu = (float(x) for x in re.findall(r"([\d.]+) s (?:wall|CPU)", start))
    assert 0 < startup_cpu <= cpu and startup_wall <= wall
    assert cpu - startup_cpu >= 0.3  # the work is in the total, measured by the kernel
    assert cpu <= wall * os.cpu_count() + 0.05


def test_job_cost_reads_back_what_the_log_says(tmp_path):
    """The benchmark scripts' reader (:func:`hepmva.logs.job_cost`) gives the numbers of the two cost lines."""
    proc = _run(tmp_path, "x = sum(range(10**6))")
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "logs" / "rule.log").read_text()
    start = next(line for line in text.splitlines() if JOB_START_PREFIX in line)
    done = next(line for line in text.splitlines() if JOB_DONE_PREFIX in line)
    cost = job_cost(text)
    seconds = r"([\d.]+) s (?:wall|CPU)"
    assert (cost.wall, cost.cpu) == tuple(float(x) for x in re.findall(seconds, done)[:2])
    assert cost.peak_rss_mib == float(re.search(r"peak RSS (\d+) MiB", done).group(1)) > 0
    assert (cost.startup_wall, cost.startup_cpu) == tuple(float(x) for x in re.findall(seconds, start))
    assert job_cost(start) == (None, None, None, cost.startup_wall, cost.startup_cpu)  # a job that did not finish


def test_failed_job_has_no_cost_line_after_its_error(tmp_path):
    proc = _run(tmp_path, """
        from hepmva.errors import InputError
        raise InputError("bad")
    """)
    assert proc.returncode == 1
    text = (tmp_path / "logs" / "rule.log").read_text()
    assert JOB_START_PREFIX in text and JOB_DONE_PREFIX not in text


def test_job_peak_rss_is_the_jobs_own_not_its_parents(tmp_path):
    """Snakemake (~260 MiB) forks and execs every job: the job's peak must be its own (VmHWM, which exec resets),
    not ru_maxrss, which carries the parent's peak into the child."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc")
    ballast = bytearray(400 * 2**20)  # the parent holds 400 MiB, touched
    ballast[:: 4096] = b"x" * len(ballast[:: 4096])
    proc = _run(tmp_path, """
        import numpy as np
        block = np.ones(20 * 2**20 // 8)  # 20 MiB of the job's own
    """)
    del ballast
    assert proc.returncode == 0, proc.stderr
    done = next(ln for ln in (tmp_path / "logs" / "rule.log").read_text().splitlines() if JOB_DONE_PREFIX in ln)
    peak = float(re.search(r"peak RSS (\d+) MiB", done).group(1))
    assert 20 < peak < 300, done
