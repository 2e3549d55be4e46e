"""The apply stage in parts, run by the real Snakemake: one job per input file and entry range and tree variation.

One trained study; the same events applied twice: as one file per sample (one job per variation), and split
into several files with ``reading.entries_per_job`` smaller than some of them. Templates, table rows, friend
trees and sums of weights must be the same bits; a bad file in one part fails in one line, leaving nothing
partial.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot
import yaml

from hepmva.io import write_ttree
from hepmva.stages.apply import read_apply_tables
from tests.apply_helpers import mixed_data
from tests.conftest import write_ntuple
from tests.workflow.snakemake_run import run_snakemake

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.workflow

LUMI = 1000.0
STEP = 350  # reading.entries_per_job of the split run
#: how the split run cuts each apply file (entries per file); files above STEP become entry ranges
SPLITS = {"data": [300, 900, 400], "bkg": [250, 1250], "bkg_up": [700, 800], "sig": [600]}


def _read(path: Path) -> dict:
    with uproot.open(path) as f:
        return f["Events"].arrays(library="ak")


def _write(path: Path, a) -> Path:
    """Write events read by :func:`_read` back: the jets as one record (branches jet_pt, jet_eta, jet_phi)."""
    data = {"jet": ak.zip({"pt": a.jet_pt, "eta": a.jet_eta, "phi": a.jet_phi})}
    data |= {k: ak.to_numpy(a[k]) for k in a.fields if not k.startswith("jet") and k != "njet"}
    path.parent.mkdir(parents=True, exist_ok=True)
    with uproot.recreate(path) as f:
        write_ttree(f, "Events", data)
    return path


def _with_weights(path: Path, seed: int) -> Path:
    """Generator weights of many mantissa bits, some negative: a naive float sum depends on the order."""
    a = _read(path)
    w = np.random.default_rng(seed).normal(1.0, 0.7, len(a)) * np.exp(np.random.default_rng(seed + 1).normal(0, 3, len(a)))
    return _write(path, ak.with_field(a, w, "genWeight"))


def _split(path: Path, sizes: list[int]) -> list[str]:
    a = _read(path)
    assert sum(sizes) == len(a)
    bounds = np.cumsum([0, *sizes])
    return [str(_write(path.with_name(f"{path.stem}_{i}.root"), a[bounds[i]:bounds[i + 1]]))
            for i in range(len(sizes))]


def _config(d: Path, files: dict[str, list[str]], entries_per_job: int | None) -> dict:
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    common = {"tree": "Events", "weight": "genWeight", "sum_weights": "auto"}
    # training files no larger than STEP: the features (and so the models) are the same in both runs
    cfg["samples"] = [
        {"name": "signal", "label": "signal", "files": [str(d / f"train_sig_{i}.root") for i in range(3)],
         "xsec_pb": 2.0, **common},
        {"name": "bkg", "label": "background", "files": [str(d / f"train_bkg_{i}.root") for i in range(3)],
         "xsec_pb": 50.0, **common},
    ]
    cfg.update(selection="met > 5", truth_llr=None, luminosity_pb=LUMI)
    cfg["reading"] = {"step_size": 170, "entries_per_job": entries_per_job}
    cfg["features"] = [
        {"name": "met", "expr": "met"},
        {"name": "njet", "expr": "count(jet_pt)"},
        {"name": "jet1_pt", "expr": "jet_pt[0]", "default": 0},
        {"name": "mjj", "expr": "mass(jets[0], jets[1])", "default": 0},
    ]
    cfg["define"] = {"jets": "objects(pt=jet_pt, eta=jet_eta, phi=jet_phi)"}
    cfg["spectators"] = [{"name": "ht", "expr": "sum(jet_pt)"}]
    cfg["classifiers"] = [{"name": "bdt", "kind": "xgboost", "params": {"n_estimators": 20, "max_depth": 3}}]
    cfg["apply"] = {
        "activate": True, "fold_mode": "fold", "bins": 12,
        "samples": [
            {"name": "collisions", "kind": "data", "files": files["data"]},
            {"name": "sig_new", "kind": "mc", "label": "signal", "process": "signal", "files": files["sig"],
             "xsec_pb": 2.0, "tree": "Events", "weight": "genWeight", "sum_weights": 1234.5},
            {"name": "bkg_new", "kind": "mc", "files": files["bkg"], "xsec_pb": 50.0, **common,
             "variations": {"jes_up": {"files": files["bkg_up"]}},
             "weight_variations": {"norm_up": "genWeight * 1.1"}},
        ],
    }
    return cfg


TARGETS = [f"results/apply/{s}/summary.json" for s in ("collisions", "sig_new", "bkg_new")] + [
    "results/apply/templates/bdt.root"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The study applied as one file per sample (``whole``), then split (``split``), then with a bad file."""
    work = tmp_path_factory.mktemp("apply_parts")
    d = work / "data"
    for i in range(3):
        write_ntuple(d / f"train_sig_{i}.root", n=300, seed=1 + i, signal=True, first_id=1000 * i)
        write_ntuple(d / f"train_bkg_{i}.root", n=300, seed=11 + i, first_id=100_000 + 1000 * i,
                     negative_fraction=0.05)
    write_ntuple(d / "sig.root", n=600, seed=21, signal=True, first_id=500_000)
    write_ntuple(d / "bkg.root", n=1500, seed=22, first_id=600_000)
    write_ntuple(d / "bkg_up.root", n=1500, seed=22, first_id=600_000, jet_scale=1.05)
    for name, seed in (("sig", 31), ("bkg", 32), ("bkg_up", 32)):
        _with_weights(d / f"{name}.root", seed)
    mixed_data(d / "data.root", [(d / "sig.root", 300), (d / "bkg.root", 1300)])
    whole = {k: [str(d / f"{k}.root")] for k in SPLITS}
    split = {k: _split(d / f"{k}.root", sizes) for k, sizes in SPLITS.items()}

    out = {"work": work, "whole": whole, "split": split}
    (work / "config.yaml").write_text(yaml.safe_dump(_config(d, whole, None)))
    run_snakemake(work, "--cores", "2", *TARGETS)
    shutil.move(work / "results" / "apply", work / "apply_whole")
    for stage in ("apply", "apply_sum_weights", "apply_scale"):  # the split run's jobs (their logs), counted below
        shutil.move(work / "results" / "logs" / stage, work / f"logs_whole_{stage}")
    (work / "config.yaml").write_text(yaml.safe_dump(_config(d, split, STEP)))
    out["split_run"] = run_snakemake(work, "--cores", "2", *TARGETS)
    # a third sample with a file lacking the 'met' branch, in its last part
    bad = _read(d / "data.root")
    _write(d / "nomet.root", bad[[f for f in bad.fields if f != "met"]][:500])
    cfg = _config(d, split, STEP)
    cfg["apply"]["samples"].append({"name": "broken", "kind": "data", "files": [split["data"][0], str(d / "nomet.root")]})
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    out["bad"] = run_snakemake(work, "--cores", "1", "results/apply/broken/summary.json", check=False)
    return out


