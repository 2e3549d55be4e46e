"""The kind registry's contract, run on every registered kind (a new kind gets it for free).

Through the training stage, on a small weighted toy: fit, score, save, load, identical scores; the
skops files hold only the record's trusted types; negative training weights are accepted or refused
in one line, as the record says. And the docs (README table, schema enum) agree with the registry.
"""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from threadpoolctl import threadpool_limits

from hepmva import io
from hepmva.datasets import iter_feature_parts, load_feature_tables
from hepmva.metrics import roc_auc
from hepmva.preprocessing import Scaler
from hepmva import persistence
from hepmva.models import KINDS, Kind, classifier_score, get_kind, kinds_table, load_estimator
from hepmva.stages.train import train_fold

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["a", "b", "c"]
#: small settings so that the contract runs in seconds; a kind not listed runs with its defaults
FAST = {
    "xgboost": {"n_estimators": 10, "max_depth": 2},
    "hgb": {"max_iter": 10, "early_stopping": False},
    "gbdt": {"n_estimators": 10},
    "adaboost": {"n_estimators": 10},
    "random_forest": {"n_estimators": 5},
    "bagging": {"n_estimators": 5},
    "svm": {"max_train_events": 300},
    "knn": {"n_neighbors": 10},
    "cuts_ga": {"pop_size": 10, "n_generations": 5},
    "mlp": {"hidden_layer_sizes": [4], "max_iter": 5},
}
FILE = {"state": "estimator.npz", "xgboost": "estimator.ubj", "skops": "estimator.skops"}


def _tables(tmp_path, negative: bool):
    rng = np.random.default_rng(4)
    paths = []
    for sample, label in (("sig", 1), ("bkg", 0)):
        n = 400
        df = pd.DataFrame({"a": rng.normal(size=n) + 1.5 * label, "b": rng.normal(size=n) - 0.5 * label,
                           "c": rng.normal(size=n)})
        w = rng.uniform(0.5, 1.5, n)
        if negative:
            w[rng.uniform(size=n) < 0.1] *= -1
        df["label"], df["weight"], df["sample"] = label, w, sample
        df["fold"], df["event"] = np.arange(n) % 2, np.arange(n, dtype=np.uint64)
        path = tmp_path / f"{sample}_{int(negative)}.parquet"
        io.write_table(df, path)
        paths.append(path)
    return paths


def _train(tmp_path, tables, kind, policy, tag):
    clf = {"name": f"c_{kind}", "kind": kind, "params": FAST.get(kind, {})}
    training = {"negative_weights": policy, "class_balance": True, "scaler": "standard"}
    return train_fold(tables, classifier=clf, fold=0, feature_names=NAMES, training=training, seed=1,
                      model_dir=tmp_path / f"model_{tag}", scores_path=tmp_path / f"scores_{tag}.parquet")


@pytest.mark.parametrize("kind", list(KINDS))
def test_kind_contract(tmp_path, kind):
    record = get_kind(kind)
    tables = _tables(tmp_path, negative=True)
    info = _train(tmp_path, tables, kind, "abs", "abs")
    model_dir = tmp_path / "model_abs"
    assert (model_dir / FILE[record.persistence]).exists()
    assert json.loads((model_dir / "model.json").read_text())["kind"] == kind

    # the loaded model gives the training stage's scores exactly (same events, same batch: the training stage
    # scores each feature part's kept events at once, in row order; one thread)
    scores = io.read_table(tmp_path / "scores_abs.parquet")
    scaler, est = Scaler.from_dict(info["scaler"]), load_estimator(model_dir)
    parts = []
    for _, _, part in iter_feature_parts(tables, columns=NAMES):
        part = part[part["row"].isin(scores.loc[scores["sample"] == part["sample"].iloc[0], "row"])].copy()
        with threadpool_limits(limits=1):
            part["score"] = classifier_score(est, scaler.transform(np.ascontiguousarray(part[NAMES].to_numpy())))
        parts.append(part)
    feats = pd.concat(parts, ignore_index=True)
    both = scores.merge(feats, on=["sample", "row"], suffixes=("", "_loaded"))
    assert len(both) == len(scores)
    np.testing.assert_array_equal(both["score_loaded"].to_numpy(), both["score"].to_numpy())
    test = both[both["role"] == "test"]
    assert roc_auc(test["label"].to_numpy(), test["score"].to_numpy(), test["weight"].to_numpy()) > 0.6

    if record.persistence == "skops":  # the file asks for no type beyond the record's exact list
        import skops.io as sio

        assert set(sio.get_untrusted_types(file=model_dir / "estimator.skops")) <= set(record.trusted_types)

    # negative training weights: accepted, or refused in one line naming the fix
    if record.negative_weights:
        _train(tmp_path, tables, kind, "keep", "keep")
        assert (tmp_path / "model_keep" / FILE[record.persistence]).exists()
    else:
        with pytest.raises(ValueError, match="refuses negative training weights") as err:
            _train(tmp_path, tables, kind, "keep", "keep")
        assert "\n" not in str(err.value) and "training.negative_weights" in str(err.value)
        assert not (tmp_path / "model_keep").exists()


