"""The features read API (hepmva.datasets): columns, dtype, parts, rows, weights."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hepmva import io
from hepmva.datasets import (BOOKKEEPING, feature_columns, feature_parts, iter_feature_blocks, iter_feature_parts,
                             iter_part_blocks, load_feature_tables)
from hepmva.errors import InputError
from hepmva.stages.features import build_features

FEATURES = [{"name": "met", "expr": "met"}, {"name": "j1pt", "expr": "jet_pt[0]", "default": -1.0}]


@pytest.fixture
def tables(ntuple_factory, tmp_path):
    """Two samples' features tables built from ROOT files (signal: two files)."""
    sig = [ntuple_factory("s0.root", n=300, seed=1, signal=True),
           ntuple_factory("s1.root", n=200, seed=2, signal=True, first_id=300)]
    bkg = [ntuple_factory("b0.root", n=400, seed=3)]
    paths = []
    for name, label, files in (("sig", "signal", sig), ("bkg", "background", bkg)):
        out = tmp_path / "features" / f"{name}.json"
        build_features({"name": name, "label": label, "xsec_pb": 2.0, "weight": "genWeight", "sum_weights": "auto"},
                       [str(f) for f in files], features=FEATURES, luminosity_pb=10.0, folds=3,
                       spectators=[{"name": "njet", "expr": "count(jet_pt)"}], selection="met > 5", output=out)
        paths.append(out)
    return paths


def test_whole_tables_as_read_directly(tables):
    """The manifest's parts read by hand, generator weights times the manifest's scale: what the API gives."""
    df = load_feature_tables(tables, ["met", "j1pt"])
    raw = []
    for p in tables:
        manifest = json.loads(p.read_text())
        for q in manifest["parts"]:
            t = pd.read_parquet(p.parent / q["path"])
            t["sample"] = t["sample"].astype(str)
            t["generator_weight"] *= manifest["scale"]
            raw.append(t.rename(columns={"generator_weight": "weight"}))
    raw = pd.concat(raw, ignore_index=True)
    pd.testing.assert_frame_equal(df.drop(columns="row"), raw)
    for name in ("sig", "bkg"):
        assert np.array_equal(df.loc[df["sample"] == name, "row"], np.arange((raw["sample"] == name).sum()))
    assert df["sample"].dtype == raw["sample"].dtype == "str"


def test_columns_and_dtype(tables):
    full = load_feature_tables(tables)
    df = load_feature_tables(tables, ["met"], columns=["njet"], dtype=np.float32)
    assert list(df.columns) == [*BOOKKEEPING, "met", "njet", "row"]
    assert df["met"].dtype == np.float32 and df["njet"].dtype == np.float32
    assert df["weight"].dtype == np.float64  # yields stay exact
    np.testing.assert_array_equal(df["weight"], full["weight"])
    np.testing.assert_array_equal(df["met"], full["met"].astype(np.float32))
    np.testing.assert_array_equal(df["row"], full["row"])
    only = load_feature_tables(tables, columns=())
    assert list(only.columns) == [*BOOKKEEPING, "row"]
    assert "truth_llr" not in feature_columns(tables) and "entry" in feature_columns(tables)


def test_parts_are_the_whole_table_in_pieces(tables):
    whole = load_feature_tables(tables, columns=["met"])
    parts = list(iter_feature_parts(tables, columns=["met"]))
    assert [(s, k) for s, k, _ in parts] == [("sig", 0), ("sig", 1), ("bkg", 0)]  # one part per file
    pd.testing.assert_frame_equal(pd.concat([f for _, _, f in parts], ignore_index=True), whole)
    assert all(f["sample"].eq(s).all() for s, _, f in parts)


@pytest.mark.parametrize("block", [1, 17, 10**6])
def test_blocks_are_each_part_in_pieces(tables, block):
    """Blocks of at most ``block`` rows, a part's one after the other: together each part's frame, bit for bit."""
    parts = list(iter_feature_parts(tables, columns=["met"], dtype=np.float32))
    blocks = list(iter_feature_blocks(tables, columns=["met"], dtype=np.float32, block_events=block))
    assert all(len(f) <= block for _, _, f in blocks)
    for sample, k, frame in parts:
        mine = [f for s, q, f in blocks if (s, q) == (sample, k)]
        assert len(mine) == -(-len(frame) // block)
        pd.testing.assert_frame_equal(pd.concat(mine, ignore_index=True), frame)
    part = feature_parts(tables)[1]
    pd.testing.assert_frame_equal(pd.concat(list(iter_part_blocks(part, ["met"], np.float32, block_events=block)),
                                            ignore_index=True), parts[1][2])
    with pytest.raises(ValueError, match="block_events must be positive"):
        next(iter_feature_blocks(tables, block_events=0))


def test_missing_column_names_it(tables, tmp_path):
    with pytest.raises(InputError, match="lacks column.*nope.*re-run the features stage"):
        load_feature_tables(tables, ["met", "nope"])
    with pytest.raises(InputError, match="lacks column.*absent"):
        list(iter_feature_parts(tables, columns=["absent"]))
    with pytest.raises(InputError, match="no features table"):
        load_feature_tables([tmp_path / "missing.parquet"])
    io.write_table(pd.DataFrame({"x": [1.0]}), tmp_path / "odd.parquet")
    with pytest.raises(InputError, match="lacks column"):
        load_feature_tables([tmp_path / "odd.parquet"], columns=["x"])


def test_split_build_is_the_one_part_build(ntuple_factory, tmp_path):
    """Entry ranges of several files give the same events, weights (bit for bit), folds and rows as one part per
    file, and both agree with uproot + numpy + math.fsum done by hand."""
    import math

    import uproot

    files = [str(ntuple_factory(f"s{i}.root", n=n, seed=i, signal=True, first_id=1000 * i, negative_fraction=0.2))
             for i, n in enumerate((300, 1, 250))]
    sample = {"name": "sig", "label": "signal", "xsec_pb": 3.0, "weight": "genWeight * (1 + met / 777)",
              "sum_weights": "auto"}
    kw = dict(features=FEATURES, luminosity_pb=10.0, folds=3, selection="met > 20", step_size=40)
    one = build_features(sample, files, output=tmp_path / "one" / "sig.json", **kw)
    split = build_features(sample, files, entries_per_job=70, output=tmp_path / "split" / "sig.json", **kw)
    assert one["parts"] == 3 and split["parts"] == 5 + 1 + 4
    a = load_feature_tables([tmp_path / "one" / "sig.json"])
    b = load_feature_tables([tmp_path / "split" / "sig.json"])
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    arrays = [uproot.open(f)["Events"].arrays(["met", "genWeight", "event"], library="np") for f in files]
    # in float32, as the expression computes on the float32 branches
    w_all = np.concatenate([x["genWeight"] * (1 + x["met"] / 777) for x in arrays]).astype(np.float64)
    met = np.concatenate([x["met"] for x in arrays]).astype(np.float64)
    sel = met > 20
    np.testing.assert_array_equal(a["event"], np.concatenate([x["event"] for x in arrays])[sel])
    np.testing.assert_array_equal(a["weight"], w_all[sel] * (3.0 * 10.0 / math.fsum(w_all)))
    assert json.loads((tmp_path / "split" / "sig.json").read_text())["sum_weights"] == math.fsum(w_all)
    np.testing.assert_array_equal(a["row"], np.arange(sel.sum()))