def _summary(root: Path, sample: str) -> dict:
    return json.loads((root / sample / "summary.json").read_text())


def _friend_of(root: Path, summary: dict, variation: str) -> dict:
    """Every friend part of a variation, concatenated in the manifest's order (files, then entry ranges)."""
    paths = [root / summary["sample"] / f for rec in summary["variations"][variation]["files"] for f in rec["friends"]]
    arrays = [uproot.open(p)["hepmva"].arrays(library="np") for p in paths]
    return {k: np.concatenate([a[k] for a in arrays]) for k in arrays[0]}


def test_split_apply_runs_one_job_per_file_and_entry_range(runs):
    split = runs["work"] / "results" / "apply"
    s = _summary(split, "collisions")
    parts = s["variations"]["nominal"]["parts"]
    # 300 -> one part; 900 -> three ranges of 300; 400 -> two of 200
    assert [(p["file_index"], p["entry_start"], p["entry_stop"]) for p in parts] == [
        (0, None, None), (1, 0, 300), (1, 300, 600), (1, 600, 900), (2, 0, 200), (2, 200, 400)]
    assert [rec["friends"] for rec in s["variations"]["nominal"]["files"]][1] == [
        "friends/nominal/1_data_1.entries-000-300.root", "friends/nominal/1_data_1.entries-300-600.root",
        "friends/nominal/1_data_1.entries-600-900.root"]
    logs = runs["work"] / "results" / "logs"  # one log per job
    assert len(list((logs / "apply" / "collisions" / "nominal").glob("*.log"))) == 6
    # the background: two nominal files (250 and 1250 -> 1 + 4 parts), the variation's (700, 800 -> 2 + 3)
    b = _summary(split, "bkg_new")
    assert [len(b["variations"][v]["parts"]) for v in ("nominal", "jes_up")] == [5, 5]
    assert len(list((logs / "apply_sum_weights" / "bkg_new").glob("*/*.log"))) == 10
    # numbers for xsec_pb and sum_weights: no pass over the files
    assert not (logs / "apply_sum_weights" / "sig_new").exists()
    whole = _summary(runs["work"] / "apply_whole", "collisions")
    assert len(whole["variations"]["nominal"]["parts"]) == 1


