"""hepmva.estimator: scikit-learn's estimator protocol without scikit-learn's import.

- the learner modules and a whole train job of every in-house kind (train, save, load, score: a subprocess,
  real imports) leave scikit-learn, scipy.stats (and, for the modules, pandas) unimported;
- scikit-learn is the oracle: the same class on scikit-learn's ``BaseEstimator`` gives the same parameters,
  errors and repr, and ``validate_data`` / ``_check_sample_weight`` / ``type_of_target`` /
  ``check_random_state`` return the same arrays (dtype, order, values) or raise the same error, word for word;
- clone, Pipeline (with event weights), GridSearchCV and cross_val_score work on every in-house learner.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn import base as skbase
from sklearn.base import clone
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state as sk_check_random_state
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import _check_sample_weight, validate_data as sk_validate_data

from hepmva import estimator as he
from hepmva.cuts import CutsGAClassifier
from hepmva.linear import FisherDiscriminant, LinearDiscriminant
from hepmva.models import KINDS
from hepmva.nn import MLPClassifier
from hepmva.unsupervised.decomposition import WeightedPCA
from tests.test_training_set import FEATURES, write_tables

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("sklearn", "scipy.stats")
#: the in-house kinds: stored as their own state (export_state / from_state), no library model inside
IN_HOUSE = sorted(name for name, kind in KINDS.items() if kind.persistence == "state")
#: a few iterations of the study's settings, so that a train job takes a second
QUICK = {"mlp": {"max_iter": 3, "hidden_layer_sizes": [4]}, "cuts_ga": {"pop_size": 10, "n_generations": 3}}


def _run(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (this checkout's package first); its last stdout line is JSON."""
    env_path = str(ROOT / "src")
    out = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {env_path!r})\n" + code],
                         capture_output=True, text=True, check=False, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_in_house_kinds_are_known():
    assert {"fisher", "linear_discriminant", "cuts_ga", "mlp"} <= set(IN_HOUSE)
    assert all(KINDS[k].target.startswith("hepmva.") for k in IN_HOUSE)


def test_learner_modules_import_neither_sklearn_nor_scipy_stats_nor_pandas():
    modules = ["hepmva.estimator", "hepmva.nn.mlp", "hepmva.nn", "hepmva.linear", "hepmva.cuts", "hepmva.models",
               "hepmva.persistence", "hepmva.studies.optimizers", "hepmva.studies.training_methods", *sorted({KINDS[k].target.partition(":")[0] for k in IN_HOUSE})]
    found = _run(f"""
import importlib, json
for m in {modules!r}:
    importlib.import_module(m)
from hepmva.models import KINDS
for k in {IN_HOUSE!r}:
    KINDS[k].resolve()
print(json.dumps([m for m in ("sklearn", "scipy.stats", "pandas") if m in sys.modules]))
""")
    assert found == []


def _study_classifiers(kind: str) -> list[dict]:
    """The default study's classifiers of ``kind`` (the kind with its defaults if the study has none), quick."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    found = [c for c in config["classifiers"] if c["kind"] == kind] or [{"name": kind, "kind": kind}]
    return [{**c, "params": {**c.get("params", {}), **QUICK.get(kind, {})}} for c in found]


@pytest.mark.parametrize("kind", IN_HOUSE)
def test_a_train_job_of_an_in_house_kind_never_imports_sklearn(tmp_path, kind):
    """train_fold (make_classifier, fit, score the parts, save), then load_estimator and score: no scikit-learn."""
    paths = [str(p) for p in write_tables(tmp_path, {"sig": (1, 600), "bkg": (0, 900)}, negative=0.0)]
    classifiers = _study_classifiers(kind)
    report = _run(f"""
import json
import numpy as np
from hepmva.stages.train import train_fold
from hepmva.models import classifier_score, load_estimator
scores = {{}}
for clf in {classifiers!r}:
    out = {str(tmp_path)!r} + "/" + clf["name"]
    train_fold({paths!r}, classifier=clf, fold=0, feature_names={FEATURES!r}, training={{}}, seed=1,
               model_dir=out, scores_path=out + ".parquet")
    est = load_estimator(out, n_jobs=1)
    scores[clf["name"]] = classifier_score(est, np.random.default_rng(0).normal(size=(50, 3))).tolist()
