"""Remote inputs for real: a local XRootD server (Debian's xrootd-server) started by the test.

Deselected by default (marker ``xrootd``); ``.ci/run`` installs the server and runs them. Without
the server binary or fsspec-xrootd they skip, unless HEPMVA_XROOTD_REQUIRED=1 (then they fail).
The server runs as the ``xrootd`` user on a free localhost port, exports a temporary directory
read-only, and is stopped by the PID this fixture started (recipe: /work/shared/notes/xrootd-local.md).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import uproot
import yaml

from hepmva import io
from hepmva.datasets import load_feature_tables
from hepmva.stages.features import build_features
from tests.conftest import write_ntuple

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.xrootd


def _why_not() -> str | None:
    if shutil.which("xrootd") is None:
        return "no xrootd server binary (apt-get install xrootd-server)"
    if importlib.util.find_spec("fsspec_xrootd") is None:
        return "fsspec-xrootd is not installed (pip install 'hepmva[xrootd]')"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("xrootd")
        except KeyError:
            return "running as root without an 'xrootd' user to drop to"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """(url prefix, data directory) of a running local XRootD server; stopped by PID afterwards."""
    reason = _why_not()
    if reason:
        if os.environ.get("HEPMVA_XROOTD_REQUIRED") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    # its own directory under /tmp (pytest's tmp dirs are private to root; the server runs as xrootd)
    base = Path(tempfile.mkdtemp(prefix="hepmva-xrootd-"))
    data, run = base / "data", base / "run"
    data.mkdir(), run.mkdir()
    for i in range(2):
        write_ntuple(data / f"bkg_{i}.root", n=1200, seed=20 + i, first_id=10_000 * i)
    write_ntuple(data / "sig.root", n=1500, seed=30, signal=True, first_id=50_000)
    with uproot.open(data / "bkg_0.root") as src, uproot.recreate(data / "rntuple_bkg.root") as dst:
        for tree in ("Events", "Runs"):  # not matched by bkg_*.root
            arrays = src[tree].arrays()
            dst[tree] = {k: arrays[k] for k in arrays.fields}
    port = _free_port()
    cfg = base / "xrootd.cfg"
    cfg.write_text(f"all.export /\nxrd.port {port}\noss.localroot {data}\nall.adminpath {run}\nall.pidpath {run}\n")
    log = base / "xrootd.log"
    cmd = ["xrootd", "-c", str(cfg), "-l", str(log)]
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "xrootd:xrootd", str(base)], check=True)
        cmd[1:1] = ["-R", "xrootd"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while "initialization completed" not in (log.read_text(errors="replace") if log.exists() else ""):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"xrootd did not start: {log.read_text(errors='replace')[-2000:] if log.exists() else ''}")
            time.sleep(0.2)
        yield f"root://localhost:{port}/", data
    finally:
        proc.send_signal(signal.SIGTERM)  # only the server this fixture started
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)


def test_remote_files_expand_and_read_like_local_ones(server, tmp_path):
    url, data = server
    remote = [f"{url}/bkg_0.root"]
    assert io.expand_files(remote) == remote
    globbed = io.expand_files([f"{url}/bkg_*.root"])
    assert [Path(g).name for g in globbed] == ["bkg_0.root", "bkg_1.root"] and all(io.is_remote(g) for g in globbed)
    with pytest.raises(io.InputError, match=r"bkg_9.root: no such file on the server") as info:
        io.expand_files([f"{url}/bkg_9.root"])
    assert "\n" not in str(info.value)
    with pytest.raises(io.InputError, match="no file matches"):
        io.expand_files([f"{url}/nothing_*.root"])
    sample = {"name": "b", "label": "background", "tree": "Events", "weight": "genWeight", "xsec_pb": 2.0,
              "sum_weights": {"tree": "Runs", "branch": "genEventSumw"}}
    feats = [{"name": "met", "expr": "met"}, {"name": "j1", "expr": "jet_pt[0]", "default": 0}]
    tables = []
    for name, files in (("remote", [f"{url}/bkg_*.root"]), ("local", sorted(str(p) for p in data.glob("bkg_*.root")))):
        build_features(sample, files, features=feats, luminosity_pb=10.0, folds=2, step_size=500,
                       output=tmp_path / f"{name}.json")
        tables.append(load_feature_tables([tmp_path / f"{name}.json"]))
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert len(tables[0]) == 2400
    # an RNTuple on the server, in memory-sized chunks as the workflow reads them
    for name, path in (("rntuple", f"{url}/rntuple_bkg.root"), ("ttree", f"{url}/bkg_0.root")):
        build_features(sample, [path], features=feats, luminosity_pb=10.0, folds=2, step_size="50 MB",
                       output=tmp_path / f"{name}.json")
    pd.testing.assert_frame_equal(load_feature_tables([tmp_path / "rntuple.json"]),
                                  load_feature_tables([tmp_path / "ttree.json"]))


def test_workflow_reads_a_remote_sample(server, tmp_path):
    """Snakemake: remote URLs are params, not file inputs (no MissingInputException); friend trees written."""
    url, data = server
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    cfg["samples"] = [
        {"name": "sig", "label": "signal", "files": [f"{url}/sig.root"], "xsec_pb": 1.0,
         "sum_weights": {"tree": "Runs", "branch": "genEventSumw"}, "weight": "genWeight"},
        {"name": "bkg", "label": "background", "files": [f"{url}/bkg_*.root"], "xsec_pb": 5.0,
         "sum_weights": "auto", "weight": "genWeight"},
    ]
    cfg.update(selection=None, truth_llr=None)
    cfg["features"] = [{"name": "met", "expr": "met"}, {"name": "ht", "expr": "sum(jet_pt)"}]
    cfg["spectators"] = []  # the default study's mt_w needs lepton branches these files do not have
    cfg["classifiers"] = [{"name": "bdt", "kind": "xgboost", "params": {"n_estimators": 10, "max_depth": 2}}]
    # the apply stage on the remote files too, in entry ranges (1200 entries -> two jobs per file)
    cfg["reading"]["entries_per_job"] = 700
    cfg["apply"] = {"activate": True, "samples": [
        {"name": "bkg_again", "kind": "mc", "files": [f"{url}/bkg_*.root"], "xsec_pb": 5.0, "weight": "genWeight",
         "sum_weights": "auto"}]}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    targets = ["results/friends/bkg", "results/metrics/bdt.json", "results/apply/bkg_again/summary.json"]
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(tmp_path / "config.yaml"), "--cores", "2", *targets]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    friends = yaml.safe_load((tmp_path / "results/friends/bkg/friends.json").read_text())
    assert [f["input"] for f in friends] == [f"{url}/bkg_0.root", f"{url}/bkg_1.root"]
    assert all(f["entries"] == 1200 for f in friends)
    applied = json.loads((tmp_path / "results/apply/bkg_again/summary.json").read_text())["variations"]["nominal"]
    assert [f["input"] for f in applied["files"]] == [f"{url}/bkg_0.root", f"{url}/bkg_1.root"]
    assert [len(f["friends"]) for f in applied["files"]] == [2, 2] and applied["entries"] == 2400
    local = [data / "bkg_0.root", data / "bkg_1.root"]
    gw = np.concatenate([uproot.open(p)["Events"]["genWeight"].array(library="np") for p in local])
    assert applied["sum_weights"] == math.fsum(gw)
    for rec, path in zip(applied["files"], local):
        event = np.concatenate([uproot.open(tmp_path / "results/apply/bkg_again" / f)["hepmva"]["event"].array(
            library="np") for f in rec["friends"]])
        assert np.array_equal(event, uproot.open(path)["Events"]["event"].array(library="np"))
    # a missing remote file: one line naming the URL, no table left behind
    cfg["reading"]["entries_per_job"] = None  # the features job (not the planning) meets the missing file
    cfg["apply"]["activate"] = False
    cfg["samples"][0]["files"] = [f"{url}/missing.root"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([*cmd[:-2], "results/features/sig.json", "--forceall"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0
    assert f"{url}/missing.root: no such file on the server" in proc.stdout + proc.stderr + "".join(
        p.read_text() for p in (tmp_path / "results/logs/features").rglob("*.log"))
    assert not (tmp_path / "results/features/sig/part-0.parquet").exists()  # the failed job's part is removed
