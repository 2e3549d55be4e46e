"""Run a small study through a real SLURM with the repository's SLURM profile.

Deselected by default; run with ``python3 -m pytest -m slurm`` on a machine where SLURM is up
(``.ci/slurm/setup.sh`` starts a single-node one on localhost, ``.ci/slurm/stop.sh`` stops it;
``.ci/slurm/run.sh`` does all three). Without SLURM the tests skip, unless HEPMVA_SLURM_REQUIRED=1.
The local test cluster has no accounting storage, so ``sacct`` fails there and Snakemake is told to
ask ``squeue`` instead; finished jobs stay visible to ``squeue --states=all`` for MinJobAge (300 s),
which is also how these tests check that every job really went through SLURM.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import write_ntuple

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "workflow" / "profiles" / "slurm"
# hard limit per snakemake run: a misconfigured status query makes the plugin wait forever
TIMEOUT = int(os.environ.get("HEPMVA_SLURM_TIMEOUT", "600"))
# flags for the local test cluster only (the profile stays site-neutral): no accounting -> squeue,
# fast polling, keep the logs of successful jobs as evidence, trainings small enough for a CI node
TEST_CLUSTER_FLAGS = (
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "1",
    "--seconds-between-status-checks", "1",
    "--slurm-keep-successful-logs",
    "--set-resources", "train:mem_mb=2000", "train:runtime=10",
)

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]


def _why_no_slurm() -> str | None:
    """Reason to skip, or None when a SLURM controller answers and has a usable node."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed (python3 -m pip install -e '.[slurm]')"
    if shutil.which("sinfo") is None:
        return "no SLURM here: `sinfo` not found (start a local one with .ci/slurm/setup.sh)"
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "no SLURM here: `sinfo` did not answer within 30 s"
    if proc.returncode != 0:
        return f"no SLURM here: `sinfo` failed: {proc.stderr.strip()[:200]}"
    states = {s.rstrip("*~#") for s in proc.stdout.split()}
    if not states & {"idle", "mixed", "allocated", "completing"}:
        return f"SLURM is up but no node is usable (node states: {sorted(states) or 'none'})"
    return None


@pytest.fixture(scope="module")
def slurm():
    """Skip without a usable SLURM; fail instead when HEPMVA_SLURM_REQUIRED=1 (CI, after .ci/slurm/setup.sh)."""
    reason = _why_no_slurm()
    if reason and os.environ.get("HEPMVA_SLURM_REQUIRED") == "1":
        pytest.fail(f"HEPMVA_SLURM_REQUIRED=1 but {reason}")
    if reason:
        pytest.skip(reason)


def _small_config(tmp_path: Path) -> dict:
    """The default study, shrunk: two small generated samples, four features, one cheap xgboost, 2 folds."""
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    cfg["samples"] = [
        {"name": "signal", "label": "signal", "generate": {"process": "signal", "n_events": 3000}},
        {"name": "ttbar", "label": "background", "generate": {"process": "ttbar", "n_events": 3000}},
    ]
    cfg["features"] = [
        {"name": "met", "expr": "met"},
        {"name": "njet", "expr": "njet"},
        {"name": "jet1_pt", "expr": "jet_pt[0]", "default": 0},
        {"name": "mjj", "expr": "inv_mass(jet_pt, jet_eta, jet_phi)", "default": 0},
    ]
    cfg["folds"] = 2
    cfg["reading"]["entries_per_job"] = 1500  # each sample's features: two SLURM jobs of an entry range each
    cfg["classifiers"] = [{"name": "bdt", "kind": "xgboost", "params": {"n_estimators": 20, "max_depth": 3}}]
    cfg["evaluation"] = {"n_bootstrap": 10}
    # the optional studies (training methods, optimizers, unsupervised, ...) are off: every job costs
    # ~20 s on SLURM (two Snakemake start-ups per job) and the core pipeline covers every kind of job
    for key, value in cfg.items():
        if key != "writeback":
            _deactivate(value)
    return cfg


def _deactivate(node) -> None:
    """Set every `activate:` flag below node to false."""
    if isinstance(node, dict):
        if "activate" in node:
            node["activate"] = False
        for value in node.values():
            _deactivate(value)


def _run_id(out: str) -> str | None:
    m = re.search(r"SLURM run ID: (\S+)", out)
    return m.group(1) if m else None


def _slurm_jobs(run_id: str) -> dict[str, str]:
    """SLURM job id -> state of every job of one Snakemake run (squeue keeps finished jobs for MinJobAge)."""
    proc = subprocess.run(["squeue", "--states=all", "--noheader", "--name", run_id, "--format=%i|%T"],
                          capture_output=True, text=True, timeout=30, check=True)
    return dict(line.split("|", 1) for line in proc.stdout.split())


