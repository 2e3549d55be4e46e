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


def test_missing_branch_suggests_close_matches(ntuple_factory):
    path = ntuple_factory()
    with pytest.raises(io.InputError, match=r"no branch 'mett' \(did you mean 'met'( or '[a-z_]+')?\?\); available:"):
        list(io.iterate_tree(str(path), "Events", ["mett"]))
    with pytest.raises(io.InputError) as info:
        list(io.iterate_tree(str(path), "Events", ["xyzzy"]))
    assert "did you mean" not in str(info.value)


def test_rntuple_and_histograms_are_named_for_what_they_are(tmp_path):
    import hist

    p = tmp_path / "other.root"
    with uproot.recreate(p) as f:
        f["ntuple"] = {"x": np.arange(5.0)}  # uproot >= 5.7 writes an RNTuple for a dict
        f["h"] = hist.Hist.new.Reg(3, 0, 1).Double()
    with pytest.raises(io.InputError, match=r"other\.root: 'ntuple' is an RNTuple, not a TTree"):
        io.open_tree(str(p), "ntuple")
    with pytest.raises(io.InputError, match=r"'h' is a TH1D, not a TTree"):
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
