"""Classifier registry and safe model persistence.

``KINDS`` maps the ``kind`` string of a config classifier to ``"module:attribute"``; the class is
imported only when used, so a study that never trains an SVM never imports one. Every estimator
follows the scikit-learn API (``fit(X, y, sample_weight=...)`` and ``predict_proba`` or
``decision_function``); :func:`classifier_score` turns either into one score per event, larger =
more signal-like.

Persistence lives in :mod:`hepmva.persistence` (one format per kind, exact per-kind allow-lists of type
names, never unpickles: a model file handed to you can't run code); :func:`save_estimator` and
:func:`load_estimator` here delegate to it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from hepmva import persistence

__all__ = ["KINDS", "resolve_kind", "make_classifier", "classifier_score", "save_estimator", "load_estimator"]

KINDS: dict[str, str] = {
    "xgboost": "xgboost:XGBClassifier",
    # issue 5 peers (hepmva.peers)
    "hgb": "sklearn.ensemble:HistGradientBoostingClassifier",
    "gbdt": "sklearn.ensemble:GradientBoostingClassifier",
    "adaboost": "hepmva.peers:AdaBoostBDT",
    "random_forest": "sklearn.ensemble:RandomForestClassifier",
    "bagging": "hepmva.peers:BaggedTrees",
    "decision_tree": "sklearn.tree:DecisionTreeClassifier",
    "svm": "hepmva.peers:SVMClassifier",
    "knn": "hepmva.peers:WeightedKNNClassifier",
    "fisher": "hepmva.unsupervised:FisherDiscriminant",
    "linear_discriminant": "hepmva.linear:LinearDiscriminant",
    "cuts_ga": "hepmva.cuts:CutsGAClassifier",
    "mlp": "hepmva.nn:MLPClassifier",
}


def resolve_kind(kind: str) -> type:
    """Import and return the class registered for ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"classifier kind '{kind}' is unknown; known: {', '.join(sorted(KINDS))}")
    module, _, attr = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), attr)


def make_classifier(kind: str, params: dict[str, Any] | None = None, *, n_jobs: int | None = None,
                    random_state: int | None = None):
    """Construct an unfitted estimator of ``kind`` with constructor ``params``.

    ``n_jobs`` and ``random_state`` are passed when the estimator accepts them and the config did
    not set them.
    """
    cls = resolve_kind(kind)
    params = dict(params or {})
    try:
        accepted = cls().get_params() if hasattr(cls, "get_params") else {}
    except TypeError:
        accepted = {}
    for key, value in (("n_jobs", n_jobs), ("random_state", random_state)):
        if value is not None and key in accepted and key not in params:
            params[key] = value
    unknown = sorted(set(params) - set(accepted)) if accepted and kind != "xgboost" else []
    if unknown:
        raise ValueError(f"classifier kind '{kind}': unknown parameter(s) {', '.join(unknown)}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"classifier kind '{kind}': {exc}") from None


def classifier_score(estimator, X: np.ndarray) -> np.ndarray:
    """One score per event, larger = more signal-like (class 1)."""
    if hasattr(estimator, "predict_proba"):
        proba = np.asarray(estimator.predict_proba(X))
        return proba[:, 1].astype(np.float64)
    if hasattr(estimator, "decision_function"):
        return np.asarray(estimator.decision_function(X), dtype=np.float64).ravel()
    raise TypeError(f"{type(estimator).__name__} has neither predict_proba nor decision_function")


def save_estimator(estimator, kind: str, directory: str | Path) -> None:
    """Write a fitted ``estimator`` of ``kind`` into ``directory`` (:func:`hepmva.persistence.save_estimator`)."""
    persistence.save_estimator(estimator, kind, directory)


def load_estimator(directory: str | Path):
    """Rebuild an estimator written by :func:`save_estimator` through the kind's checked, pickle-free loader.

    Raises
    ------
    hepmva.errors.ModelFileError
        One line naming the file when it is not a model file hepmva wrote (see :mod:`hepmva.persistence`).
    """
    return persistence.load_estimator(directory, resolve_kind)
