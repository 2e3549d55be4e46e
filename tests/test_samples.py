import numpy as np
import pytest

from hepmva.samples import assign_folds, physics_weights, splitmix64, training_weights


def test_splitmix64_matches_reference_sequence():
    # First outputs of Vigna's SplitMix64 generator seeded with 0 and 1: the generator advances the
    # state by the golden gamma then mixes, i.e. output_k = mix(seed + (k+1) * gamma).
    gamma = np.uint64(0x9E3779B97F4A7C15)
    assert splitmix64(np.array([0], dtype=np.uint64))[0] == np.uint64(0xE220A8397B1DCDAF)
    assert splitmix64(np.array([gamma], dtype=np.uint64))[0] == np.uint64(0x6E789E6AA1B965F4)
    assert splitmix64(np.array([1], dtype=np.uint64))[0] == np.uint64(0x910A2DEC89025CC1)


def test_folds_are_stable_balanced_and_order_independent():
    ids = np.arange(100_000, dtype=np.uint64)
    folds = assign_folds(ids, 3)
    assert set(np.unique(folds)) == {0, 1, 2}
    counts = np.bincount(folds)
    assert np.all(np.abs(counts - len(ids) / 3) < 5 * np.sqrt(len(ids) / 3))
    perm = np.random.default_rng(1).permutation(len(ids))
    np.testing.assert_array_equal(assign_folds(ids[perm], 3), folds[perm])
    with pytest.raises(ValueError, match="folds"):
        assign_folds(ids, 1)


def test_physics_weights_normalise_to_xsec_times_lumi():
    g = np.array([1.0, 1.0, -1.0, 1.0])
    w = physics_weights(g, xsec_pb=2.0, lumi_pb=1000.0, sum_weights=g.sum())
    assert w.sum() == pytest.approx(2000.0)
    assert w[2] < 0
    with pytest.raises(ValueError, match="sum_weights"):
        physics_weights(g, 1.0, 1.0, 0.0)


@pytest.mark.parametrize("policy", ["keep", "zero", "abs"])
def test_training_weights_balance_classes(policy):
    w = np.array([1.0, 2.0, -0.5, 10.0, 10.0, 4.0])
    y = np.array([1, 1, 1, 0, 0, 0])
    t = training_weights(w, y, negative_weights=policy)
    assert t[y == 1].sum() == pytest.approx(t[y == 0].sum())
    assert t.mean() == pytest.approx(1.0)
    if policy == "zero":
        assert t[2] == 0
    if policy == "abs":
        assert t[2] > 0
    if policy == "keep":
        assert t[2] < 0


def test_training_weights_reject_bad_policy_and_nonpositive_class():
    with pytest.raises(ValueError, match="negative_weights"):
        training_weights(np.ones(2), np.array([0, 1]), negative_weights="drop")
    with pytest.raises(ValueError, match="signal"):
        training_weights(np.array([-1.0, 1.0]), np.array([1, 0]), negative_weights="keep")
