"""Classifier registry: one record per classifier kind, and safe model persistence.

Everything that makes a kind special is data in its :class:`Kind` record, so the stages never name
a kind (``grep xgboost src/hepmva/stages`` finds nothing). The table of kinds is :func:`kinds_table` (README.md holds it; ``tests/test_models.py`` checks they agree).

A record holds:

- ``target``: ``"module:attribute"`` of the class; imported only when used, so a study that never
  trains an SVM never imports one. Every class follows the scikit-learn API
  (``fit(X, y, sample_weight=...)`` and ``predict_proba`` or ``decision_function``);
  :func:`classifier_score` turns either into one score per event, larger = more signal-like;
- ``persistence`` and ``trusted_types``: how a fitted model is stored, read from
  :mod:`hepmva.persistence` (the one place of every save and load, never pickle): the format name
  (``"state"``: in-house ``export_state``/``from_state``, ``"xgboost"``: the booster's UBJSON,
  ``"skops"``) of :data:`hepmva.persistence.FORMAT_OF_KIND` and, for skops, the kind's exact
  allow-list of type names :data:`hepmva.persistence.SKOPS_TRUSTED`; ``model_format`` is the
  :class:`hepmva.persistence.ModelFormat` itself;
- ``negative_weights``: whether ``fit`` accepts negative event weights (a kind that does not is
  refused in one line before training, naming ``training.negative_weights``);
- ``stages``: how the learning curve reads the model's training stages (``"iteration_range"``,
  ``"staged_predict_proba"``, ``"loss_curve"`` or None), with ``stages_note`` for the plot;
- ``strict_params``: whether unknown constructor parameters are refused (xgboost takes ``**kwargs``);
- ``check``: ``f(estimator)``, a check of the parameters at config time beyond the constructor's, raising
  ``ValueError`` (xgboost: a one-round fit on two events, which names the parameters xgboost would ignore);
- ``extra_outputs``: ``f(estimator, directory, feature_names, scaler)`` writing extra files
  into the model directory (CutsGA's readable cuts);
- ``fit_note``: ``f(estimator) -> str | None``, how the model was actually trained (capped SVM / k-NN:
  ``"nystroem on 150000"``), shown in the summary table;
- ``threads``: the cores its training and scoring can keep busy (the ``train`` and ``importance`` rules' ``threads``, through
  ``get_classifier_threads`` in ``workflow/rules/common.smk``): 1 for the single-threaded learners (the in-house
  ones, which run BLAS on one thread for determinism, SVC, single trees, exact gradient boosting), more for
  the OpenMP / joblib ones (xgboost, HGB, forests, bagging, the k-NN neighbour search). A single-threaded
  learner given two threads would hold a core it never uses;
- ``bytes_per_value``: what the in-memory ``fit`` holds per feature value of its training set (the float32
  input and the copies the library makes), for the memory budget (:func:`fit_mode`);
- ``streams``: ``"module:function"`` of the out-of-core fit, ``f(estimator, training_set, *, memory_bytes)``
  (:mod:`hepmva.out_of_core`: xgboost's external-memory iterator, the MLP's streamed mini-batches), used
  when the training set does not fit ``training.memory_budget_mb``; ``stream_when``: ``(parameter, values)``
  when only some settings stream (the MLP's first-order solvers). None: the kind trains in memory only, and
  a training set over the budget is refused in one line;
- ``cost``: how long a train job of the kind takes, relatively, at typical settings: 1 (linear models, single
  trees, the GA cuts; seconds), 2 (xgboost, the MLP), 3 (ensembles of exact-split trees, HGB, the SVM, the k-NN:
  each several times longer). The ``train`` and ``evaluate`` rules' ``priority``, so that Snakemake starts the
  longest jobs first and the last to finish are short ones (longest-processing-time-first: on 2 cores, a
  k-NN's train and evaluate jobs left to the end would run alone for half a minute);
- ``train_score_events`` and ``importance_events``: caps for the kinds whose prediction costs as much as a fit
  (the k-NN's neighbour search, the exact SVM's kernel sums). The training events scored for the overtraining
  checks are then a random subsample of that many of the events trained on (the held-out fold is always scored
  whole), and the permutation importance uses at most ``importance_events`` events (the config's
  ``evaluation.importance_events`` when smaller). None: no cap.

Adding a kind = its class + one :class:`Kind` in :data:`KINDS`; ``tests/test_models.py`` runs the
contract (fit, score, save, load, identical scores, negative weights as the record says) on it.
"""

