"""Files written by ROOT itself, and hepmva's friend trees read back by ROOT.

Deselected by default (marker ``root``): ``pip install 'hepmva[root]'`` (ROOT 6.40 from PyPI) and
``python3 -m pytest -m root``; ``.ci/run`` does both. ROOT runs in a subprocess (its import hooks
and warnings stay out of the test process). Without ROOT the tests skip, unless
HEPMVA_ROOT_REQUIRED=1.

What ROOT writes: a TTree filled with ``TTree::Fill`` (std::vector<float> branches, a dotted branch
name, inside a TDirectory), and ``RDataFrame::Snapshot`` of it to a TTree and to an RNTuple. The
oracle for the features is numpy on the arrays the ROOT script was given.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hepmva import io
from hepmva.datasets import iter_feature_parts, load_feature_tables
from hepmva.score_parts import ScorePartWriter
from hepmva.stages.features import build_features
from hepmva.stages.writeback import write_friend_trees

pytestmark = pytest.mark.root

WRITE = r"""
import sys
from array import array

import numpy as np
import ROOT

d = np.load(sys.argv[1])
out = sys.argv[2]
counts = d["counts"]
off = np.concatenate([[0], np.cumsum(counts)])
f = ROOT.TFile(f"{out}/fill.root", "RECREATE")
f.mkdir("ana").cd()
t = ROOT.TTree("Events", "events")
vec = {k: ROOT.std.vector("float")() for k in ("jet_pt", "jet_eta", "jet_phi", "Electron.pt")}
for name, v in vec.items():
    t.Branch(name, v)
met, event, w = array("f", [0.0]), array("Q", [0]), array("f", [0.0])
t.Branch("met", met, "met/F")
t.Branch("event", event, "event/l")
t.Branch("genWeight", w, "genWeight/F")
for i in range(len(counts)):
    lo, hi = off[i], off[i + 1]
    for name, key in (("jet_pt", "pt"), ("jet_eta", "eta"), ("jet_phi", "phi"), ("Electron.pt", "el_pt")):
        vec[name].clear()
        for x in d[key][lo:hi]:
            vec[name].push_back(float(x))
    met[0], event[0], w[0] = float(d["met"][i]), int(d["event"][i]), float(d["w"][i])
    t.Fill()
t.Write()
f.Close()
df = ROOT.RDataFrame("ana/Events", f"{out}/fill.root")
df.Snapshot("Events", f"{out}/snap_ttree.root")  # Electron.pt is written as Electron_pt
opts = ROOT.RDF.RSnapshotOptions()
opts.fOutputFormat = ROOT.RDF.ESnapshotOutputFormat.kRNTuple
df.Snapshot("Events", f"{out}/snap_rntuple.root", ["jet_pt", "jet_eta", "jet_phi", "met", "event", "genWeight"],
            opts)
"""

READ_FRIEND = r"""
import json
import sys

import ROOT

path, tree, friend = sys.argv[1:4]
f = ROOT.TFile.Open(path)
t = f.Get(tree)
t.AddFriend("hepmva", friend)
loop = {}
for i in range(t.GetEntries()):
    t.GetEntry(i)
    if t.GetLeaf("hepmva.selected").GetValue():
        loop[str(int(t.GetLeaf("event").GetValue()))] = t.GetLeaf("hepmva.score_bdt").GetValue()
df = ROOT.RDataFrame(t)
sel = df.Filter("hepmva.selected")
rdf = dict(zip((str(e) for e in sel.Take["ULong64_t"]("event").GetValue()),
               sel.Take["double"]("hepmva.score_bdt").GetValue()))
