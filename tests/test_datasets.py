"""The features read API (hepmva.datasets): columns, dtype, parts, rows, weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hepmva import io
from hepmva.datasets import BOOKKEEPING, feature_columns, iter_feature_parts, load_feature_tables
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
        out = tmp_path / "features" / f"{name}.parquet"
        build_features({"name": name, "label": label, "xsec_pb": 2.0, "weight": "genWeight", "sum_weights": "auto"},
                       [str(f) for f in files], features=FEATURES, luminosity_pb=10.0, folds=3,
                       spectators=[{"name": "njet", "expr": "count(jet_pt)"}], selection="met > 5", output=out)
        paths.append(out)
    return paths


def test_whole_tables_as_read_directly(tables):
    df = load_feature_tables(tables, ["met", "j1pt"])
    raw = pd.concat([pd.read_parquet(p) for p in tables], ignore_index=True)
    pd.testing.assert_frame_equal(df.drop(columns="row"), raw)
    for name in ("sig", "bkg"):
        assert np.array_equal(df.loc[df["sample"] == name, "row"], np.arange((raw["sample"] == name).sum()))


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
    assert [(s, k) for s, k, _ in parts] == [("sig", 0), ("bkg", 0)]
    pd.testing.assert_frame_equal(pd.concat([f for _, _, f in parts], ignore_index=True), whole)
    assert all(f["sample"].eq(s).all() for s, _, f in parts)


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