from __future__ import annotations

import contextlib
import importlib
import io as _io
import logging
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from hepmva import persistence
from hepmva.errors import ConfigError, TrainingError
from hepmva.logs import Progress

__all__ = ["Kind", "KINDS", "STAGE_READERS", "get_kind", "kind_of", "resolve_kind", "make_classifier",
           "check_params", "check_classifiers", "classifier_score", "save_estimator", "load_estimator",
           "kinds_table", "training_progress", "fit_memory_mb", "fit_mode", "job_threads", "thread_limits"]

#: how training stages may be read for a learning curve (see :mod:`hepmva.learning_curves`)
STAGE_READERS = ("iteration_range", "staged_predict_proba", "loss_curve")


def _write_cuts(estimator, directory: Path, feature_names, scaler) -> None:
    """CutsGA: the chosen cuts, readable, in original feature units (``cuts.txt``, ``cuts.json``)."""
    estimator.write_cuts(directory, feature_names, offset=scaler.offset_, scale=scaler.scale_)


def _capped_fit_note(estimator) -> str | None:
    """Capped SVM / k-NN: the mode and the number of distinct events actually trained on."""
    mode, n = getattr(estimator, "fitted_mode_", None), getattr(estimator, "n_train_used_", None)
    return None if mode is None and n is None else f"{mode or ''} on {'?' if n is None else n}".strip()


# ------------------------------------------------------------------ progress of long training
_log = logging.getLogger("hepmva.training")


