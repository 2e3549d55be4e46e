import numpy as np
import pytest
import uproot

from hepmva import io


def test_iterate_tree_streams_all_entries_in_chunks(ntuple_factory):
    path = ntuple_factory(n=1000)
    starts, total = [], 0
    for start, chunk in io.iterate_tree(str(path), "Events", ["met", "jet_pt"], step_size=300):
        starts.append(start)
        total += len(chunk)
        assert set(chunk.fields) == {"met", "jet_pt"}
    assert total == 1000
    assert starts == [0, 300, 600, 900]


def test_tdirectory_tree_path(tmp_path):
    p = tmp_path / "nested.root"
    with uproot.recreate(p) as f:
        f.mkdir("analysis")
        io.write_ttree(f["analysis"], "tree", {"x": np.arange(5.0)})
    chunks = list(io.iterate_tree(str(p), "analysis/tree", ["x"]))
    assert len(chunks[0][1]) == 5


def test_errors_name_file_tree_branch(ntuple_factory, tmp_path):
    path = ntuple_factory()
    with pytest.raises(io.InputError, match="no tree 'Evts'.*Events"):
        list(io.iterate_tree(str(path), "Evts", ["met"]))
    with pytest.raises(io.InputError, match="no branch 'mett'.*available:.*met"):
        list(io.iterate_tree(str(path), "Events", ["mett"]))
    with pytest.raises(io.InputError, match="missing.root"):
        list(io.iterate_tree(str(tmp_path / "missing.root"), "Events", ["met"]))
    junk = tmp_path / "junk.root"
    junk.write_bytes(b"this is not a ROOT file at all" * 10)
    with pytest.raises(io.InputError, match="junk.root: not a readable ROOT file"):
        list(io.iterate_tree(str(junk), "Events", ["met"]))
    with pytest.raises(io.InputError, match="no file matches"):
        io.expand_files([str(tmp_path / "nothing_*.root")])


def test_truncated_file_is_a_clear_error(ntuple_factory, tmp_path):
    path = ntuple_factory(n=20000)
    data = path.read_bytes()
    cut = tmp_path / "cut.root"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(io.InputError, match="cut.root"):
        for _ in io.iterate_tree(str(cut), "Events", ["met", "jet_pt"]):
            pass


def test_metadata_sum_over_files(ntuple_factory):
    a = ntuple_factory("a.root", n=100, negative_fraction=0.2, seed=1)
    b = ntuple_factory("b.root", n=50, seed=2)
    total = io.read_metadata_sum([str(a), str(b)], "Runs", "genEventSumw")
    w = np.concatenate([uproot.open(a)["Events/genWeight"].array(library="np"),
                        uproot.open(b)["Events/genWeight"].array(library="np")])
    assert total == pytest.approx(w.sum())


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def _as_rntuple(ttree_path, rntuple_path, tree="Events"):
    """Copy every branch of a TTree file into an RNTuple file (uproot >= 5.7 writes RNTuple for f[name] = ...)."""
    with uproot.open(ttree_path) as src:
        events = src[tree].arrays()
        runs = src["Runs"].arrays()
    with uproot.recreate(rntuple_path) as f:
        f[tree] = {k: events[k] for k in events.fields}
        f["Runs"] = {k: runs[k] for k in runs.fields}
    return rntuple_path


def test_rntuple_is_read_like_a_ttree_in_the_same_chunks(ntuple_factory, tmp_path):
    ttree = ntuple_factory(n=1000, seed=3)
    rntuple = _as_rntuple(ttree, tmp_path / "rntuple.root")
    t = io.open_tree(str(rntuple), "Events")
    assert type(t).__name__ == "Model_ROOT_3a3a_RNTuple" and t.num_entries == 1000
    t.file.close()
    branches = ["met", "jet_pt", "event"]
    a = list(io.iterate_tree(str(ttree), "Events", branches, step_size=300))
    b = list(io.iterate_tree(str(rntuple), "Events", branches, step_size=300))
    assert [s for s, _ in a] == [s for s, _ in b] == [0, 300, 600, 900]
    for (_, x), (_, y) in zip(a, b):
        assert x.to_list() == y.to_list()
    assert io.read_metadata_sum([str(rntuple)], "Runs", "genEventSumw") == io.read_metadata_sum(
        [str(ttree)], "Runs", "genEventSumw")
    with pytest.raises(io.InputError, match=r"no branch 'nope'; available: .*met"):
        list(io.iterate_tree(str(rntuple), "Events", ["nope"]))