def _snakemake_on_slurm(workdir: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run snakemake with the SLURM workflow profile under a hard timeout; return (process, wall seconds).

    On timeout the whole process group is killed (the plugin may ignore SIGTERM) and the run's SLURM
    jobs are cancelled, so nothing is left behind on the cluster.
    """
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--workflow-profile", str(PROFILE),
           *TEST_CLUSTER_FLAGS, *args]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        run_id = _run_id(out)
        if run_id:
            subprocess.run(["scancel", "--name", run_id], timeout=30, check=False)
        pytest.fail(f"snakemake on SLURM did not finish within {TIMEOUT} s (killed; run {run_id} cancelled):\n"
                    f"{out[-6000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, ""), time.monotonic() - t0


def test_small_study_runs_through_slurm(slurm, tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(_small_config(tmp_path)))
    proc, wall = _snakemake_on_slurm(tmp_path)
    out = proc.stdout
    assert proc.returncode == 0, f"snakemake on SLURM failed ({proc.returncode}) after {wall:.0f} s:\n{out[-8000:]}"

    # the study's outputs
    res = tmp_path / "results"
    metrics = json.loads((res / "metrics/bdt.json").read_text())
    assert 0.5 < metrics["auc"] <= 1.0
    assert "bdt" in set(pd.read_csv(res / "summary.csv").classifier)
    assert (res / "plots/roc_comparison.png").stat().st_size > 0
    assert (res / "models/bdt/fold0").is_dir() and (res / "models/bdt/fold1").is_dir()

    # every job went through SLURM: one kept sbatch log per job, named by its SLURM job id ...
    logs = sorted((tmp_path / ".snakemake/slurm_logs").glob("rule_*/**/*.log"))
    log_ids = {p.stem for p in logs}
    assert logs and all(i.isdigit() for i in log_ids), logs
    rules = {p.relative_to(tmp_path / ".snakemake/slurm_logs").parts[0] for p in logs}
    assert {"rule_generate", "rule_features", "rule_features_merge", "rule_train", "rule_evaluate",
            "rule_summary"} <= rules, rules
    assert len([p for p in logs if "rule_train" in p.parts]) == 2  # one job per fold
    # one sample's features ran as several SLURM jobs (entry ranges), each its own job id, then one merge
    signal_parts = [p for p in logs if "rule_features" in p.parts and "signal" in str(p)]
    assert len(signal_parts) == 2 and len({p.stem for p in signal_parts}) == 2, signal_parts
    manifest = json.loads((res / "features/signal.json").read_text())
    assert [(q["entry_start"], q["entry_stop"]) for q in manifest["parts"]] == [(0, 1500), (1500, 3000)]
    n_steps = re.findall(r"(\d+) of (\d+) steps \(100%\) done", out)
    assert n_steps, out[-3000:]
    n_total = int(n_steps[-1][1])
    # ... (Snakemake's own `all` target runs locally), and SLURM itself lists them as COMPLETED under the
    # run's job name (finished jobs leave squeue after MinJobAge, so only the last one is required)
    assert len(log_ids) == n_total - 1, (sorted(log_ids), n_total)
    run_id = _run_id(out)
    assert run_id, out[-3000:]
    jobs = _slurm_jobs(run_id)
    assert jobs and set(jobs) <= log_ids, (jobs, sorted(log_ids))
    assert set(jobs.values()) == {"COMPLETED"}, jobs
    summary_job = next((tmp_path / ".snakemake/slurm_logs/rule_summary").glob("**/*.log")).stem
    assert summary_job in jobs, (summary_job, jobs)
    # the job ran the rule inside the allocation (the executor's job step)
    train_log = next(p for p in logs if "rule_train" in p.parts).read_text()
    assert "rule train" in train_log or "localrule train" in train_log, train_log[-3000:]


def test_failing_job_on_slurm_stops_the_run_and_names_the_rule(slurm, tmp_path):
    cfg = _small_config(tmp_path)
    # a readable ROOT file without the branches the spectators need: the features job fails inside SLURM (a
    # missing tree is caught before anything is submitted)
    write_ntuple(tmp_path / "data" / "user.root", n=200, seed=3)
    cfg["samples"] = [
        cfg["samples"][0],
        {"name": "user_bkg", "label": "background", "files": [str(tmp_path / "data" / "user.root")],
         "xsec_pb": 50.0, "sum_weights": 200.0},
    ]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc, wall = _snakemake_on_slurm(tmp_path)
    out = proc.stdout
    assert proc.returncode != 0, out[-5000:]
    assert "Error in rule features:" in out, out[-5000:]
    m = re.search(r"SLURM-job '(\d+)' failed", out)
    assert m, out[-5000:]
    assert _slurm_jobs(_run_id(out))[m.group(1)] == "FAILED"
    # the failed job's SLURM log is kept and holds the one-line reason
    failed_log = next((tmp_path / ".snakemake/slurm_logs/rule_features").glob(f"**/{m.group(1)}.log"))
    assert "hepmva error:" in failed_log.read_text() and "no branch 'lep_phi'" in failed_log.read_text()
    assert not (tmp_path / "results/features/user_bkg.json").exists()