def _check_xgboost_params(est) -> None:
    """xgboost takes any keyword and warns at ``fit`` that it ignores the unknown ones ("Parameters: { ... } are not
    used"), after the study has run up to the training: fit a copy for one round on two events, and make that
    warning (or an error of a parameter's value) the config's one-line error."""
    import xgboost

    probe = xgboost.XGBClassifier(**{**est.get_params(), "n_estimators": 1, "n_jobs": 1, "early_stopping_rounds": None,
                                     "callbacks": None, "verbosity": 1})
    X, y = np.array([[0.0], [1.0]], dtype=np.float32), np.array([0, 1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            probe.fit(X, y)
        except xgboost.core.XGBoostError as exc:
            raise ValueError(str(exc).strip().splitlines()[0]) from None
    for w in caught:
        text = str(w.message)
        if "are not used" in text:
            names = text[text.index("{") + 1:text.index("}")].replace('"', "").strip()
            raise ValueError(f"xgboost does not know the parameter(s) {names} (it would ignore them): see "
                             "https://xgboost.readthedocs.io/en/stable/parameter.html")


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
        import joblib  # only where an ensemble trains: ~0.1 s of every job's start-up otherwise

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



@dataclass(frozen=True)
class Kind:
    """What the middle layer needs to know about one classifier kind (see the module docstring)."""

    name: str
    target: str
    summary: str = ""
    negative_weights: bool = True
    stages: str | None = None
    stages_note: str = ""
    strict_params: bool = True
    #: config-time check of an unfitted estimator's parameters (``check_params``); None: the constructor's only
    check: Callable[[Any], None] | None = None
    extra_outputs: Callable[..., None] | None = None
    fit_note: Callable[[Any], str | None] | None = None
    #: progress of a long ``fit`` in the log: (parameter holding the number of steps, unit, hook); None for
    #: kinds that train in one step or log their own epochs / generations (the in-house learners)
    progress: tuple[str, str, Callable[..., Iterator[dict]]] | None = None
    #: cores a fit and a prediction can use (see the module docstring); the train rule's threads
    threads: int = 1
    #: bytes the in-memory fit holds per feature value (float32 input + the library's copies), an estimate
    bytes_per_value: float = 16.0
    #: out-of-core training: "module:function" f(estimator, training_set, *, memory_bytes); None = in memory only
    streams: str | None = None
    #: (parameter, values) for which ``streams`` applies; None = always
    stream_when: tuple[str, tuple] | None = None
    #: training events scored (role "train": the overtraining checks), a random subsample; None = all of them
    train_score_events: int | None = None
    #: events of the permutation importance at most (below the config's evaluation.importance_events); None = no cap
    importance_events: int | None = None
    #: relative duration of a train job, 1 (short) to 3 (long): the train and evaluate rules' priority
    cost: int = 1

    def can_stream(self, estimator) -> bool:
        """Whether ``estimator`` (of this kind) can train out of core."""
        if self.streams is None:
            return False
        if self.stream_when is None:
            return True
        param, values = self.stream_when
        return estimator.get_params().get(param) in values

    def stream_fit(self, estimator, training_set, *, memory_bytes: int):
        """Train ``estimator`` out of core on ``training_set`` within ``memory_bytes``; returns it fitted."""
        module, _, attr = self.streams.partition(":")
        return getattr(importlib.import_module(module), attr)(estimator, training_set, memory_bytes=memory_bytes)

    def __post_init__(self) -> None:
        if self.name not in persistence.FORMAT_OF_KIND:
            raise ValueError(f"kind '{self.name}': no storage format; add it to hepmva.persistence.FORMAT_OF_KIND "
                             "(and, for skops, its exact allow-list to SKOPS_TRUSTED)")
        if int(self.threads) != self.threads or self.threads < 1:
            raise ValueError(f"kind '{self.name}': threads must be a positive integer, got {self.threads!r}")
        if self.cost not in (1, 2, 3):
            raise ValueError(f"kind '{self.name}': cost must be 1, 2 or 3, got {self.cost!r}")
        for cap in ("train_score_events", "importance_events"):
            v = getattr(self, cap)
            if v is not None and (int(v) != v or v < 1):
                raise ValueError(f"kind '{self.name}': {cap} must be a positive integer or None, got {v!r}")
        if self.stages is not None and self.stages not in STAGE_READERS:
            raise ValueError(f"kind '{self.name}': stages {self.stages!r} not in {STAGE_READERS}")

    @property
    def persistence(self) -> str:
        """The storage format's name (``"state"``, ``"xgboost"`` or ``"skops"``)."""
        return persistence.FORMAT_OF_KIND[self.name]

    @property
    def model_format(self) -> persistence.ModelFormat:
        """The storage format: its files, save and checked load."""
        return persistence.FORMATS[self.persistence]

    @property
    def trusted_types(self) -> frozenset[str]:
        """The exact type names a skops file of this kind may hold (empty for the other formats)."""
        return persistence.SKOPS_TRUSTED.get(self.name, frozenset())

    def resolve(self) -> type:
        """Import and return the kind's class."""
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)



_BOOST = "staged_predict_proba after k boosting rounds"
#: threads of the kinds that run in parallel (OpenMP or joblib): the train rule held 2 for every kind before
PARALLEL = 2
#: training events a kind with an expensive prediction scores for its overtraining checks (k-NN, SVM)
EXPENSIVE_SCORING_EVENTS = 20000
#: permutation-importance events of the k-NN (21 predictions per event with 10 features and 2 repeats)
EXPENSIVE_IMPORTANCE_EVENTS = 3000

KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("xgboost", "xgboost:XGBClassifier", "gradient-boosted trees (xgboost)", negative_weights=False,
         stages="iteration_range", stages_note="xgboost predict_proba with the first k boosting rounds",
         strict_params=False, check=_check_xgboost_params, progress=("n_estimators", "rounds", _xgboost_progress),
         bytes_per_value=8.0,
         streams="hepmva.out_of_core:fit_xgboost_external", threads=PARALLEL, cost=2),
    Kind("hgb", "sklearn.ensemble:HistGradientBoostingClassifier", "histogram gradient boosting",
         stages="staged_predict_proba", stages_note=_BOOST,
         progress=("max_iter", "iterations", _verbose_progress(r"^\[\d+/\d+\]", 2)), threads=PARALLEL, cost=3),
    Kind("gbdt", "sklearn.ensemble:GradientBoostingClassifier", "gradient-boosted trees",
         stages="staged_predict_proba", stages_note=_BOOST, progress=("n_estimators", "stages", _monitor_progress),
         cost=3),
    Kind("adaboost", "hepmva.peers:AdaBoostBDT", "TMVA-like BDT: AdaBoost on depth-3 trees", negative_weights=False,
         stages="staged_predict_proba", stages_note=_BOOST,
         progress=("n_estimators", "rounds", _round_callback_progress), cost=3),
    Kind("random_forest", "sklearn.ensemble:RandomForestClassifier", "random forest (weighted bootstrap)",
         negative_weights=False,
         progress=("n_estimators", "trees", _verbose_progress(r"building tree \d+ of \d+", 2)), threads=PARALLEL,
         cost=3),
    Kind("bagging", "hepmva.peers:BaggedTrees", "bagged trees with a max_depth knob", negative_weights=False,
         progress=("n_estimators", "trees", _verbose_progress(r"Building estimator \d+ of \d+", 2)), threads=PARALLEL,
         cost=3),
    Kind("decision_tree", "sklearn.tree:DecisionTreeClassifier", "one decision tree"),
    Kind("svm", "hepmva.peers:SVMClassifier", "RBF SVC on a capped subsample, or Nystroem + linear SVM",
         fit_note=_capped_fit_note, train_score_events=EXPENSIVE_SCORING_EVENTS, cost=3),
    Kind("knn", "hepmva.peers:WeightedKNNClassifier", "weighted neighbour vote on a capped subsample",
         fit_note=_capped_fit_note, threads=PARALLEL, train_score_events=EXPENSIVE_SCORING_EVENTS,
         importance_events=EXPENSIVE_IMPORTANCE_EVENTS, cost=3),
    Kind("fisher", "hepmva.linear:FisherDiscriminant", "Fisher's linear discriminant (in-house)"),
    Kind("linear_discriminant", "hepmva.linear:LinearDiscriminant", "least squares by the normal equations (in-house)"),
    Kind("cuts_ga", "hepmva.cuts:CutsGAClassifier", "rectangular cuts by the genetic algorithm (in-house)",
         extra_outputs=_write_cuts),
    Kind("mlp", "hepmva.nn:MLPClassifier", "multi-layer perceptron, backpropagation (in-house)", stages="loss_curve",
         bytes_per_value=12.0, streams="hepmva.out_of_core:fit_mlp_streamed",
         stream_when=("solver", ("sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adam")), cost=2),
)}


