"""io.RootFile: one open of a ROOT file answers its entry count, its chunks and its metadata trees.

The opens are counted on uproot itself (``uproot.open`` wrapped by a counter that calls the real one: every
read below is uproot's), so a caller that opened the file again would be seen. Every error is one line
naming the file, the tree and the branch.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot

from hepmva import io
from hepmva.config import schema_default
from hepmva.feature_table import FeaturePartSpec, check_branches, compile_program, part_weight_sums
from hepmva.generate import write_sample
from hepmva.stages.features import build_feature_part


@pytest.fixture
def opens(monkeypatch) -> list[str]:
    """The paths ``uproot.open`` is called with from here on (the real uproot.open does the work)."""
    calls: list[str] = []
    real = uproot.open

    def counting(path, *args, **kwargs):
        calls.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(uproot, "open", counting)
    return calls


@pytest.fixture(scope="module")
def ttbar(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("root_file") / "ttbar.root"
    write_sample(path, "ttbar", 5000, 3)
    return str(path)


def test_one_open_answers_entries_chunks_and_metadata(ttbar, opens):
    with uproot.open(ttbar) as f:  # the reference, before counting what RootFile does
        expected = f["Events"].arrays(["met", "jet_pt"])
        xsec = f["Runs/xsec_pb"].array(library="np")
        sumw = f["Runs/genEventSumw"].array(library="np")
    opens.clear()
    with io.RootFile(ttbar) as f:
        assert f.num_entries("Events") == 5000
        assert f.tree("Events") is f.tree("Events")  # the header is read once
        chunks = list(f.iterate("Events", ["met", "jet_pt"], step_size=1200))
        assert f.metadata_value("Runs", "xsec_pb") == float(xsec[0])
        assert f.metadata_sum("Runs", "genEventSumw") == float(sumw.sum())
        assert f.num_entries("Runs") == 1
    assert opens == [ttbar]
    assert [s for s, _ in chunks] == [0, 1200, 2400, 3600, 4800]
    got = ak.concatenate([c for _, c in chunks])
    np.testing.assert_array_equal(got["met"].to_numpy(), expected["met"].to_numpy())
    assert got["jet_pt"].to_list() == expected["jet_pt"].to_list()
    with pytest.raises(ValueError):  # closed: its trees are gone with the file
        list(f.iterate("Events", ["met"]))


def _ttbar_part(**sample_keys):
    sample = {"name": "ttbar", "label": "background", "tree": "Events", "weight": "genWeight",
              "xsec_pb": {"tree": "Runs", "branch": "xsec_pb"},
              "sum_weights": {"tree": "Runs", "branch": "genEventSumw"}}
    sample.update(sample_keys)
    kwargs = dict(features=[{"name": "met", "expr": "met"}, {"name": "j1", "expr": "jet_pt[0]", "default": -1.0}],
                  folds=2, event_id="event", selection="nlep >= 1", step_size=1500)
    return sample, kwargs


@pytest.mark.parametrize("sum_weights", ["metadata", "auto"])
def test_a_features_part_opens_its_file_once(ttbar, opens, tmp_path, sum_weights):
    """The entry count, the chunks, the cross-section and the sum of weights: 4 opens before, 1 now."""
    sample, kwargs = _ttbar_part(**({"sum_weights": "auto"} if sum_weights == "auto" else {}))
    meta = build_feature_part(sample, {"part": 0, "file": ttbar, "file_index": 0}, output=tmp_path / "p.parquet",
                              **kwargs)
    assert opens == [ttbar]
    assert meta["n_read"] == 5000 and meta["xsec_pb"] > 0
    assert ("file_sum_weights" in meta) == (sum_weights == "metadata")


def test_the_apply_sums_pass_opens_its_file_once(ttbar, opens):
    sample = {"name": "ttbar", "kind": "mc", "xsec_pb": {"tree": "Runs", "branch": "xsec_pb"}, "sum_weights": "auto"}
    weight = compile_program([], weights={"w": "genWeight"}).weights[0][1]
    out = part_weight_sums(sample, FeaturePartSpec(part=0, file=ttbar, file_index=0, entry_start=1000,
                                                   entry_stop=4000), weight, tree="Events", step_size=700)
    assert opens == [ttbar]
    assert out["n_read"] == 3000 and out["entry_stop"] == 4000
    with uproot.open(ttbar) as f:
        assert out["xsec_pb"] == float(f["Runs/xsec_pb"].array(library="np")[0])


def test_check_branches_on_the_open_file_names_the_feature(ttbar, opens):
    program = compile_program([{"name": "ht", "expr": "sum(jet_ptt)"}])
    with io.RootFile(ttbar) as f:
        with pytest.raises(io.InputError) as err:
            check_branches(program, f, "Events")
    assert opens == [ttbar]
    msg = str(err.value)
    assert msg.startswith(f"{ttbar}:Events: feature 'ht' = 'sum(jet_ptt)' needs branch 'jet_ptt'")
    assert "\n" not in msg


def test_parts_are_lz4_with_byte_stream_split_floats(ttbar, tmp_path):
    sample, kwargs = _ttbar_part()
    build_feature_part(sample, {"part": 0, "file": ttbar, "file_index": 0}, output=tmp_path / "p.parquet", **kwargs)
    md = pq.read_metadata(tmp_path / "p.parquet")
    rg = md.row_group(0)
    cols = {rg.column(i).path_in_schema: rg.column(i) for i in range(rg.num_columns)}
    assert {c.compression for c in cols.values()} <= {"LZ4", "LZ4_RAW"}
    assert "BYTE_STREAM_SPLIT" in cols["met"].encodings and "BYTE_STREAM_SPLIT" not in cols["event"].encodings
    assert md.num_row_groups == 4  # one per chunk of 1500 entries


def test_the_default_step_size_is_the_readers():
    assert schema_default("reading.step_size") == io.DEFAULT_STEP_SIZE


@pytest.fixture
def metadata_file(tmp_path):
    path = tmp_path / "meta.root"
    with uproot.recreate(path) as f:
        io.write_ttree(f, "Events", {"x": np.arange(10.0), "n": np.arange(10, dtype=np.int32)})
        io.write_ttree(f, "Runs", {"xsec": np.array([2.0, 3.0]), "bad": np.array([1.0, np.nan]),
                                   "sumw": np.array([1.5, 2.5])})
    return str(path)


@pytest.mark.parametrize("call, pattern", [
    (lambda f: f.num_entries("Evnts"), r"meta\.root: no tree 'Evnts'; the file holds: Events, Runs$"),
    (lambda f: list(f.iterate("Events", ["xx"])), r"meta\.root:Events: no branch 'xx' \(did you mean 'x'\?\); "
                                                  r"available: n, x$"),
    (lambda f: f.metadata_value("Runs", "xsecc"), r"meta\.root:Runs: no branch 'xsecc' \(did you mean 'xsec'\?\)"),
    (lambda f: f.metadata_sum("Runs", "bad"), r"meta\.root:Runs/bad: expected finite scalar values$"),
    (lambda f: f.metadata_value("Runs", "xsec"), r"meta\.root:Runs/xsec: the file's entries disagree on the value "
                                                 r"\(\[2\.0, 3\.0\]\); a per-file constant"),
    (lambda f: f.require_branches("Events", ["x", "nn", "y"]), r"no branch 'nn', 'y' \(did you mean 'n' for 'nn'\?\)"),
])
def test_errors_are_one_line_naming_file_tree_branch(metadata_file, call, pattern):
    with io.RootFile(metadata_file) as f:
        with pytest.raises(io.InputError, match=pattern) as err:
            call(f)
    assert "\n" not in str(err.value)


def test_open_errors_are_one_line(tmp_path):
    with pytest.raises(io.InputError, match=r"missing\.root: no such file$"):
        io.RootFile(tmp_path / "missing.root")
    junk = tmp_path / "junk.root"
    junk.write_bytes(b"not ROOT" * 100)
    with pytest.raises(io.InputError, match=r"junk\.root: not a readable ROOT file \(") as err:
        io.RootFile(junk)
    assert "\n" not in str(err.value)


def test_a_part_with_a_missing_metadata_branch_names_it_and_leaves_nothing(ttbar, tmp_path):
    sample, kwargs = _ttbar_part(xsec_pb={"tree": "Runs", "branch": "xsec"})
    out = tmp_path / "p.parquet"
    with pytest.raises(io.InputError, match=r"ttbar\.root:Runs: no branch 'xsec' \(did you mean 'xsec_pb'\?\)"):
        build_feature_part(sample, {"part": 0, "file": ttbar, "file_index": 0}, output=out, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_module_functions_are_the_reader(metadata_file):
    """count_entries, iterate_tree, open_tree and the metadata readers: the same answers and errors."""
    assert io.count_entries(metadata_file, "Events") == 10
    assert [len(c) for _, c in io.iterate_tree(metadata_file, "Events", ["x"], step_size=4)] == [4, 4, 2]
    assert io.read_metadata_sum([metadata_file, metadata_file], "Runs", "sumw") == 8.0
    with pytest.raises(io.InputError, match=r"^Runs/xsec: files disagree on the value \(\[2\.0, 3\.0\]\)$"):
        io.read_metadata_value([metadata_file], "Runs", "xsec")
    t = io.open_tree(metadata_file, "Events")
    try:
        assert t.num_entries == 10
    finally:
        t.file.close()
    with pytest.raises(io.InputError, match="no tree 'Nope'"):
        io.open_tree(metadata_file, "Nope")
