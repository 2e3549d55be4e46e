"""Scoring per feature part: the train job's score tables, and reading them (hepmva.score_parts)."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from hepmva import io, score_parts
from hepmva.datasets import feature_parts, load_feature_tables
from hepmva.models import classifier_score, load_estimator
from hepmva.persistence import read_model_info
from hepmva.preprocessing import Scaler
from hepmva.stages.features import build_features
from hepmva.stages.train import train_fold
from tests.conftest import write_ntuple
from tests.stages.test_stages_end_to_end import FEATURES, _sample

NAMES = [f["name"] for f in FEATURES]
CLASSIFIERS = [
    {"name": "bdt", "kind": "xgboost", "params": {"n_estimators": 20, "max_depth": 3}},
    {"name": "mlp", "kind": "mlp", "params": {"hidden_layer_sizes": [8], "max_iter": 3, "dtype": "float64"},
     "max_train_events": 1500},
]


def _tables(tmp_path, entries_per_job):
    """The two samples' features datasets: one part per input file, or entry ranges of ``entries_per_job``."""
    out = []
    for name, label, seed, first in (("sig", "signal", 1, 0), ("bkg", "background", 2, 10**6)):
        roots = []
        for i, n in enumerate((1500, 1000)):  # two input files per sample
            roots.append(tmp_path / f"{name}_{i}.root")
            if not roots[-1].exists():
                write_ntuple(roots[-1], n=n, seed=seed + 10 * i, signal=(label == "signal"), first_id=first + 10**5 * i,
                             negative_fraction=0.05)
        manifest = tmp_path / str(entries_per_job) / f"{name}.json"
        build_features(_sample(name, label), [str(r) for r in roots], features=FEATURES, luminosity_pb=1000.0,
                       folds=2, selection="met > 5", step_size=173, entries_per_job=entries_per_job, output=manifest)
        out.append(manifest)
    return out


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """The same samples as one part each and as many parts, every classifier trained and scored on both."""
    tmp_path = tmp_path_factory.mktemp("parts")
    layouts = {"one": _tables(tmp_path, None), "many": _tables(tmp_path, 300)}
    out = {}
    for layout, tables in layouts.items():
        for clf in CLASSIFIERS:
            for fold in (0, 1):
                d = tmp_path / layout / clf["name"]
                info = train_fold(tables, classifier=clf, fold=fold, feature_names=NAMES, training={}, seed=4,
                                  model_dir=d / f"fold{fold}", scores_path=d / f"scores_fold{fold}.parquet")
                out[layout, clf["name"], fold] = (d / f"scores_fold{fold}.parquet", info, tables)
    return out


def test_many_parts_are_many_row_groups_of_one_role(scored):
    path, _, tables = scored["many", "bdt", 0]
    n_parts = len(feature_parts(tables))
    assert len(feature_parts(scored["one", "bdt", 0][2])) == 4 and n_parts >= 8  # files, and entry ranges of them
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 2 * n_parts  # every part has held-out and training events
    df = io.read_table(path)
    assert list(df.columns) == list(score_parts.SCORE_COLUMNS)
    for part, g in df.groupby(["sample", "part", "role"]):
        assert g["row"].is_monotonic_increasing
    roles = [pq.ParquetFile(path).read_row_group(i, columns=["role"]).column(0).unique().to_pylist()
             for i in range(meta.num_row_groups)]
    assert all(len(r) == 1 for r in roles)


@pytest.mark.parametrize("clf", [c["name"] for c in CLASSIFIERS])
@pytest.mark.parametrize("fold", [0, 1])
def test_per_part_scores_equal_the_single_table_scores_event_by_event(scored, clf, fold):
    """Many parts or one: the same (sample, row, role) keys and the same scores, which are the saved model's
    scores of the whole features table at once."""
    one, info_one, tables = scored["one", clf, fold]
    many, info_many, _ = scored["many", clf, fold]
    key = ["sample", "row", "role"]
    a = io.read_table(one).sort_values(key, ignore_index=True)
    b = io.read_table(many).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(a[key + ["fold", "label", "weight"]], b[key + ["fold", "label", "weight"]])
    # the MLP's matrix products may round differently for other batch shapes (BLAS); xgboost is exact
    rtol = 0.0 if clf == "bdt" else 1e-12
    np.testing.assert_allclose(b["score"], a["score"], rtol=rtol, atol=0)
    # the single-table scores: the saved fold model on every event of the features at once
    feats = load_feature_tables(tables, NAMES)
    model_dir = one.parent / f"fold{fold}"
    scaler = Scaler.from_dict(read_model_info(model_dir / "model.json")["scaler"])
    whole = classifier_score(load_estimator(model_dir), scaler.transform(feats[NAMES].to_numpy(np.float64)))
    ref = feats.assign(score=whole)[["sample", "row", "label", "weight", "fold", "score"]]
    test = a[a.role == "test"].merge(ref, on=["sample", "row"], suffixes=("", "_ref"), validate="one_to_one")
    assert len(test) == (feats["fold"] == fold).sum()
    np.testing.assert_array_equal(test["label"], test["label_ref"])
    np.testing.assert_array_equal(test["weight"], test["weight_ref"])
    np.testing.assert_allclose(test["score"], test["score_ref"], rtol=rtol)
    # training rows: exactly the (capped) training events, none of the held-out fold
    train = a[a.role == "train"]
    assert len(train) == info_one["n_train"] == info_many["n_train"]
    assert (train.merge(ref, on=["sample", "row"])["fold_y"] != fold).all()
    summary = score_parts.score_summary([many])
    assert summary.n == {"test": info_many["n_test"], "train": info_many["n_train"]}
    assert summary.score_min["test"] == a.loc[a.role == "test", "score"].min()
    assert summary.score_max["all"] == a["score"].max()