def job_threads(kind: Kind, cores: int | None) -> int:
    """Threads of a job of ``kind`` on ``cores`` cores in all: the kind's ``threads``, at most half of the cores.

    A job that holds every core of a small machine runs alone while the single-threaded jobs wait, and a
    parallel fit does not scale perfectly (OpenMP threads wait for each other): on 2 cores, two fits side by
    side on one thread each finish the study's train jobs sooner than one at a time on two. ``cores`` None
    (a cluster, no total): the kind's threads.
    """
    if cores is None:
        return int(kind.threads)
    return int(max(1, min(int(kind.threads), int(cores) // 2)))


def get_kind(kind: str) -> Kind:
    """The record of ``kind``; ValueError naming the known kinds otherwise."""
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"classifier kind '{kind}' is unknown; known: {', '.join(sorted(KINDS))}") from None


def kind_of(estimator) -> Kind | None:
    """The record whose class is exactly ``type(estimator)`` (imports only already-imported modules)."""
    cls = type(estimator)
    for record in KINDS.values():
        module, _, attr = record.target.partition(":")
        if module in sys.modules and getattr(sys.modules[module], attr, None) is cls:
            return record
    return None


def resolve_kind(kind: str) -> type:
    """Import and return the class registered for ``kind``."""
    return get_kind(kind).resolve()


def make_classifier(kind: str, params: dict[str, Any] | None = None, *, n_jobs: int | None = None,
                    random_state: int | None = None):
    """Construct an unfitted estimator of ``kind`` with constructor ``params``.

    ``n_jobs`` and ``random_state`` are passed when the estimator accepts them and the config did
    not set them.
    """
    record = get_kind(kind)
    cls = record.resolve()
    params = dict(params or {})
    try:
        accepted = cls().get_params() if hasattr(cls, "get_params") else {}
    except TypeError:
        accepted = {}
    for key, value in (("n_jobs", n_jobs), ("random_state", random_state)):
        if value is not None and key in accepted and key not in params:
            params[key] = value
    unknown = sorted(set(params) - set(accepted)) if accepted and record.strict_params else []
    if unknown:
        raise ValueError(f"classifier kind '{kind}': unknown parameter(s) {', '.join(unknown)}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"classifier kind '{kind}': {exc}") from None


def check_params(kind: str, params: dict[str, Any] | None = None) -> None:
    """Construct ``kind`` once from ``params`` and validate them as its ``fit`` would, without data.

    Unknown parameter names fail in :func:`make_classifier`; values are checked by scikit-learn's declarative
    ``_parameter_constraints`` where the class has them, and by the in-house ``_check_params``.

    Raises
    ------
    ValueError
        One line naming the parameter.
    """
    est = make_classifier(kind, params)
    checks = [getattr(est, name, None) for name in ("_check_params",)]
    if hasattr(est, "_parameter_constraints"):
        checks.append(est._validate_params)
    if get_kind(kind).check is not None:
        checks.append(lambda: get_kind(kind).check(est))
    for check in checks:
        if check is None:
            continue
        try:
            check()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"classifier kind '{kind}': {str(exc).strip().splitlines()[0]}") from None


def check_classifiers(config: dict) -> None:
    """Build every classifier of a validated study ``config`` once from its ``params`` (no data).

    Run at config time (the Snakefile calls it right after :func:`hepmva.config.validate_config`), so an
    unknown parameter or MLP solver stops the study before any training, not after the other trainings.

    Raises
    ------
    ConfigError
        One line naming ``classifiers[i].params`` and the classifier.
    """
    for i, c in enumerate(config["classifiers"]):
        try:
            check_params(c["kind"], c.get("params"))
        except ValueError as exc:
            raise ConfigError(f"config key 'classifiers[{i}].params' ({c['name']}): {exc}") from None


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
    """Write a fitted ``estimator`` of ``kind`` into ``directory`` in its format (:mod:`hepmva.persistence`)."""
    persistence.save_estimator(estimator, get_kind(kind).name, directory)


def load_estimator(directory: str | Path, *, n_jobs: int | None = None):
    """Rebuild an estimator written by :func:`save_estimator` through the kind's checked, pickle-free loader.

    ``n_jobs``: the threads its predictions may use, for an estimator with an ``n_jobs`` parameter (xgboost,
    forests, bagging, k-NN); None keeps the saved value (xgboost's None is every core: in a one-core job its
    OpenMP threads then wait for each other, 2.7x the CPU of one thread measured on a busy 2-core machine).

    Raises
    ------
    hepmva.errors.ModelFileError
        One line naming the file when it is not a model file hepmva wrote (see :mod:`hepmva.persistence`).
    """
    est = persistence.load_estimator(directory, resolve_kind)
    if n_jobs is not None and "n_jobs" in getattr(est, "get_params", dict)():
        est.set_params(n_jobs=int(n_jobs))
    return est


def thread_limits(threads: int) -> contextlib.ExitStack:
    """OpenMP pools (xgboost, HGB, forests) get the job's ``threads``: no oversubscription when Snakemake runs
    several jobs side by side, and their results do not depend on the thread count. BLAS gets ONE thread
    whatever --cores is: a multithreaded BLAS sums in a thread-count-dependent order, so the MLP and the
    SVM would differ in the last bits between --cores 1 and --cores 2 (README "Determinism")."""
    stack = contextlib.ExitStack()
    stack.enter_context(threadpool_limits(limits=max(int(threads), 1), user_api="openmp"))
    stack.enter_context(threadpool_limits(limits=1, user_api="blas"))
    return stack


def kinds_table() -> str:
    """The kinds as a markdown table (README.md holds this table; a test checks they agree)."""
    lines = ["| kind | class | what | persistence | negative weights | learning curve | out of core |",
             "|---|---|---|---|---|---|---|"]
    for k in KINDS.values():
        stream = "-" if k.streams is None else f"`{k.streams.partition(':')[2]}`" + (
            "" if k.stream_when is None else f" ({k.stream_when[0]}: {', '.join(k.stream_when[1])})")
        lines.append(f"| `{k.name}` | `{k.target}` | {k.summary} | {k.persistence} | "
                     f"{'accepted' if k.negative_weights else 'refused'} | {k.stages or '-'} | {stream} |")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def training_progress(est, kind: str, *, what: str, n_events: int | None = None,
                      interval: float | None = None) -> Iterator[dict]:
    """Progress of ``est.fit`` in the log (steps done, steps/s, time left), for the kinds whose record has a
    ``progress`` hook; yields the extra keyword arguments for ``fit``::

        with training_progress(est, kind, what="classifier xgboost fold 0") as fit_kwargs:
            est.fit(X, y, sample_weight=w, **fit_kwargs)

    Other kinds yield ``{}`` and are left alone.
    """
    if get_kind(kind).progress is None:
        yield {}
        return
    param, unit, hook = get_kind(kind).progress
    total = est.get_params().get(param)
    events = f" on {n_events} events" if n_events else ""
    progress = Progress(_log, f"{what}: training{events}", total=total, unit=unit, interval=interval)
    with contextlib.contextmanager(hook)(est, progress) as fit_kwargs:
        yield fit_kwargs
    progress.done()


#: bytes per training event besides its features (label, weights, row bookkeeping)
_EVENT_BYTES = 40


def fit_memory_mb(kind: str, n_events: int, n_features: int) -> float:
    """Estimated memory (MB) of an in-memory ``fit`` of ``kind`` on ``n_events`` x ``n_features``."""
    return n_events * (n_features * get_kind(kind).bytes_per_value + _EVENT_BYTES) / 2**20


def fit_mode(est, kind: str, *, name: str, n_events: int, n_features: int, budget_mb: float | None) -> str:
    """``"memory"`` when the training set fits ``budget_mb``, ``"stream"`` when it does not and the kind
    streams (:attr:`Kind.streams`); otherwise a one-line :class:`hepmva.errors.TrainingError`.

    Raises
    ------
    TrainingError
        Naming the classifier, the memory needed, the budget and the two ways out.
    """
    need = fit_memory_mb(kind, n_events, n_features)
    if budget_mb is None or need <= budget_mb:
        return "memory"
    record = get_kind(kind)
    if record.can_stream(est):
        return "stream"
    fits = int(budget_mb * 2**20 / (n_features * record.bytes_per_value + _EVENT_BYTES))
    why = f"{kind} cannot train out of core" if record.streams is None else \
        f"this {kind} cannot train out of core (see README 'Training memory')"
    raise TrainingError(
        f"classifier '{name}' ({kind}): its {n_events} training events x {n_features} features need ~{need:.0f} MB, "
        f"over training.memory_budget_mb = {budget_mb:g}, and {why}: set its max_train_events to at most {fits} "
        "or raise training.memory_budget_mb")