@pytest.mark.parametrize("sample", ["collisions", "sig_new", "bkg_new"])
def test_split_apply_gives_the_same_rows_friends_and_weights(runs, sample):
    whole_root, split_root = runs["work"] / "apply_whole", runs["work"] / "results" / "apply"
    whole, split = _summary(whole_root, sample), _summary(split_root, sample)
    assert whole["variations"].keys() == split["variations"].keys()
    for var in whole["variations"]:
        w, s = whole["variations"][var], split["variations"][var]
        for key in ("entries", "selected", "yield", "xsec_pb", "sum_weights", "scale"):
            assert w.get(key) == s.get(key), (var, key)
        # the friend trees, concatenated in order: the same entries, bit for bit (NaN where not selected)
        fw, fs = _friend_of(whole_root, whole, var), _friend_of(split_root, split, var)
        assert fw.keys() == fs.keys() and {"event", "selected", "fold", "score_bdt", "ht"} <= fw.keys()
        for k in fw:
            np.testing.assert_array_equal(fs[k], fw[k], err_msg=f"{sample} [{var}] {k}")
        # each friend part is entry-aligned with its input file's entries
        for rec in split["variations"][var]["files"]:
            with uproot.open(rec["input"]) as f:
                event = f["Events"]["event"].array(library="np")
            got = np.concatenate([uproot.open(split_root / sample / p)["hepmva"]["event"].array(library="np")
                                  for p in rec["friends"]])
            assert np.array_equal(got, event) and rec["entries"] == len(event)
    # the table rows: the same events, scores and weights, in the same order; the entry in its own file
    tw, ts = read_apply_tables(whole_root / sample / "summary.json"), read_apply_tables(split_root / sample / "summary.json")
    assert len(tw) == len(ts) > 0 and list(tw.columns) == list(ts.columns)
    pd.testing.assert_frame_equal(ts.drop(columns=["file_index", "entry"]), tw.drop(columns=["file_index", "entry"]))
    for var in split["variations"]:
        offsets = np.cumsum([0] + [rec["entries"] for rec in split["variations"][var]["files"]])
        m = (ts["variation"] == var).to_numpy()
        np.testing.assert_array_equal(offsets[ts["file_index"].to_numpy()[m]] + ts["entry"].to_numpy()[m],
                                      tw["entry"].to_numpy()[m])


