"""A study killed mid-run (its process group, SIGKILL) resumes with the one documented command, and gives the
same numbers, bit for bit, as an uninterrupted run on a different number of cores; a hostile model file then
planted among its models is refused by the evaluate rule without running anything.

Slow (two small studies, about 3-6 minutes on 2 busy cores): `python3 -m pytest -m slow tests/workflow/test_recovery.py`;
`.ci/run` runs it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hepmva.bundle import load_bundle
from hepmva.models import load_estimator
from tests import hostile

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.workflow, pytest.mark.slow]


def _config(workdir: Path) -> Path:
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    for s in cfg["samples"][:2]:
        s["generate"]["n_events"] = 5000
    cfg["samples"] = cfg["samples"][:2]
    cfg["classifiers"] = [
        {"name": "mlp", "kind": "mlp", "params": {"solver": "adam", "hidden_layer_sizes": [32, 32], "max_iter": 15,
                                                   "batch_size": 128}},
        {"name": "bdt", "kind": "xgboost", "params": {"n_estimators": 40, "max_depth": 3}},
        {"name": "svm", "kind": "svm", "params": {"max_train_events": 1500}},
    ]
    cfg["evaluation"] = {"n_bootstrap": 5, "importance_events": 1000, "importance_repeats": 1}
    for key in ("training_methods", "optimizer_study", "writeback"):
        cfg[key]["activate"] = False
    for key in ("clustering", "decomposition", "anomaly"):
        cfg["unsupervised"][key]["activate"] = False
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    return workdir


def _cmd(workdir: Path, *args: str) -> list[str]:
    """The README's command (`snakemake --cores N --configfile my-analysis.yaml`), run on ``workdir``."""
    return [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
            "--configfile", str(workdir / "config.yaml"), *args]


def _run(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(_cmd(workdir, *args), capture_output=True, text=True, timeout=1800)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return proc


def _scores(workdir: Path) -> dict[str, pd.DataFrame]:
    return {f"{p.parent.name}/{p.stem}": pd.read_parquet(p)
            for p in sorted((workdir / "results/models").glob("*/scores_fold*.parquet"))}


def test_killed_run_resumes_and_matches_an_uninterrupted_run(tmp_path):
    ref = _config(tmp_path / "uninterrupted")
    _run(ref, "--cores", "1")

    work = _config(tmp_path / "killed")
    proc = subprocess.Popen(_cmd(work, "--cores", "2"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 900
        while not list((work / "results/logs/train").glob("*.log")):  # kill while the trainings run
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: snakemake and its running jobs
        proc.wait()
    assert list((work / ".snakemake/locks").glob("*.lock")), "the kill left no lock: the test proves nothing"
    # a temporary a killed writer leaves behind (io.atomic_path names it .<name>.tmp<PID>)
    stale = work / "results/features/signal/.part-0.parquet.tmp999999"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"half written")

    again = _run(work, "--cores", "2")  # the one documented recovery: the same command again
    assert "removed the lock" in again.stderr
    assert not [p for p in (work / "results").rglob("*") if ".tmp" in p.name]

    a, b = _scores(ref), _scores(work)
    assert set(a) == set(b) and {name.split("/")[0] for name in a} == {"mlp", "bdt", "svm"}  # every fold table
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)  # bit-identical, --cores 1 vs 2
    pd.testing.assert_frame_equal(pd.read_csv(ref / "results/summary.csv"), pd.read_csv(work / "results/summary.csv"),
                                  check_exact=True)
    assert set(pd.read_csv(work / "results/timings.csv").columns) >= {"train_seconds", "model_bytes"}

    # a hostile model handed over in place of the SVM's: the one loader (the bundles, apply, the command line) refuses
    # it, naming the file, and nothing runs (the evaluate rule loads no model since the train job scores the
    # importance's shuffled events)
    marker = tmp_path / "marker"
    model = work / "results/models/svm/fold0/estimator.skops"
    genuine = tmp_path / "genuine.skops"
    model.rename(genuine)
    hostile.skops_stealth(genuine, model, marker)
    with pytest.raises(Exception, match="estimator.skops: changed since the bundle was written"):
        load_bundle(work / "results/models" / "svm")  # the bundle's content hashes refuse it first
    with pytest.raises(Exception, match="refusing to load a 'svm' model holding sklearn.utils._testing.check_output"):
        load_estimator(model.parent)  # and the skops audit, under every loader
    assert not marker.exists()
