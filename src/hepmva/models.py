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

import contextlib
import importlib
import io as _io
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hepmva import persistence
from hepmva.logs import Progress

__all__ = ["KINDS", "resolve_kind", "make_classifier", "classifier_score", "save_estimator", "load_estimator",
           "training_progress", "PROGRESS_HOOKS"]

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


def classifier_score(estimator, X: np.ndarray, *, progress: str | None = None, chunk: int = 50000) -> np.ndarray:
    """One score per event, larger = more signal-like (class 1).

    With ``progress`` (what to call the work in the log), the events are scored in chunks of
    ``chunk`` with a progress line (events/s, time left) at least every 10 s: scoring a k-NN or an
    SVM on a few 100 000 events can take minutes. The scores do not depend on the chunking.
    """
    if progress is not None and len(X) > chunk:
        counter = Progress(_log, f"{progress}: scoring", total=len(X), unit="events")
        out = np.empty(len(X), dtype=np.float64)
        for start in range(0, len(X), chunk):
            out[start:start + chunk] = classifier_score(estimator, X[start:start + chunk])
            counter.update(len(out[start:start + chunk]))
        counter.done()
        return out
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


# ------------------------------------------------------------------ progress of long training
_log = logging.getLogger("hepmva.training")


def _xgboost_progress(est, progress: Progress) -> Iterator[dict]:
    """A training callback counting boosting rounds (removed again before the model is saved)."""
    import xgboost

    class _Rounds(xgboost.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log) -> bool:
            progress.update(1)
            return False  # never stop training

    before = est.get_params().get("callbacks")
    est.set_params(callbacks=[*(before or []), _Rounds()])
    try:
        yield {}
    finally:
        est.set_params(callbacks=before)


def _monitor_progress(est, progress: Progress) -> Iterator[dict]:
    """scikit-learn's ``GradientBoostingClassifier.fit(monitor=...)``, called after every stage."""

    def monitor(i, _est, _locals) -> bool:
        progress.update(1)
        return False

    yield {"monitor": monitor}


def _round_callback_progress(est, progress: Progress) -> Iterator[dict]:
    """:class:`hepmva.peers.AdaBoostBDT` calls ``_on_round`` after every boosting round."""
    est._on_round = lambda i: progress.update(1)
    try:
        yield {}
    finally:
        del est._on_round


class _LineCounter(_io.TextIOBase):
    """A text stream that turns scikit-learn's verbose progress lines into :class:`Progress` counts
    (the lines themselves go to the debug log)."""

    def __init__(self, pattern: str, progress: Progress) -> None:
        self.pattern, self.progress, self.buffer = re.compile(pattern), progress, ""

    def write(self, text: str) -> int:
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            if self.pattern.search(line):  # one line per tree / iteration, whichever worker printed it
                self.progress.update(1)
            elif line.strip():
                _log.debug("%s", line.strip())
        return len(text)


def _verbose_progress(pattern: str, verbose: int):
    """Switch the estimator's ``verbose`` on and count its per-tree / per-iteration lines on stdout.

    joblib runs the workers as threads here (a worker process would print to the terminal, past
    the redirection); the fitted trees do not depend on the backend."""

    def hook(est, progress: Progress) -> Iterator[dict]:
        import joblib

        before = est.verbose  # an attribute of every scikit-learn ensemble (a parameter of most)
        est.verbose = verbose
        stream = _LineCounter(pattern, progress)
        try:  # joblib's summary goes to stderr: into the debug log too, not onto the terminal
            with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream), \
                    joblib.parallel_config(backend="threading"):
                yield {}
        finally:
            est.verbose = before

    return hook


#: kind -> (parameter holding the number of steps, unit, hook); kinds not listed train in one step
#: (or log their own epochs / generations, as the in-house learners do)
PROGRESS_HOOKS: dict[str, tuple[str, str, Any]] = {
    "xgboost": ("n_estimators", "rounds", _xgboost_progress),
    "gbdt": ("n_estimators", "stages", _monitor_progress),
    "adaboost": ("n_estimators", "rounds", _round_callback_progress),
    "hgb": ("max_iter", "iterations", _verbose_progress(r"^\[\d+/\d+\]", 2)),
    "random_forest": ("n_estimators", "trees", _verbose_progress(r"building tree \d+ of \d+", 2)),
    "bagging": ("n_estimators", "trees", _verbose_progress(r"Building estimator \d+ of \d+", 2)),
}


@contextlib.contextmanager
def training_progress(est, kind: str, *, what: str, n_events: int | None = None,
                      interval: float | None = None) -> Iterator[dict]:
    """Progress of ``est.fit`` in the log (steps done, steps/s, time left), for the kinds of
    :data:`PROGRESS_HOOKS`; yields the extra keyword arguments for ``fit``::

        with training_progress(est, kind, what="classifier xgboost fold 0") as fit_kwargs:
            est.fit(X, y, sample_weight=w, **fit_kwargs)

    Other kinds yield ``{}`` and are left alone.
    """
    if kind not in PROGRESS_HOOKS:
        yield {}
        return
    param, unit, hook = PROGRESS_HOOKS[kind]
    total = est.get_params().get(param)
    events = f" on {n_events} events" if n_events else ""
    progress = Progress(_log, f"{what}: training{events}", total=total, unit=unit, interval=interval)
    with contextlib.contextmanager(hook)(est, progress) as fit_kwargs:
        yield fit_kwargs
    progress.done()
