"""A train job's memory scales with its cap and the part size, not with the dataset (tracemalloc)."""

import tracemalloc

import numpy as np
import pytest

from hepmva.stages.train import train_fold
from tests.test_training_set import FEATURES, write_tables


def _peak_mb(tmp_path, n_parts: int, cap: int, kind: str = "fisher", params=None) -> float:
    """Peak traced memory (MB) of train_fold on ``n_parts`` background parts of 5000 events + 5000 signal
    (after a first training that imports what the kind needs: import costs are not the job's data)."""
    sizes = {"sig": (1, 5000), **{f"bkg{i:03d}": (0, 5000) for i in range(n_parts)}}
    paths = write_tables(tmp_path, sizes, seed=n_parts)
    clf = {"name": "c", "kind": kind, "params": params or {}, "max_train_events": cap}
    train_fold(paths[:2], classifier={**clf, "max_train_events": 100}, fold=0, feature_names=FEATURES, training={},
               model_dir=tmp_path / "warm", scores_path=tmp_path / "warm.parquet")
    tracemalloc.start()
    try:
        info = train_fold(paths, classifier=clf, fold=0, feature_names=FEATURES, training={}, seed=1,
                          model_dir=tmp_path / "m", scores_path=tmp_path / "s.parquet")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info["n_train"] == min(cap, info["n_train"])
    return peak / 2**20


@pytest.mark.parametrize("kind, params", [("fisher", {}), ("xgboost", {"n_estimators": 10, "max_depth": 3})])
def test_peak_memory_follows_the_cap_not_the_table(tmp_path, kind, params):
    small = _peak_mb(tmp_path / "small", 20, cap=4000, kind=kind, params=params)      # 105 000 events
    large = _peak_mb(tmp_path / "large", 80, cap=4000, kind=kind, params=params)      # 405 000 events
    more = _peak_mb(tmp_path / "more", 20, cap=60_000, kind=kind, params=params)      # 105 000, 15 x the cap
    # 4 x the events at the same cap and part size: the same peak (within 20 %), while a larger cap costs more
    assert large < 1.2 * small, (small, large)
    assert more > 1.5 * small, (small, more)
    # and the whole table in float64 (~ 405 000 x 3 x 8 bytes x a few copies) is far above what was used
    assert large < 405_000 * 3 * 8 * 2 / 2**20 + 15, large
