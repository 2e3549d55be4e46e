"""The planned training set: per-class caps that keep the weighted yields, part-independent, float32 reads."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hepmva import io
from hepmva.datasets import TrainingPolicy, load_feature_tables
from hepmva.errors import TrainingError
from hepmva.preprocessing import Scaler
from hepmva.samples import training_weights
from hepmva.training_set import TrainingSet, class_caps, event_keys, plan_training_set, train_job_mem_mb

FEATURES = ["a", "b", "c"]


def write_tables(tmp_path, sizes: dict, *, seed: int = 0, negative: float = 0.05, folds: int = 2) -> list:
    """One features table per sample: {name: (label, n)}; features shifted by the label, weights with a
    fraction ``negative`` of negative ones."""
    rng = np.random.default_rng(seed)
    paths = []
    for name, (label, n) in sizes.items():
        w = rng.exponential(1.0, n) * (1 + 3 * label)
        w[rng.random(n) < negative] *= -0.5
        df = pd.DataFrame({f: rng.normal(label * (0.6 + 0.4 * i), 1.0 + 0.2 * i, n) for i, f in enumerate(FEATURES)})
        df["sample"], df["label"], df["weight"] = name, label, w
        df["fold"] = rng.integers(0, folds, n).astype(np.int8)
        df["event"] = np.arange(n, dtype=np.uint64)
        path = tmp_path / f"{name}.parquet"
        io.write_table(df, path)
        paths.append(path)
    return paths


POLICY = TrainingPolicy.from_config({"negative_weights": "abs"})


def test_class_caps_split_evenly_and_pass_on_unused_shares():
    assert class_caps([100, 10_000], 1000) == (100, 900)
    assert class_caps([5000, 10_000], 1000) == (500, 500)
    assert class_caps([3, 4], 1000) == (3, 4)
    assert class_caps([5000, 10_000], None) == (5000, 10_000)
    assert class_caps([501, 10_000], 1001) == (501, 500)  # the odd event goes to the smaller class


def test_capped_set_keeps_each_class_yield_and_its_distribution(tmp_path):
    paths = write_tables(tmp_path, {"sig": (1, 6000), "ttbar": (0, 15000), "wjets": (0, 9000), "zz": (0, 3000)})
    full = load_feature_tables(paths, FEATURES)
    train = full[full["fold"] != 1]
    plan = plan_training_set(paths, fold=1, cap=4000, seed=7, policy=POLICY)
    kept = TrainingSet(paths, FEATURES, plan, POLICY).load()
    assert kept.X.dtype == np.float32 and kept.X.shape == (4000, 3)
    assert np.bincount(kept.y).tolist() == [2000, 2000]
    for c in (0, 1):
        # weighted yield of every class exactly that of the full training folds
        assert kept.weight[kept.y == c].sum() == pytest.approx(train.loc[train.label == c, "weight"].sum(), rel=1e-12)
        # the kept events are a uniform subsample: same distribution as the full class (KS, unweighted)
        for i, f in enumerate(FEATURES):
            p = stats.ks_2samp(kept.X[kept.y == c, i], train.loc[train.label == c, f]).pvalue
            assert p > 1e-3, (c, f, p)
    # the selection streamed over the samples (parts) is exactly the class's k smallest keys of the whole set
    keys = np.concatenate([event_keys(s, g["row"].to_numpy(), seed=7, stream=1) for s, g in train.groupby("sample", sort=False)])
    rows = pd.concat([g for _, g in train.groupby("sample", sort=False)])
    for c in (0, 1):
        m = rows["label"].to_numpy() == c
        best = np.argsort(keys[m])[:2000]
        expected = set(zip(rows["sample"].to_numpy()[m][best], rows["row"].to_numpy()[m][best]))
        got = set()
        for chunk in TrainingSet(paths, FEATURES, plan, POLICY).chunks():
            got |= {(chunk.sample, r) for r, y in zip(chunk.row, chunk.y) if y == c}
        assert got == expected
    # the training weights are hepmva.samples.training_weights of the kept, yield-scaled events
    np.testing.assert_allclose(kept.w, training_weights(kept.weight, kept.y, negative_weights="abs"), rtol=1e-12)
    assert kept.w.mean() == pytest.approx(1.0, rel=1e-12)


def test_selection_is_deterministic_for_a_seed_and_all_events_without_cap(tmp_path):
    paths = write_tables(tmp_path, {"sig": (1, 3000), "bkg": (0, 5000)})
    rows = [TrainingSet(paths, FEATURES, plan_training_set(paths, fold=0, cap=1000, seed=s, policy=POLICY),
                        POLICY).load().row for s in (3, 3, 4)]
    np.testing.assert_array_equal(rows[0], rows[1])
    assert not np.array_equal(rows[0], rows[2])
    plan = plan_training_set(paths, fold=0, cap=None, seed=3, policy=POLICY)
    full = load_feature_tables(paths, FEATURES)
    every = TrainingSet(paths, FEATURES, plan, POLICY).load()
    assert len(every.y) == (full.fold != 0).sum() and all(c.scale == 1.0 for c in plan.classes)
    np.testing.assert_array_equal(every.X, full.loc[full.fold != 0, FEATURES].to_numpy(dtype=np.float32))


def test_one_class_or_unscalable_weights_are_one_line_errors(tmp_path):
    paths = write_tables(tmp_path, {"sig": (1, 500)})
    with pytest.raises(TrainingError, match="only one class") as err:
        plan_training_set(paths, fold=0, cap=None, seed=0, policy=POLICY, name="classifier 'x'")
    assert "\n" not in str(err.value) and "classifier 'x'" in str(err.value)


def test_validation_split_is_disjoint_and_keeps_the_yields(tmp_path):
    paths = write_tables(tmp_path, {"sig": (1, 4000), "bkg": (0, 6000)})
    plan = plan_training_set(paths, fold=0, cap=3000, seed=1, policy=POLICY)
    tset = TrainingSet(paths, FEATURES, plan, POLICY)
    train, val = tset.split_validation(0.2)
    a, b, whole = train.load(), val.load(), tset.load()
    assert len(a.y) + len(b.y) == len(whole.y) and 0.15 < len(b.y) / len(whole.y) < 0.25
    assert len(a.y) == train.n_events and len(b.y) == val.n_events
    assert not set(a.row + 10**9 * a.y) & set(b.row + 10**9 * b.y)
    for part in (a, b):
        for c in (0, 1):
            assert part.weight[part.y == c].sum() == pytest.approx(plan.classes[c].yield_total, rel=1e-12)
        assert part.w.mean() == pytest.approx(1.0, rel=1e-12)
    _, small = tset.split_validation(0.5, max_events=300)
    assert 200 < small.n_events < 400


def test_buffers_mix_every_sample_and_one_buffer_is_the_whole_set(tmp_path):
    paths = write_tables(tmp_path, {"sig": (1, 2000), "ttbar": (0, 6000), "wjets": (0, 2000)})
    tset = TrainingSet(paths, FEATURES, plan_training_set(paths, fold=0, cap=None, seed=1, policy=POLICY), POLICY)
    buffers = list(tset.buffers(500))
    assert sum(len(b.y) for b in buffers) == tset.n_events and len(buffers) >= 8
    for b in buffers[:-1]:
        assert 0.1 < b.y.mean() < 0.3  # signal is ~20 % of every buffer, not streamed alone
    one = list(tset.buffers(10**6))
    assert len(one) == 1
    whole = tset.load()
    np.testing.assert_array_equal(one[0].X, whole.X)
    np.testing.assert_array_equal(one[0].w, whole.w)


def test_streamed_scaler_equals_the_in_memory_fit(tmp_path):
    paths = write_tables(tmp_path, {"sig": (1, 3000), "bkg": (0, 4000), "more": (0, 2000)})
    for method in ("standard", "minmax", "none"):
        policy = TrainingPolicy.from_config({"scaler": method})
        tset = TrainingSet(paths, FEATURES, plan_training_set(paths, fold=0, cap=None, seed=1, policy=policy), policy)
        data = tset.load()
        ref = Scaler(method).fit(data.X, data.w)
        got = tset.fit_scaler()
        np.testing.assert_allclose(got.offset_, ref.offset_, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got.scale_, ref.scale_, rtol=1e-12)
    # against numpy's weighted moments directly
    X = data.X.astype(np.float64)
    std = TrainingSet(paths, FEATURES, tset.plan, TrainingPolicy.from_config({})).fit_scaler()
    mean = np.average(X, axis=0, weights=np.abs(data.w))
    np.testing.assert_allclose(std.offset_, mean, rtol=1e-12)
    np.testing.assert_allclose(std.scale_, np.sqrt(np.average((X - mean) ** 2, axis=0, weights=np.abs(data.w))),
                               rtol=1e-10)


def test_the_train_job_requests_the_budget_plus_its_overhead():
    assert train_job_mem_mb({"memory_budget_mb": 300}) == 1800
    assert train_job_mem_mb(None) == 5500


def test_the_capped_set_is_the_same_however_the_samples_are_split_into_parts(ntuple_factory, tmp_path):
    """Features built as one part per file and as many entry ranges: the same kept events, weights and features."""
    from hepmva.stages.features import build_features

    feats = [{"name": "met", "expr": "met"}, {"name": "j1pt", "expr": "jet_pt[0]", "default": -1.0},
             {"name": "ht", "expr": "sum(jet_pt)"}]
    files = {"sig": [ntuple_factory(f"s{i}.root", n=900, seed=i, signal=True, first_id=1000 * i) for i in range(2)],
             "bkg": [ntuple_factory(f"b{i}.root", n=1200, seed=10 + i, first_id=5000 * i, negative_fraction=0.1)
                     for i in range(2)]}
    sets = {}
    for layout, per_job in (("one", None), ("split", 150)):
        paths = []
        for name, fs in files.items():
            out = tmp_path / layout / f"{name}.json"
            build_features({"name": name, "label": "signal" if name == "sig" else "background", "xsec_pb": 2.0,
                            "weight": "genWeight", "sum_weights": "auto"}, [str(f) for f in fs], features=feats,
                           luminosity_pb=10.0, folds=2, selection="met > 5", output=out,
                           **({} if per_job is None else {"entries_per_job": per_job}))
            paths.append(out)
        plan = plan_training_set(paths, fold=0, cap=1200, seed=5, policy=POLICY)
        tset = TrainingSet(paths, [f["name"] for f in feats], plan, POLICY)
        n_parts = sum(1 for _ in tset.chunks())
        sets[layout] = (plan, tset.load(), n_parts)
    (plan_a, a, parts_a), (plan_b, b, parts_b) = sets["one"], sets["split"]
    assert parts_a == 4 and parts_b > 12
    assert [c.n_kept for c in plan_a.classes] == [c.n_kept for c in plan_b.classes] == [600, 600]
    assert plan_a.classes == plan_b.classes
    for field in ("X", "y", "w", "weight", "row"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_random_events_are_the_k_smallest_keys_whatever_the_parts(ntuple_factory, tmp_path):
    """The permutation importance's events: a uniform subsample read part by part, the same for one part per
    file and for many entry ranges, and exactly the n smallest event keys of the whole set."""
    from hepmva.stages.features import build_features
    from hepmva.training_set import random_events

    feats = [{"name": "met", "expr": "met"}, {"name": "ht", "expr": "sum(jet_pt)"}]
    files = {"sig": [ntuple_factory(f"rs{i}.root", n=700, seed=i, signal=True, first_id=1000 * i) for i in range(2)],
             "bkg": [ntuple_factory(f"rb{i}.root", n=900, seed=20 + i, first_id=5000 * i) for i in range(2)]}
    got = {}
    for layout, per_job in (("one", None), ("split", 110)):
        paths = []
        for name, fs in files.items():
            out = tmp_path / layout / f"{name}.json"
            build_features({"name": name, "label": "signal" if name == "sig" else "background", "xsec_pb": 2.0},
                           [str(f) for f in fs], features=feats, luminosity_pb=10.0, folds=2, output=out,
                           **({} if per_job is None else {"entries_per_job": per_job}))
            paths.append(out)
        got[layout] = random_events(paths, ["met", "ht"], 500, seed=3, stream=9)
        everything = load_feature_tables(paths, ["met", "ht"])
    pd.testing.assert_frame_equal(got["one"], got["split"])
    a = got["one"]
    assert len(a) == 500 and set(a["label"]) == {0, 1}
    keys = np.concatenate([event_keys(s, g["row"].to_numpy(), seed=3, stream=9)
                           for s, g in everything.groupby("sample", sort=False)])
    rows = pd.concat([g for _, g in everything.groupby("sample", sort=False)])
    best = np.argsort(keys)[:500]
    assert set(zip(rows["sample"].to_numpy()[best], rows["row"].to_numpy()[best])) == set(zip(a["sample"], a["row"]))
    # None: every event, once
    assert len(random_events(paths, ["met"], None, seed=3, stream=9)) == len(everything)