def test_readers_filter_by_role_and_sample(scored):
    paths = [scored["many", "bdt", k][0] for k in (0, 1)]
    test = score_parts.read_scores(paths, role="test", columns=["sample", "row", "score"])
    assert list(test.columns) == ["sample", "row", "score"]
    feats = load_feature_tables(scored["many", "bdt", 0][2])
    assert len(test) == len(feats)  # every event once, out of fold
    sig = score_parts.read_scores(paths, role="test", sample="sig", columns=["row"])
    assert sorted(sig["row"]) == list(range((feats["sample"] == "sig").sum()))
    assert all(len(p) and set(p["role"]) == {"train"} for p in score_parts.iter_score_parts(paths, role="train"))
    empty = score_parts.read_scores(paths, sample="nope", columns=["row", "score"])
    assert len(empty) == 0 and list(empty.columns) == ["row", "score"]


def test_a_table_that_is_not_a_score_table_is_one_clear_line(tmp_path):
    bad = tmp_path / "scores_fold0.parquet"
    pd.DataFrame({"sample": ["a"], "score": [0.5]}).to_parquet(bad)
    with pytest.raises(io.InputError, match=r"scores_fold0.parquet: score table lacks column\(s\) part, row, role"):
        score_parts.score_summary([bad])
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(io.InputError, match="junk.parquet: not a score table"):
        list(score_parts.iter_score_parts([tmp_path / "junk.parquet"]))


def test_a_score_table_keeps_its_row_groups_small_and_its_numbers_plain(tmp_path):
    """A reader holds one row group per file open (a writeback: every classifier's fold files at once), so a
    part of many events is written as row groups of at most ROW_GROUP_ROWS rows, and only the repeated strings
    are dictionary-encoded; the rows read back are the ones written, and PartScores merges them in order."""
    n = 2 * score_parts.ROW_GROUP_ROWS + 123
    row = np.arange(n, dtype=np.int64)
    path = tmp_path / "scores.parquet"
    with score_parts.ScorePartWriter(path) as w:
        w.write(sample="s", part=0, role="test", fold=0, row=row, label=np.ones(n, dtype=np.int8),
                weight=np.ones(n), score=np.sin(row))
    md = pq.read_metadata(path)
    assert [md.row_group(i).num_rows for i in range(md.num_row_groups)] == [score_parts.ROW_GROUP_ROWS] * 2 + [123]
    names = md.schema.names
    for i in range(md.num_row_groups):
        for c in ("row", "score", "weight"):
            encodings = md.row_group(i).column(names.index(c)).encodings
            assert not any("DICTIONARY" in e for e in encodings), (c, encodings)
    part = score_parts.PartScores([path], sample="s", part=0, batch_rows=1000)
    assert part.n == n
    got, score = part.take(n)
    np.testing.assert_array_equal(got, row)
    np.testing.assert_array_equal(score, np.sin(row))
    assert part.exhausted()


def test_scoring_in_blocks_of_a_part_writes_the_part_s_scores(scored, tmp_path):
    """A train job scores a part block by block (memory one block, however many events an input file holds):
    blocks of 97 events give the whole-part table's rows and scores, in row order within every part and role,
    which the writeback's block-wise reader merges as it reads a whole-part table."""
    from hepmva.stages.train import score_fold_parts

    path, info, tables = scored["one", "bdt", 0]
    model_dir = path.parent / "fold0"
    scaler = Scaler.from_dict(read_model_info(model_dir / "model.json")["scaler"])
    est = load_estimator(model_dir)
    train = io.read_table(path)
    train_rows = {s: np.sort(g["row"].to_numpy()) for s, g in train[train.role == "train"].groupby("sample")}
    tables_out = {}
    for block in (97, 10**9):
        out = tmp_path / f"scores_{block}.parquet"
        scoring = score_fold_parts(est, scaler, tables, feature_names=NAMES, fold=0, train_rows=train_rows,
                                   output=out, what="bdt fold 0", block_events=block)
        assert scoring.n_parts == len(feature_parts(tables))
        tables_out[block] = out
    assert pq.read_metadata(tables_out[97]).num_row_groups > pq.read_metadata(tables_out[10**9]).num_row_groups
    blocks, whole = io.read_table(tables_out[97]), io.read_table(tables_out[10**9])
    key = ["sample", "row", "role"]
    for role in ("test", "train"):  # a role's rows in the same order (the roles' row groups alternate block by block)
        pd.testing.assert_frame_equal(blocks[blocks.role == role].reset_index(drop=True),
                                      whole[whole.role == role].reset_index(drop=True))
    pd.testing.assert_frame_equal(whole.sort_values(key, ignore_index=True)[key + ["score"]],
                                  train.sort_values(key, ignore_index=True)[key + ["score"]])
    for part in feature_parts(tables):
        got, score = score_parts.PartScores([tables_out[97]], sample=part.sample, part=part.part,
                                            batch_rows=50).take(10**12)
        ref = whole[(whole["sample"] == part.sample) & (whole["part"] == part.part) & (whole.role == "test")]
        np.testing.assert_array_equal(got, ref["row"].to_numpy())
        np.testing.assert_array_equal(score, ref["score"].to_numpy())
