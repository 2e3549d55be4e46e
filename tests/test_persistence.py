"""Model persistence: every registered kind round-trips, and the skops allow-lists are exactly what save writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hepmva import persistence
from hepmva.errors import ModelFileError
from hepmva.models import KINDS, classifier_score, load_estimator, make_classifier, save_estimator


def _data(n=400, seed=0, d=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(np.int64)
    return X, y, rng.uniform(0.5, 1.5, n)


#: small, fast settings per kind (and the variants whose files hold different types)
SMALL: dict[str, list[dict]] = {
    "xgboost": [{"n_estimators": 5, "max_depth": 2}],
    "hgb": [{"max_iter": 5}],
    "gbdt": [{"n_estimators": 3}, {"n_estimators": 3, "subsample": 0.5}],
    "adaboost": [{"n_estimators": 3}],
    "random_forest": [{"n_estimators": 3}],
    "bagging": [{"n_estimators": 3}],
    "decision_tree": [{"max_depth": 3}],
    "svm": [{}, {"approximation": "nystroem", "n_components": 30}],
    "knn": [{"n_neighbors": 5}, {"n_neighbors": 5, "algorithm": "kd_tree"},
            {"n_neighbors": 5, "algorithm": "ball_tree"}],
    "fisher": [{}],
    "linear_discriminant": [{}],
    "cuts_ga": [{"pop_size": 10, "n_generations": 3, "max_events": 300}],
    "mlp": [{"hidden_layer_sizes": [4], "max_iter": 3}],
}


def test_every_kind_has_a_format_and_small_settings():
    assert set(persistence.FORMAT_OF_KIND) == set(KINDS) == set(SMALL)
    assert set(persistence.SKOPS_TRUSTED) == {k for k, f in persistence.FORMAT_OF_KIND.items() if f == "skops"}


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_roundtrip_every_kind(tmp_path, kind):
    X, y, w = _data(seed=1)
    for i, params in enumerate(SMALL[kind]):
        est = make_classifier(kind, params, random_state=3).fit(X, y, sample_weight=w)
        save_estimator(est, kind, tmp_path / f"m{i}")
        info = json.loads((tmp_path / f"m{i}" / "estimator.json").read_text())
        assert info["kind"] == kind and info["format"] == persistence.FORMAT_OF_KIND[kind]
        loaded = load_estimator(tmp_path / f"m{i}")
        assert type(loaded) is type(est)
        np.testing.assert_array_equal(classifier_score(loaded, X), classifier_score(est, X))


@pytest.mark.parametrize("kind", sorted(persistence.SKOPS_TRUSTED))
def test_skops_allow_list_is_exactly_what_save_writes(tmp_path, kind):
    """The allow-list holds every type the kind's files contain, and nothing they never contain (data aside)."""
    X, y, w = _data(seed=2)
    seen: set[str] = set()
    for i, params in enumerate(SMALL[kind]):
        for rs in (None, 7):
            est = make_classifier(kind, params, random_state=rs).fit(X, y, sample_weight=w)
            path = tmp_path / f"{i}_{rs}.skops"
            persistence.save_skops(est, path)
            pairs = persistence.skops_types(path)
            assert {loader for loader, _ in pairs} <= persistence.SKOPS_LOADERS
            types = {name for _, name in pairs}
            assert types <= persistence.SKOPS_TRUSTED[kind], types - persistence.SKOPS_TRUSTED[kind]
            seen |= types
            persistence.audit_skops(path, kind)  # and the audit passes
    assert persistence.SKOPS_TRUSTED[kind] - persistence.SKOPS_DATA_TYPES == seen - persistence.SKOPS_DATA_TYPES


def test_a_file_of_one_kind_is_refused_as_another(tmp_path):
    X, y, w = _data(seed=4)
    est = make_classifier("random_forest", {"n_estimators": 2}).fit(X, y, sample_weight=w)
    save_estimator(est, "random_forest", tmp_path / "m")
    info = json.loads((tmp_path / "m" / "estimator.json").read_text())
    info["kind"] = "decision_tree"
    (tmp_path / "m" / "estimator.json").write_text(json.dumps(info))
    with pytest.raises(ModelFileError, match=r"estimator\.skops: refusing.*RandomForestClassifier"):
        load_estimator(tmp_path / "m")


@pytest.mark.parametrize("text, match", [
    (None, "estimator.json: no such file"),
    ("{not json", r"estimator\.json: is not a model file this version of hepmva wrote \(not JSON\)"),
    ('{"kind": "tmva", "meta": {}}', "unknown classifier kind 'tmva'"),
    ('{"kind": "mlp", "format": "skops", "meta": {}}', "format 'skops' is not how kind 'mlp' is stored"),
    ('[1, 2]', "no 'kind'"),
])
def test_bad_metadata_is_one_line_naming_the_file(tmp_path, text, match):
    d = tmp_path / "m"
    d.mkdir()
    if text is not None:
        (d / "estimator.json").write_text(text)
    with pytest.raises(ModelFileError, match=match) as info:
        load_estimator(d)
    assert "\n" not in str(info.value) and str(d) in str(info.value)


def test_state_arrays_that_do_not_fit_are_refused(tmp_path):
    X, y, w = _data(seed=5)
    est = make_classifier("mlp", {"hidden_layer_sizes": [4], "max_iter": 2}).fit(X, y, sample_weight=w)
    save_estimator(est, "mlp", tmp_path / "m")
    np.savez(tmp_path / "m" / "estimator.npz", theta=np.zeros(3), classes=np.array([0, 1]))
    with pytest.raises(ModelFileError, match=r"estimator\.npz: is not a model file .* for kind 'mlp'"):
        load_estimator(tmp_path / "m")


def test_saving_and_loading_a_scikit_learn_model_does_not_import_torch(tmp_path):
    """skops lists every scikit-learn estimator when imported, torch's array-API shim too: hepmva keeps it out."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        from hepmva.models import classifier_score, load_estimator, make_classifier, save_estimator
        X = np.random.default_rng(0).normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
        est = make_classifier("decision_tree", {{"max_depth": 2}}).fit(X, y)
        save_estimator(est, "decision_tree", {str(tmp_path / "m")!r})
        back = load_estimator({str(tmp_path / "m")!r})
        assert np.array_equal(classifier_score(back, X), classifier_score(est, X))
        print("torch" in sys.modules)
        import importlib.util
        if importlib.util.find_spec("torch") is not None:  # torch installed: still importable afterwards
            import torch  # noqa: F401
    """)
    src = str(Path(__file__).resolve().parents[1] / "src")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": src})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False"]