def test_records_are_checked_and_wired_to_persistence():
    with pytest.raises(ValueError, match="no storage format; add it to hepmva.persistence.FORMAT_OF_KIND"):
        Kind("tmva_bdt", "x:y")
    with pytest.raises(ValueError, match="stages"):
        Kind("mlp", "x:y", stages="epochs")
    with pytest.raises(ValueError, match="unknown; known: adaboost"):
        get_kind("tmva")
    assert set(KINDS) == set(persistence.FORMAT_OF_KIND)  # every kind stored, nothing stored that is no kind
    for k in KINDS.values():
        assert k.model_format is persistence.FORMATS[k.persistence]
        assert bool(k.trusted_types) == (k.persistence == "skops")


def test_docs_agree_with_the_registry():
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- kinds table.*?-->\n(.*?)<!-- end kinds table -->", readme, re.S).group(1)
    assert table == kinds_table(), "README.md kinds table is stale: paste hepmva.models.kinds_table()"
    schema = yaml.safe_load((ROOT / "src/hepmva/config.schema.yaml").read_text())
    enum = schema["properties"]["classifiers"]["items"]["properties"]["kind"]["enum"]
    assert enum == list(KINDS)


#: kinds that run in parallel without an ``n_jobs`` parameter (OpenMP inside, limited by threadpoolctl)
OPENMP_WITHOUT_N_JOBS = {"hgb"}


def test_threads_of_a_kind_match_whether_it_runs_in_parallel():
    """A kind holds more than one core exactly when its estimator can use them (an ``n_jobs`` parameter, or
    OpenMP inside): a single-threaded learner given two would hold a core it never uses."""
    from hepmva.models import KINDS, Kind, make_classifier

    parallel = {name for name in KINDS if "n_jobs" in getattr(make_classifier(name), "get_params", dict)()}
    assert {name for name, k in KINDS.items() if k.threads > 1} == parallel | OPENMP_WITHOUT_N_JOBS
    with pytest.raises(ValueError, match="threads"):
        Kind("fisher", "hepmva.linear:FisherDiscriminant", threads=0)


def test_the_train_rule_takes_the_kinds_threads_at_most_half_the_cores():
    import re
    from pathlib import Path

    from hepmva.models import KINDS, job_threads

    rules = Path(__file__).resolve().parents[1] / "workflow" / "rules"
    text = (rules / "train.smk").read_text()
    assert re.search(r"threads: get_classifier_threads\n", text[text.index("rule train:"):])
    assert "job_threads(get_kind(get_classifier(wildcards.classifier)[\"kind\"]), _total_cores())" in (
        rules / "common.smk").read_text()
    parallel, single = KINDS["xgboost"], KINDS["fisher"]
    assert parallel.threads == 2 and single.threads == 1
    assert [job_threads(parallel, c) for c in (1, 2, 3, 4, 64, None)] == [1, 1, 1, 2, 2, 2]
    assert [job_threads(single, c) for c in (1, 2, 4, None)] == [1, 1, 1, 1]