print(json.dumps({{"heavy": [m for m in {HEAVY!r} if m in sys.modules], "scores": scores}}))
""")
    assert report["heavy"] == [], f"{kind}: a train job imported {report['heavy']}"
    assert sorted(report["scores"]) == sorted(c["name"] for c in classifiers)
    assert all(np.isfinite(s).all() and len(s) == 50 for s in report["scores"].values())


# ------------------------------------------------------------------ scikit-learn as the oracle
class Light(he.ClassifierMixin, he.BaseEstimator):
    """A toy with a nested estimator, on hepmva's base."""

    def __init__(self, alpha=1.0, inner=None, name="x", ratio=float("nan")):
        self.alpha, self.inner, self.name, self.ratio = alpha, inner, name, ratio

    def fit(self, X, y, sample_weight=None):
        X, y = he.validate_data(self, X, y, dtype=[np.float64, np.float32])
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        he.check_is_fitted(self)
        X = he.validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return np.full(X.shape[0], self.classes_[0])


class Twin(skbase.ClassifierMixin, skbase.BaseEstimator):
    """The same toy on scikit-learn's base."""

    __init__ = Light.__init__

    def fit(self, X, y, sample_weight=None):
        X, y = sk_validate_data(self, X, y, dtype=[np.float64, np.float32])
        self.classes_ = np.unique(y)
        return self


class LightTwin(Light):
    """hepmva's base named like the twin, for messages that name the class."""


LightTwin.__name__ = LightTwin.__qualname__ = "Twin"


def test_params_repr_and_set_params_errors_match_sklearn():
    for kwargs in ({}, {"alpha": 2.5, "name": "y"}, {"inner": Light(alpha=3.0)}, {"ratio": 0.5}):
        ours = LightTwin(**{k: (LightTwin(alpha=3.0) if k == "inner" else v) for k, v in kwargs.items()})
        theirs = Twin(**{k: (Twin(alpha=3.0) if k == "inner" else v) for k, v in kwargs.items()})
        assert ours.get_params(deep=False).keys() == theirs.get_params(deep=False).keys()
        assert ours.get_params(deep=True).keys() == theirs.get_params(deep=True).keys()
        assert repr(ours) == repr(theirs)
    ours, theirs = LightTwin(inner=LightTwin()), Twin(inner=Twin())
    assert ours.set_params(alpha=4, inner__alpha=5) is ours and theirs.set_params(alpha=4, inner__alpha=5)
    assert ours.get_params()["inner__alpha"] == theirs.get_params()["inner__alpha"] == 5
    for bad in ({"beta": 1}, {"inner__beta": 1}):
        with pytest.raises(ValueError) as mine:
            LightTwin(inner=LightTwin()).set_params(**bad)
        with pytest.raises(ValueError) as sk:
            Twin(inner=Twin()).set_params(**bad)
        assert str(mine.value) == str(sk.value)
    with pytest.raises(RuntimeError, match="no varargs"):
        type("Bad", (he.BaseEstimator,), {"__init__": lambda self, *a: None})().get_params()


def test_tags_match_sklearn_mixins():
    from sklearn.utils import get_tags

    assert get_tags(Light()) == get_tags(Twin())
    assert skbase.is_classifier(Light()) and Light._estimator_type == "classifier"
    pca = get_tags(WeightedPCA())
    assert pca.transformer_tags is not None and pca.estimator_type is None and not pca.target_tags.required


def _same(mine_fn, sk_fn):
    """Both return equal arrays (values, dtype, memory order), or raise the same error with the same words."""
    outcomes = []
    for fn in (mine_fn, sk_fn):
        try:
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                out = fn()
            outcomes.append(("ok", out, [(w.category, str(w.message)) for w in seen]))
        except Exception as err:  # noqa: BLE001 -- the two errors are compared
            outcomes.append(("error", type(err), str(err)))
    (a, *ra), (b, *rb) = outcomes
    assert a == b, outcomes
    if a == "error":
        assert ra == rb
        return None
    assert ra[1] == rb[1]  # the same warnings
    for x, y in zip(ra[0] if isinstance(ra[0], tuple) else (ra[0],), rb[0] if isinstance(rb[0], tuple) else (rb[0],)):
        assert type(x) is type(y) and x.dtype == y.dtype and x.shape == y.shape
        assert x.flags.c_contiguous == y.flags.c_contiguous and x.flags.f_contiguous == y.flags.f_contiguous
        np.testing.assert_array_equal(x, y)
    return ra[0]


