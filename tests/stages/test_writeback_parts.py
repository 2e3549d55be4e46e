"""Friend trees written part by part from the fold models' score tables."""

import json

import numpy as np
import pytest
import uproot

from hepmva import io, score_parts
from hepmva.datasets import feature_parts, load_feature_tables
from hepmva.stages.features import build_features
from hepmva.stages.train import train_fold
from hepmva.stages.writeback import write_friend_trees
from tests.conftest import write_ntuple
from tests.stages.test_stages_end_to_end import FEATURES, _sample


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A background sample in three input files (the last one selected away entirely) and a signal sample."""
    tmp = tmp_path_factory.mktemp("wb")
    files = [str(write_ntuple(tmp / f"bkg_{i}.root", n=n, seed=20 + i, first_id=10**5 * i))
             for i, n in enumerate((900, 700, 50))]  # the third file's events (ids >= 2e5) are all selected away
    sig_root = write_ntuple(tmp / "sig.root", n=1500, seed=1, signal=True, first_id=300_000)
    tables = {}
    for name, label, inputs in (("bkg", "background", files), ("sig", "signal", [str(sig_root)])):
        tables[name] = tmp / f"{name}.json"
        build_features(_sample(name, label, sum_weights=10.0), inputs, features=FEATURES,
                       spectators=[{"name": "lead_eta", "expr": "jet_eta[0]", "default": 0}], luminosity_pb=1000.0,
                       folds=2, selection="met > 5 and (event < 200000 or event >= 300000)", step_size=211,
                       entries_per_job=250, output=tables[name])  # files in entry ranges: several parts a file
    clf = {"name": "bdt", "kind": "xgboost", "params": {"n_estimators": 10, "max_depth": 2}}
    scores = []
    for fold in (0, 1):
        scores.append(tmp / f"s{fold}.parquet")
        train_fold(list(tables.values()), classifier=clf, fold=fold, feature_names=[f["name"] for f in FEATURES],
                   training={}, seed=2, model_dir=tmp / f"m{fold}", scores_path=scores[-1])
    return {"tmp": tmp, "files": files, "tables": tables, "scores": scores}


def test_friend_trees_are_entry_aligned_with_every_input_file(study, tmp_path):
    assert len(feature_parts([study["tables"]["bkg"]])) >= 6  # 900 + 700 + 50 entries in ranges of 250
    out = tmp_path / "friends"
    written = write_friend_trees(study["files"], study["tables"]["bkg"], {"bdt": study["scores"], "again": study["scores"]},
                                 sample=_sample("bkg", "background"), tree="hepmva", directory=out, spectators=["lead_eta"])
    assert [p.name for p in written] == ["0_bkg_0.root", "1_bkg_1.root", "2_bkg_2.root"]
    feats = load_feature_tables([study["tables"]["bkg"]], columns=["file_index", "entry", "lead_eta"])
    test = score_parts.read_scores(study["scores"], role="test", sample="bkg", columns=["row", "score"])
    feats = feats.merge(test, on="row", validate="one_to_one")
    for i, path in enumerate(study["files"]):
        friend = uproot.open(written[i])["hepmva"].arrays(library="np")
        parent = uproot.open(path)["Events"]
        assert len(friend["selected"]) == parent.num_entries
        met = parent["met"].array(library="np")
        np.testing.assert_array_equal(friend["selected"], (met > 5) & (parent["event"].array(library="np") < 200000))
        mine = feats[feats["file_index"] == i]
        np.testing.assert_array_equal(np.flatnonzero(friend["selected"]), mine["entry"])
        np.testing.assert_array_equal(friend["score_bdt"][mine["entry"]], mine["score"])
        np.testing.assert_array_equal(friend["score_again"], friend["score_bdt"])
        np.testing.assert_array_equal(friend["fold"][mine["entry"]], mine["fold"])
        np.testing.assert_array_equal(friend["lead_eta"][mine["entry"]], mine["lead_eta"])
        assert np.isnan(friend["score_bdt"][~friend["selected"]]).all() and (friend["fold"][~friend["selected"]] == -1).all()
    index = json.loads((out / "friends.json").read_text())
    assert [r["entries"] for r in index] == [900, 700, 50] and index[2]["friend"] == str(out / "2_bkg_2.root")


def test_missing_scores_are_one_line_and_leave_nothing(study, tmp_path):
    out = tmp_path / "friends"
    with pytest.raises(io.InputError, match=r"0 held-out scores for sample 'bkg' part 0, expected one for each"):
        write_friend_trees(study["files"], study["tables"]["bkg"], {"bdt": study["scores"][:0]},
                           sample=_sample("bkg", "background"), tree="hepmva", directory=out)
    with pytest.raises(io.InputError, match="held-out scores for sample 'bkg'"):  # one fold's table only
        write_friend_trees(study["files"], study["tables"]["bkg"], {"bdt": study["scores"][:1]},
                           sample=_sample("bkg", "background"), tree="hepmva", directory=out)
    assert not out.exists() and not list(tmp_path.iterdir())


def _friend_arrays(paths):
    out = []
    for p in paths:
        t = uproot.open(p)["hepmva"]
        out.append(({k: str(v) for k, v in t.typenames().items()}, t.arrays(library="np"), t["selected"].num_baskets))
    return out


def test_blocks_smaller_than_a_part_write_the_same_friend_trees(study, tmp_path):
    """Parts of 250 entries written in blocks of 7 and 64 (several extends per part and file, gaps between
    selected events longer than a block) give the trees of one block per part, bit for bit."""
    kwargs = dict(sample=_sample("bkg", "background"), tree="hepmva", spectators=["lead_eta"])
    whole = _friend_arrays(write_friend_trees(study["files"], study["tables"]["bkg"], {"bdt": study["scores"]},
                                              directory=tmp_path / "whole", **kwargs))
    for block in (7, 64):
        blocks = _friend_arrays(write_friend_trees(study["files"], study["tables"]["bkg"], {"bdt": study["scores"]},
                                                   directory=tmp_path / f"b{block}", block_events=block, **kwargs))
        for (types, arrays, baskets), (types_b, arrays_b, baskets_b) in zip(whole, blocks):
            assert types_b == types and list(arrays_b) == list(arrays)
            for k in arrays:
                assert arrays_b[k].dtype == arrays[k].dtype
                assert arrays_b[k].tobytes() == arrays[k].tobytes(), k  # NaNs included
            assert baskets_b >= -(-len(arrays["selected"]) // block)  # extends of at most `block` entries
        assert blocks[0][2] > whole[0][2]


def test_part_scores_of_a_table_written_fold_by_fold_come_in_row_order(tmp_path):
    """A score table whose row groups interleave (both folds' events of a part in one file, written fold by fold, as a
    hand-made table may be) is read at once and sorted, not refused."""
    from hepmva.score_parts import PartScores, ScorePartWriter

    rng = np.random.default_rng(4)
    rows = np.arange(1000)
    fold = rng.integers(0, 2, len(rows))
    with ScorePartWriter(tmp_path / "s.parquet") as w:
        for k in (0, 1):
            r = rows[fold == k]
            w.write(sample="s", part=0, role="test", fold=k, row=r, label=np.zeros(len(r)), weight=np.ones(len(r)),
                    score=r / 1000.0)
    ps = PartScores([tmp_path / "s.parquet"], sample="s", part=0, batch_rows=64)
    got_rows, got_scores = [], []
    for stop in (100, 500, 1000):
        r, sc = ps.take(stop)
        assert np.all(r < stop) and np.all(np.diff(r) > 0)
        got_rows.append(r), got_scores.append(sc)
    np.testing.assert_array_equal(np.concatenate(got_rows), rows)
    np.testing.assert_array_equal(np.concatenate(got_scores), rows / 1000.0)
    assert ps.exhausted()