print(json.dumps({"entries": int(t.GetEntries()), "loop": loop, "rdf": rdf}))
"""


@cache
def _why_no_root() -> str | None:
    proc = subprocess.run([sys.executable, "-c", "import ROOT; print(ROOT.gROOT.GetVersion())"],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        return f"ROOT is not importable ({(proc.stderr.strip().splitlines() or [''])[-1][:200]}); pip install 'hepmva[root]'"
    return None


def _root(script: str, *args: str) -> str:
    reason = _why_no_root()
    if reason:
        if os.environ.get("HEPMVA_ROOT_REQUIRED") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


@pytest.fixture(scope="module")
def root_files(tmp_path_factory):
    """(directory, the numpy arrays ROOT was given) with fill.root, snap_ttree.root, snap_rntuple.root."""
    out = tmp_path_factory.mktemp("rootfiles")
    rng = np.random.default_rng(12)
    n = 600
    counts = rng.poisson(2.0, n)
    total = int(counts.sum())
    data = {
        "counts": counts,
        "pt": (rng.exponential(40.0, total) + 20.0).astype(np.float32),
        "eta": rng.normal(0.0, 1.5, total).astype(np.float32),
        "phi": rng.uniform(-np.pi, np.pi, total).astype(np.float32),
        "el_pt": rng.exponential(15.0, total).astype(np.float32),
        "met": rng.exponential(30.0, n).astype(np.float32),
        "event": (np.arange(n, dtype=np.uint64) * 7919 + 2**40),
        "w": np.where(rng.random(n) < 0.1, -1.0, 1.0).astype(np.float32),
    }
    np.savez(out / "data.npz", **data)
    _root(WRITE, str(out / "data.npz"), str(out))
    return out, data


FEATURES = [
    {"name": "met", "expr": "met"},
    {"name": "ht", "expr": "sum(jet_pt)"},
    {"name": "j1", "expr": "jet_pt[0]", "default": -1},
    {"name": "mjj", "expr": "mass(jet[0], jet[1])", "default": 0},
]
DEFINE = {"jet": "objects(pt=jet_pt, eta=jet_eta, phi=jet_phi)"}


def _oracle(data: dict) -> pd.DataFrame:
    off = np.concatenate([[0], np.cumsum(data["counts"])])
    rows = []
    for i in range(len(data["counts"])):
        pt, eta, phi = (data[k][off[i]:off[i + 1]].astype(np.float64) for k in ("pt", "eta", "phi"))
        mjj = 0.0
        if len(pt) >= 2:
            e = pt[:2] * np.cosh(eta[:2])
            px, py, pz = pt[:2] * np.cos(phi[:2]), pt[:2] * np.sin(phi[:2]), pt[:2] * np.sinh(eta[:2])
            mjj = np.sqrt(max(e.sum() ** 2 - px.sum() ** 2 - py.sum() ** 2 - pz.sum() ** 2, 0.0))
        rows.append({"met": float(data["met"][i]), "ht": float(pt.sum()), "j1": float(pt[0]) if len(pt) else -1.0,
                     "mjj": mjj, "event": int(data["event"][i])})
    return pd.DataFrame(rows)


def _features(path: Path, tree: str, out: Path, aliases: dict | None = None) -> pd.DataFrame:
    sample = {"name": "s", "label": "signal", "tree": tree, "weight": "genWeight", "xsec_pb": 1.0, "sum_weights": 600}
    feats = FEATURES + ([{"name": "el1", "expr": "fill(el_pt[0], -1)"}] if aliases else [])
    build_features(sample, [str(path)], features=feats, luminosity_pb=1.0, folds=3, selection="met > 5",
                   define=DEFINE, aliases=aliases, step_size=150, output=out)
    return load_feature_tables([out])


def test_ttree_fill_and_snapshots_read_identically_and_match_numpy(root_files, tmp_path):
    out, data = root_files
    tables = {
        "fill": _features(out / "fill.root", "ana/Events", tmp_path / "fill.json", {"el_pt": "Electron.pt"}),
        "snap_ttree": _features(out / "snap_ttree.root", "Events", tmp_path / "snap.json", {"el_pt": "Electron_pt"}),
        "snap_rntuple": _features(out / "snap_rntuple.root", "Events", tmp_path / "rnt.json"),
    }
    t = io.open_tree(str(out / "snap_rntuple.root"), "Events")
    assert type(t).__name__ == "Model_ROOT_3a3a_RNTuple"
    t.file.close()
    cols = ["met", "ht", "j1", "mjj", "weight", "event", "fold", "entry"]
    # bit-identical across the three ROOT-written layouts
    pd.testing.assert_frame_equal(tables["fill"][cols], tables["snap_ttree"][cols])
    pd.testing.assert_frame_equal(tables["fill"][cols], tables["snap_rntuple"][cols])
    pd.testing.assert_series_equal(tables["fill"]["el1"], tables["snap_ttree"]["el1"])
    # and equal to numpy on what ROOT was given
    oracle = _oracle(data)
    keep = data["met"] > 5
    got = tables["fill"]
    np.testing.assert_array_equal(got["event"].to_numpy(), oracle["event"].to_numpy()[keep].astype(np.uint64))
    for c in ("met", "ht", "j1", "mjj"):
        np.testing.assert_allclose(got[c], oracle[c][keep], rtol=1e-6, err_msg=c)
    off = np.concatenate([[0], np.cumsum(data["counts"])])
    el1 = [float(data["el_pt"][off[i]]) if data["counts"][i] else -1.0 for i in range(len(keep))]
    np.testing.assert_array_equal(got["el1"].to_numpy(), np.array(el1, dtype=np.float32)[keep].astype(np.float64))
    np.testing.assert_allclose(got["weight"].sum(), data["w"][keep].astype(np.float64).sum() / 600, rtol=1e-12)


def _score(event: np.ndarray) -> np.ndarray:
    return (event.astype(np.float64) * 0.6180339887) % 1.0


@pytest.mark.parametrize(("name", "tree"), [("fill.root", "ana/Events"), ("snap_ttree.root", "Events")])
def test_friend_trees_read_back_by_root_give_each_event_its_score(root_files, tmp_path, name, tree):
    out, data = root_files
    table = tmp_path / "features.json"
    feats = _features(out / name, tree, table, None)
    scores = tmp_path / "scores.parquet"
    with ScorePartWriter(scores) as writer:  # a fold model's score table, as the train jobs write it
        for _, part, frame in iter_feature_parts([table], columns=["event"]):
            for fold in np.unique(frame["fold"]):
                f = frame[frame["fold"] == fold]
                writer.write(sample="s", part=part, role="test", fold=int(fold), row=f["row"].to_numpy(),
                             label=f["label"].to_numpy(), weight=f["weight"].to_numpy(),
                             score=_score(f["event"].to_numpy()))
    friends = write_friend_trees([str(out / name)], table, {"bdt": scores}, sample={"name": "s", "tree": tree},
                                 tree="hepmva", directory=tmp_path / "friends")
    got = json.loads(_root(READ_FRIEND, str(out / name), tree, str(friends[0])).strip().splitlines()[-1])
    assert got["entries"] == len(data["met"])
    selected = data["event"][data["met"] > 5]
    for method in ("loop", "rdf"):  # TTree::AddFriend + GetEntry, and RDataFrame over the friended tree
        by_event = got[method]
        assert sorted(int(e) for e in by_event) == sorted(int(e) for e in selected), method
        events = np.array([int(e) for e in by_event], dtype=np.uint64)
        np.testing.assert_allclose([by_event[str(e)] for e in events], _score(events), rtol=0, atol=0)