RNG = np.random.default_rng(3)
X32 = RNG.normal(size=(20, 3)).astype(np.float32)
Y = (RNG.random(20) > 0.5).astype(int)
X_NAN, X_INF = X32.copy(), X32.astype(np.float64)
X_NAN[3, 1], X_INF[5, 2] = np.nan, np.inf
INPUTS = {
    "float32": (X32, Y), "float64 F order": (np.asfortranarray(X32, dtype=np.float64), Y),
    "int": (np.arange(60).reshape(20, 3), Y), "bool": (X32 > 0, Y), "float16": (X32.astype(np.float16), Y),
    "strided": (np.repeat(X32, 2, axis=0)[::2], np.repeat(Y, 2)[::2]), "list": (X32.tolist(), Y.tolist()),
    "NaN": (X_NAN, Y), "inf": (X_INF, Y), "1-D X": (X32[:, 0], Y), "3-D X": (X32[:, :, None], Y),
    "no sample": (X32[:0], Y[:0]), "no feature": (X32[:, :0], Y), "object X": (X32.astype(object), Y),
    "strings X": (np.array([["a", "b"]] * 20), Y), "complex X": (X32 + 1j, Y),
    "y length": (X32, Y[:-1]), "y column": (X32, Y[:, None]), "y 2 columns": (X32, np.c_[Y, Y]),
    "y NaN": (X32, np.where(Y, np.nan, 0.0)), "y strings": (X32, np.array(["s", "b"])[Y]),
    "y float labels": (X32, Y.astype(np.float32)), "y None": (X32, None),
    "frame": (pd.DataFrame(X32, columns=["a", "b", "c"]), Y),
    "frame int names": (pd.DataFrame(X32), Y), "frame mixed names": (pd.DataFrame(X32, columns=["a", 1, "c"]), Y),
    "sparse": ("sparse", Y),
}


def _input(name):
    X, y = INPUTS[name]
    if isinstance(X, str):
        from scipy import sparse

        X = sparse.csr_matrix(X32)
    return X, y


@pytest.mark.parametrize("name", INPUTS)
def test_validate_data_at_fit_is_sklearns(name):
    X, y = _input(name)
    ours, theirs = LightTwin(), Twin()
    _same(lambda: he.validate_data(ours, X, y, dtype=[np.float64, np.float32]),
          lambda: sk_validate_data(theirs, X, y, dtype=[np.float64, np.float32]))
    assert getattr(ours, "n_features_in_", None) == getattr(theirs, "n_features_in_", None)
    assert repr(getattr(ours, "feature_names_in_", None)) == repr(getattr(theirs, "feature_names_in_", None))
    _same(lambda: he.validate_data(LightTwin(), X, dtype=np.float64, ensure_min_samples=2),
          lambda: sk_validate_data(Twin(), X, dtype=np.float64, ensure_min_samples=2))


#: inputs a study (or a notebook) feeds the learners: checked without scikit-learn (the rest goes to it)
FAST = ("float32", "float64 F order", "int", "bool", "float16", "strided", "y strings", "y float labels", "frame",
        "frame int names")


@pytest.mark.parametrize("name", FAST)
def test_valid_inputs_never_reach_sklearn(monkeypatch, name):
    X, y = _input(name)
    expected = sk_validate_data(Twin(), X, y, dtype=[np.float64, np.float32])
    monkeypatch.setattr(he, "_sklearn_validation", lambda: pytest.fail("scikit-learn's validation was called"))
    ours = LightTwin()
    got = he.validate_data(ours, X, y, dtype=[np.float64, np.float32])
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    again = he.validate_data(ours, X, reset=False, dtype=[np.float64, np.float32])
    np.testing.assert_array_equal(again, expected[0])
    w = he.check_sample_weight(np.ones(len(expected[1])), got[0], dtype=np.float64)
    assert w.dtype == np.float64 and he.target_type(got[1]) == "binary"


FITTED_ON = {"array": X32, "frame": pd.DataFrame(X32, columns=["a", "b", "c"])}
PREDICT_ON = {
    "same": lambda X: X, "array": lambda X: np.asarray(X), "4 features": lambda X: np.c_[np.asarray(X), X32[:, 0]],
    "renamed": lambda X: pd.DataFrame(np.asarray(X), columns=["a", "x", "c"]),
    "reordered": lambda X: pd.DataFrame(np.asarray(X), columns=["c", "b", "a"]),
    "frame": lambda X: pd.DataFrame(np.asarray(X), columns=["a", "b", "c"]), "NaN": lambda X: X_NAN,
}


@pytest.mark.parametrize("fitted", FITTED_ON)
@pytest.mark.parametrize("new", PREDICT_ON)
def test_validate_data_at_predict_is_sklearns(fitted, new):
    ours, theirs = LightTwin().fit(FITTED_ON[fitted], Y), Twin().fit(FITTED_ON[fitted], Y)
    X = PREDICT_ON[new](FITTED_ON[fitted])
    _same(lambda: he.validate_data(ours, X, reset=False, dtype=[np.float64, np.float32]),
          lambda: sk_validate_data(theirs, X, reset=False, dtype=[np.float64, np.float32]))


