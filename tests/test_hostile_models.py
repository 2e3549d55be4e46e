"""Hostile model files: each is written for real, each would run a command under a trusting loader, and
hepmva's loader refuses every one with one line naming the file, without running anything."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import skops.io as sio

from hepmva.errors import ModelFileError
from hepmva.models import load_estimator, make_classifier, save_estimator
from tests import hostile


def _fit(kind, params):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] + rng.normal(size=300) > 0).astype(int)
    return make_classifier(kind, params, random_state=1).fit(X, y), X


def _model_dir(tmp_path, kind, params):
    """A genuine model directory of ``kind`` (the hostile file then replaces its estimator file)."""
    est, X = _fit(kind, params)
    d = tmp_path / "model"
    save_estimator(est, kind, d)
    return d, est, X


def _pickle_as_skops(tmp_path, marker):
    d, _, _ = _model_dir(tmp_path, "decision_tree", {"max_depth": 2})
    (d / "estimator.skops").write_bytes(hostile.pickle_bytes(marker))
    return d, d / "estimator.skops"


def _skops_check_output(tmp_path, marker):
    d, _, _ = _model_dir(tmp_path, "hgb", {"max_iter": 3})
    hostile.skops_calling(d / "estimator.skops", marker)
    return d, d / "estimator.skops"


def _skops_disguised(tmp_path, marker):
    d, _, _ = _model_dir(tmp_path, "hgb", {"max_iter": 3})
    hostile.skops_calling(d / "estimator.skops", marker, module="sklearn.utils._testing")
    return d, d / "estimator.skops"


def _skops_stealth(tmp_path, marker):
    d, _, _ = _model_dir(tmp_path, "decision_tree", {"max_depth": 3})
    genuine = tmp_path / "genuine.skops"
    (d / "estimator.skops").rename(genuine)
    hostile.skops_stealth(genuine, d / "estimator.skops", marker)
    return d, d / "estimator.skops"


def _npz_pickled_object(tmp_path, marker):
    d, _, _ = _model_dir(tmp_path, "mlp", {"hidden_layer_sizes": [3], "max_iter": 2})
    hostile.npz_with_pickle(d / "estimator.npz", marker)
    return d, d / "estimator.npz"


def _pickle_as_ubj(tmp_path, marker):
    d, _, _ = _model_dir(tmp_path, "xgboost", {"n_estimators": 2, "max_depth": 2})
    (d / "estimator.ubj").write_bytes(hostile.pickle_bytes(marker))
    return d, d / "estimator.ubj"


CASES = {
    "pickle renamed to .skops": (_pickle_as_skops, "not a skops archive"),
    "skops calling subprocess.check_output": (_skops_check_output, "subprocess.check_output"),
    "the same under an sklearn.* name": (_skops_disguised, "sklearn.utils._testing.check_output"),
    "stealth: genuine tree plus one calling attribute": (_skops_stealth, "sklearn.utils._testing.check_output"),
    ".npz with a pickled object array": (_npz_pickled_object, "holds pickled objects"),
    "pickle renamed to .ubj": (_pickle_as_ubj, "not xgboost UBJSON"),
}


def _naive_load(path):
    """What a trusting loader would do with the file (the control: it must run the command)."""
    if path.suffix == ".skops":
        try:
            sio.load(path, trusted=sio.get_untrusted_types(file=path))
        except Exception:  # noqa: BLE001 -- the pickle is not a zip; fall back to what it really is
            pickle.loads(path.read_bytes())
    elif path.suffix == ".npz":
        with np.load(path, allow_pickle=True) as npz:
            npz["theta"]
    else:
        pickle.loads(path.read_bytes())


@pytest.mark.parametrize("case", list(CASES))
def test_the_hostile_file_really_runs_code_under_a_trusting_loader(tmp_path, case):
    build, _ = CASES[case]
    marker = tmp_path / "marker"
    _, path = build(tmp_path, marker)
    _naive_load(path)
    assert marker.exists(), "the hostile file is not hostile: the test below would prove nothing"


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_model_file_is_refused_in_one_line_naming_it(tmp_path, case):
    build, why = CASES[case]
    marker = tmp_path / "marker"
    d, path = build(tmp_path, marker)
    with pytest.raises(ModelFileError) as info:
        load_estimator(d)
    message = str(info.value)
    assert not marker.exists(), "loading ran the file's command"
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert why in message


def test_stealth_file_still_looks_like_a_working_model(tmp_path):
    """The stealth file is the genuine tree plus one attribute: a prefix-trusting loader returns a working model."""
    marker = tmp_path / "marker"
    d, path = _skops_stealth(tmp_path, marker)
    untrusted = sio.get_untrusted_types(file=path)
    assert all(t.startswith(("sklearn.", "numpy.")) for t in untrusted)  # what the old prefix rule accepted
    loaded = sio.load(path, trusted=untrusted)
    assert marker.exists() and hasattr(loaded, "predict_proba")


def test_every_function_like_node_is_refused(tmp_path):
    """FunctionNode / MethodNode / PartialNode / ReduceNode: none is written by hepmva, none is loaded."""
    d, _, _ = _model_dir(tmp_path, "decision_tree", {"max_depth": 2})
    path = d / "estimator.skops"
    genuine = json.loads(__import__("zipfile").ZipFile(path).read("schema.json"))
    for loader in ("FunctionNode", "MethodNode", "PartialNode", "ReduceNode", "OperatorFuncNode"):
        schema = json.loads(json.dumps(genuine))
        schema["content"]["content"]["max_depth"] = {
            "__class__": "DecisionTreeClassifier", "__module__": "sklearn.tree._classes", "__loader__": loader,
            "content": {"func": "fit", "obj": {}},
        }
        hostile._write_skops(path, schema)
        with pytest.raises(ModelFileError, match=f"{path}: refusing.*\\({loader}\\)"):
            load_estimator(d)


@pytest.mark.parametrize("text, why", [
    (hostile.pickle_bytes(__import__("pathlib").Path("/nonexistent/marker")), "not JSON"),
    (b'{"fold": 0}', "no fold / scaler / kind"),
])
def test_a_bad_model_json_is_one_line_naming_it(tmp_path, text, why):
    from hepmva.persistence import read_model_info

    path = tmp_path / "model.json"
    path.write_bytes(text)
    with pytest.raises(ModelFileError, match=f"^{path}: is not a model.json .*{why}"):
        read_model_info(path)