def test_sum_weights_auto_is_the_exact_sum_over_all_files(runs):
    split_root = runs["work"] / "results" / "apply"
    s = _summary(split_root, "bkg_new")
    for var, key in (("nominal", "bkg"), ("jes_up", "bkg_up")):
        gw = np.concatenate([uproot.open(f)["Events"]["genWeight"].array(library="np") for f in runs["split"][key]])
        exact = math.fsum(gw)  # correctly rounded, an oracle nobody here wrote
        assert exact != float(np.sum(gw[::-1])) or exact != float(np.sum(gw))  # the order matters to a naive sum
        v = s["variations"][var]
        assert v["sum_weights"] == exact
        assert v["scale"] == pytest.approx(50.0 * LUMI / exact, rel=1e-15)
        friend = _friend_of(split_root, s, var)
        sel = friend["selected"]
        np.testing.assert_array_equal(friend["weight"][sel], gw[sel] * v["scale"])
        if var == "nominal":
            np.testing.assert_array_equal(friend["weight_norm_up"][sel], (gw * 1.1)[sel] * v["scale"])
    sig = _summary(split_root, "sig_new")["variations"]["nominal"]
    assert sig["sum_weights"] == 1234.5 and sig["scale"] == pytest.approx(2.0 * LUMI / 1234.5, rel=1e-15)


def test_split_apply_gives_the_same_templates(runs):
    whole = runs["work"] / "apply_whole" / "templates" / "bdt.root"
    split = runs["work"] / "results" / "apply" / "templates" / "bdt.root"
    with uproot.open(whole) as fw, uproot.open(split) as fs:
        names = {k.split(";")[0] for k in fw.keys()}
        assert names == {k.split(";")[0] for k in fs.keys()} == {
            "data_obs", "signal", "bkg_new", "bkg_new__jes_up", "bkg_new__norm_up"}
        for name in names:
            np.testing.assert_array_equal(fs[name].values(), fw[name].values(), err_msg=name)
            np.testing.assert_array_equal(fs[name].variances(), fw[name].variances(), err_msg=name)
        assert fs["data_obs"].values().sum() == _summary(runs["work"] / "results" / "apply", "collisions")[
            "variations"]["nominal"]["selected"]


def test_a_bad_file_in_one_part_is_one_line_and_leaves_nothing_partial(runs):
    proc = runs["bad"]
    assert proc.returncode != 0
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("hepmva error: ")]
    assert lines and "nomet.root" in lines[0] and "feature 'met'" in lines[0] and "(rule log: results/logs/" in lines[0]
    assert not any("Traceback" in ln for ln in (proc.stdout + proc.stderr).splitlines())
    broken = runs["work"] / "results" / "apply" / "broken"
    assert not (broken / "summary.json").exists()
    assert not list((broken / "friends" / "nominal").glob("1_nomet*")) and not list(broken.rglob("1_nomet*"))
    assert not [p for p in broken.rglob("*") if ".tmp" in p.name]
    logs = list((runs["work"] / "results" / "logs" / "apply" / "broken" / "nominal").glob("1_nomet.entries-*.log"))
    assert logs and any("Traceback" in log.read_text() for log in logs)


@pytest.mark.root
def test_root_chains_the_friend_parts_of_split_files(runs):
    """ROOT itself: the input files chained, the friend parts chained in the manifest's order, AddFriend."""
    ROOT_ = pytest.importorskip("ROOT")
    s = _summary(runs["work"] / "results" / "apply", "collisions")
    files = s["variations"]["nominal"]["files"]
    events, friends = ROOT_.TChain("Events"), ROOT_.TChain("hepmva")
    for rec in files:
        events.Add(rec["input"])
        for f in rec["friends"]:
            friends.Add(str(runs["work"] / "results" / "apply" / "collisions" / f))
    events.AddFriend(friends)
    assert events.GetEntries() == sum(rec["entries"] for rec in files)
    assert events.GetEntries("hepmva.event != event") == 0
    assert events.GetEntries("hepmva.selected") == s["variations"]["nominal"]["selected"]
    assert events.GetEntries("hepmva.selected != (met > 5)") == 0