def test_build_features_identical_from_ttree_and_rntuple(ntuple_factory, tmp_path):
    import pandas as pd

    from hepmva.datasets import load_feature_tables
    from hepmva.stages.features import build_features

    ttree = ntuple_factory(n=800, seed=4)
    rntuple = _as_rntuple(ttree, tmp_path / "rntuple.root")
    sample = {"name": "s", "label": "signal", "tree": "Events", "weight": "genWeight", "xsec_pb": 1.0,
              "sum_weights": {"tree": "Runs", "branch": "genEventSumw"}}
    feats = [{"name": "ht", "expr": "sum(jet_pt)"}, {"name": "j1", "expr": "jet_pt[0]", "default": -1},
             {"name": "mjj", "expr": "inv_mass(jet_pt, jet_eta, jet_phi)", "default": 0}]
    tables = []
    for name, path in (("t", ttree), ("r", rntuple)):
        out = tmp_path / f"{name}.json"
        build_features(sample, [str(path)], features=feats, luminosity_pb=1.0, folds=2, selection="met > 10",
                       step_size=250, output=out)
        tables.append(load_feature_tables([out]))
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert len(tables[0]) > 100


def test_remote_urls_are_recognised_and_a_missing_plugin_is_one_line(monkeypatch):
    assert io.is_remote("root://eos.cern.ch//eos/f.root") and io.is_remote("https://host/f.root")
    assert not io.is_remote("/data/f.root") and not io.is_remote("data/*.root")
    with pytest.raises(io.InputError, match=r"^nosuch://host/f.root: cannot read nosuch:// files") as info:
        io.expand_files(["nosuch://host/f.root"])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("compression", [uproot.LZ4(1), uproot.ZSTD(3), uproot.LZMA(2), uproot.ZLIB(1), None],
                         ids=["lz4", "zstd", "lzma", "zlib", "none"])
@pytest.mark.parametrize("layout", ["ttree", "rntuple"])
def test_every_compression_reads_the_same(tmp_path, compression, layout):
    """LZ4 baskets carry an xxhash checksum (xxhash is a dependency); every codec gives the same values."""
    import awkward as ak

    rng = np.random.default_rng(1)
    data = {"met": rng.exponential(30.0, 700), "jet_pt": ak.unflatten(rng.exponential(40.0, 1400), [2] * 700)}
    path = tmp_path / "c.root"
    with uproot.recreate(path, compression=compression) as f:
        if layout == "ttree":
            io.write_ttree(f, "Events", data)
        else:
            f["Events"] = data
    chunks = list(io.iterate_tree(str(path), "Events", ["met", "jet_pt"], step_size=200))
    assert [s for s, _ in chunks] == [0, 200, 400, 600]
    got = ak.concatenate([c for _, c in chunks])
    np.testing.assert_array_equal(got["met"].to_numpy(), data["met"])
    assert got["jet_pt"].to_list() == data["jet_pt"].to_list()


def test_missing_branch_suggests_close_matches(ntuple_factory):
    path = ntuple_factory()
    with pytest.raises(io.InputError, match=r"no branch 'mett' \(did you mean 'met'( or '[a-z_]+')?\?\); available:"):
        list(io.iterate_tree(str(path), "Events", ["mett"]))
    with pytest.raises(io.InputError) as info:
        list(io.iterate_tree(str(path), "Events", ["xyzzy"]))
    assert "did you mean" not in str(info.value)


def test_a_histogram_is_named_for_what_it_is(tmp_path):
    import hist

    p = tmp_path / "other.root"
    with uproot.recreate(p) as f:
        f["h"] = hist.Hist.new.Reg(3, 0, 1).Double()
    with pytest.raises(io.InputError, match=r"other\.root: 'h' is a TH1D, not a TTree or an RNTuple"):
        io.open_tree(str(p), "h")


def test_remove_stale_temporaries_removes_only_what_killed_jobs_leave(tmp_path):
    root = tmp_path / "results"
    (root / "features").mkdir(parents=True)
    keep = [root / "features" / "signal.parquet", root / "features" / ".hidden", root / "x.tmp.txt"]
    for p in keep:
        p.write_text("kept")
    stale = [root / "features" / ".signal.parquet.tmp4242", root / ".summary.csv.tmp7"]
    for p in stale:
        p.write_text("half written")
    model_tmp = root / "models" / "mlp" / ".fold0.tmp99"
    model_tmp.mkdir(parents=True)
    (model_tmp / "estimator.npz").write_text("half")
    removed = io.remove_stale_temporaries(root)
    assert sorted(removed) == sorted([*stale, model_tmp])
    assert all(p.exists() for p in keep) and not any(p.exists() for p in [*stale, model_tmp])
    assert io.remove_stale_temporaries(tmp_path / "nothing") == []


def test_process_alive_tells_a_dead_process_from_a_live_one():
    import os
    import subprocess
    import sys

    me = os.getpid()
    assert io.process_alive(me, io.process_start_time(me))
    assert not io.process_alive(me, "0")  # same PID, another start time: a reused PID
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not io.process_alive(child.pid)