WEIGHTS = {"None": None, "scalar": 2.0, "zero scalar": 0, "array": RNG.random(20), "int": np.arange(20),
           "float32": RNG.random(20).astype(np.float32), "list": [1.0] * 20, "short": np.ones(19),
           "2-D": np.ones((20, 1)), "NaN": np.r_[np.nan, np.ones(19)], "all zero": np.zeros(20),
           "negative": np.r_[-1.0, np.ones(19)]}


@pytest.mark.parametrize("name", WEIGHTS)
@pytest.mark.parametrize("dtype", [np.float64, None, np.float32])
def test_check_sample_weight_is_sklearns(name, dtype):
    w = WEIGHTS[name]
    _same(lambda: he.check_sample_weight(w, X32, dtype=dtype), lambda: _check_sample_weight(w, X32, dtype=dtype))


@pytest.mark.parametrize("y", [Y, Y.astype(float), np.array([0.5, 1.0]), np.array(["a", "b", "c"]), Y + 3,
                               np.array([True, False]), np.array([1.0, 2.0, np.inf]), np.array([[1], [0]]),
                               np.array(["a", 1], dtype=object)], ids=repr)
def test_target_type_is_sklearns(y):
    def sk():
        from sklearn.utils.multiclass import check_classification_targets

        check_classification_targets(y)
        return type_of_target(y, input_name="y", raise_unknown=True)

    outcomes = []
    for fn in (lambda: he.target_type(y), sk):
        try:
            with np.errstate(invalid="ignore"):  # scikit-learn casts inf to int64 on the way
                outcomes.append(fn())
        except (ValueError, TypeError) as err:
            outcomes.append((type(err), str(err)))
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("seed", [None, 0, 12345, np.random.RandomState(7), np.int64(3), "bad", 1.5])
def test_check_random_state_is_sklearns(seed):
    outcomes = []
    for fn in (he.check_random_state, sk_check_random_state):
        try:
            rs = fn(seed)
            outcomes.append(("ok", rs.randint(1 << 30) if not isinstance(seed, np.random.RandomState) else rs is seed))
        except ValueError as err:
            outcomes.append(("error", str(err)))
    if isinstance(seed, np.random.RandomState) or seed is None:
        outcomes = [o[0] for o in outcomes]  # the same (shared) generator, consumed once by each
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("est", [MLPClassifier(), FisherDiscriminant(), LinearDiscriminant(), CutsGAClassifier(),
                                 WeightedPCA()], ids=lambda e: type(e).__name__)
def test_not_fitted_is_sklearns_not_fitted_error(est):
    with pytest.raises(NotFittedError, match=f"This {type(est).__name__} instance is not fitted yet"):
        (est.transform if hasattr(est, "transform") else est.predict)(X32)


def test_column_vector_y_warns_with_sklearns_class():
    with pytest.warns(DataConversionWarning, match="A column-vector y was passed"):
        he.validate_data(Light(), X32, Y[:, None])


# ------------------------------------------------------------------ scikit-learn's tools
CLASSIFIERS = [MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=40, random_state=0),
               FisherDiscriminant(), LinearDiscriminant(), CutsGAClassifier(pop_size=10, n_generations=3, random_state=0)]


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(5)
    y = (rng.random(400) > 0.5).astype(int)
    X = rng.normal(size=(400, 3)) + 1.2 * y[:, None]
    return X, y, rng.uniform(0.5, 1.5, 400)


@pytest.mark.parametrize("est", CLASSIFIERS, ids=lambda e: type(e).__name__)
def test_clone_pipeline_gridsearch_cross_val_score(toy, est):
    X, y, w = toy
    copy = clone(est)
    assert type(copy) is type(est) and copy.get_params() == est.get_params() and copy is not est
    name = type(est).__name__.lower()
    pipe = make_pipeline(StandardScaler(), clone(est)).fit(X, y, **{f"{name}__sample_weight": w})
    direct = clone(est).fit(StandardScaler().fit_transform(X), y, sample_weight=w)
    np.testing.assert_array_equal(pipe.predict(X), direct.predict(StandardScaler().fit(X).transform(X)))
    grid_param = next(p for p in ("max_iter", "reg", "ridge", "n_generations") if p in est.get_params())
    value = est.get_params()[grid_param]
    grid = GridSearchCV(clone(est), {grid_param: [value, value + 1]}, cv=2).fit(X, y, sample_weight=w)
    assert grid.best_params_[grid_param] in (value, value + 1) and grid.score(X, y) > 0.6
    scores = cross_val_score(clone(est), X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.6
    assert pipe.score(X, y) == pytest.approx(np.mean(pipe.predict(X) == y))
    assert re.fullmatch(rf"{type(est).__name__}\(.*\)", repr(est), flags=re.S)
