"""Self-describing model bundles: everything needed to score a new file, with nothing else at hand.

A study writes one bundle, its ``results/models`` directory::

    results/models/bundle.json                 the study: feature / spectator expressions and defaults,
                                               global and per-sample selections, event id, fold rule
                                               (SplitMix64 hash of the event id, k), hepmva version,
                                               features_sha256; the list of classifiers
    results/models/{clf}/bundle.json           the same study block + the classifier (kind, params),
                                               its score range, and per fold: the directory, the
                                               scaler and the SHA-256 of every model file
    results/models/{clf}/fold{k}/              the fold model (model.json + estimator files, pickle-free)

A classifier directory is a bundle by itself (copy it alone to a batch node). :func:`load_bundle`
reads either, verifies the content hash of the feature definitions and of every model file, and
loads the estimators only through :func:`hepmva.models.load_estimator` (never unpickles).

Scoring (:meth:`ModelBundle.score_features`): fold mode ``"fold"`` gives each event to the fold model
``splitmix64(event id) mod k``, the one that did not train on it when the event was in the training
samples (so re-applying a training sample reproduces its out-of-fold scores exactly; TMVA
``SplitExpr``); ``"mean"`` averages the k fold models (TMVA ``OutputEnsembling=Avg``), for data and
processes never trained on.

Python::

    from hepmva.bundle import load_bundle
    bundle = load_bundle("results/models")
    scores = bundle.score({"met": met, "jet_pt": jet_pt, ..., "event": event})   # branches in
    scores["xgboost"]                                                           # one score per event
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
import numpy as np

from hepmva import __version__
from hepmva.errors import BundleError
from hepmva.io import atomic_path
from hepmva.models import classifier_score, load_estimator
from hepmva.feature_table import FeatureProgram, compile_program, evaluate_chunk
from hepmva.preprocessing import Scaler
from hepmva.samples import assign_folds

__all__ = ["BUNDLE_FORMAT", "FOLD_MODES", "BundleError", "features_sha256", "study_block", "write_classifier_bundle",
           "write_study_bundle", "load_bundle", "ModelBundle", "FoldedClassifier"]

log = logging.getLogger(__name__)

BUNDLE_FORMAT = "hepmva-model-bundle"
BUNDLE_VERSION = 1
FOLD_MODES = ("fold", "mean")


def features_sha256(features: Sequence[Mapping], spectators: Sequence[Mapping] = (),
                    define: Mapping[str, str] | None = None, aliases: Mapping[str, str] | None = None) -> str:
    """SHA-256 of the canonical JSON of the feature definitions: features and spectators (name, expr,
    default) and the named definitions and aliases their expressions may use."""
    def canon(blocks):
        return [{"name": b["name"], "expr": b["expr"], "default": b.get("default")} for b in blocks]

    text = json.dumps({"features": canon(features), "spectators": canon(spectators), "define": dict(define or {}),
                       "aliases": dict(aliases or {})}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _study_sha256(study: Mapping) -> str:
    return features_sha256(study["features"], study["spectators"], study.get("define"), study.get("aliases"))


def study_block(*, features: Sequence[Mapping], spectators: Sequence[Mapping], selection: str | None,
                samples: Sequence[Mapping], event_id: str, folds: int, training: Mapping,
                luminosity_pb: float, define: Mapping[str, str] | None = None,
                aliases: Mapping[str, str] | None = None) -> dict:
    """The study part of a bundle (what defines the training phase space and the inputs)."""
    return {
        "features": [dict(f) for f in features], "spectators": [dict(s) for s in spectators],
        "define": dict(define or {}), "aliases": dict(aliases or {}),
        "selection": selection,
        "training_samples": {s["name"]: {"label": s["label"], "selection": s.get("selection")} for s in samples},
        "event_id": event_id, "fold_rule": {"hash": "splitmix64", "k": int(folds)},
        "training": dict(training), "luminosity_pb": float(luminosity_pb),
    }


def _file_hashes(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()}


def _write_json(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1) + "\n")


def _header(kind: str, study: dict) -> dict:
    return {"format": BUNDLE_FORMAT, "format_version": BUNDLE_VERSION, "type": kind, "hepmva_version": __version__,
            "features_sha256": _study_sha256(study), "study": study}


def write_classifier_bundle(fold_dirs: Sequence[str | Path], *, classifier: Mapping, study: dict,
                            score_range: tuple[float, float], output: str | Path) -> dict:
    """Write ``{clf}/bundle.json`` describing the fold models in ``fold_dirs`` (``fold0`` ... ``fold{k-1}``).

    ``score_range`` is the (min, max) of the out-of-fold scores: the templates' binning.
    """
    output = Path(output)
    k = study["fold_rule"]["k"]
    if len(fold_dirs) != k:
        raise BundleError(f"{output}: {len(fold_dirs)} fold model(s) for a {k}-fold study")
    names = [f["name"] for f in study["features"]]
    folds = []
    for i, d in enumerate(sorted(map(Path, fold_dirs), key=lambda p: p.name)):
        info = json.loads((d / "model.json").read_text())
        if info["fold"] != i or info["features"] != names:
            raise BundleError(f"{d}: model.json is for fold {info['fold']} with features {info['features']}, "
                              f"expected fold {i} with {names}: re-run the training")
        folds.append({"fold": i, "dir": os.path.relpath(d, output.parent), "scaler": info["scaler"],
                      "n_train": info["n_train"], "files_sha256": _file_hashes(d)})
    bundle = _header("classifier", study)
    bundle["classifier"] = {"name": classifier["name"], "kind": classifier["kind"],
                            "params": classifier.get("params", {}),
                            "max_train_events": classifier.get("max_train_events")}
    bundle["score_range"] = [float(score_range[0]), float(score_range[1])]
    bundle["folds"] = folds
    _write_json(bundle, output)
    return bundle


def write_study_bundle(classifier_bundles: Sequence[str | Path], *, study: dict, output: str | Path) -> dict:
    """Write the study's ``bundle.json`` listing its classifier bundles (paths relative to ``output``)."""
    output = Path(output)
    bundle = _header("study", study)
    entries = {}
    for path in map(Path, classifier_bundles):
        clf = json.loads(path.read_text())
        if clf["features_sha256"] != bundle["features_sha256"]:
            raise BundleError(f"{path}: trained with other feature definitions than the study's: re-run the training")
        entries[clf["classifier"]["name"]] = str(path.resolve().relative_to(output.resolve().parent))
    bundle["classifiers"] = entries
    _write_json(bundle, output)
    return bundle


# ------------------------------------------------------------------------------------------- loading
@dataclass
class FoldedClassifier:
    """The k fold models of one classifier, with their scalers."""

    name: str
    kind: str
    params: dict
    score_range: tuple[float, float]
    scalers: list[Scaler]
    estimators: list = field(repr=False)

    def score(self, X: np.ndarray, fold: np.ndarray | None) -> np.ndarray:
        """Scores of ``X`` (n_events, n_features): fold model ``fold[i]`` per event, or the mean (fold None)."""
        if fold is None:
            return np.mean([classifier_score(e, s.transform(X)) for s, e in zip(self.scalers, self.estimators)], axis=0)
        out = np.empty(len(X))
        for k, (s, e) in enumerate(zip(self.scalers, self.estimators)):
            m = fold == k
            if m.any():
                out[m] = classifier_score(e, s.transform(X[m]))
        return out


@dataclass
class ModelBundle:
    """A loaded bundle: the study definition and its classifiers (see :func:`load_bundle`)."""

    path: Path
    study: dict
    features_sha256: str
    hepmva_version: str
    classifiers: dict[str, FoldedClassifier]

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.study["features"]]

    @property
    def spectator_names(self) -> list[str]:
        return [s["name"] for s in self.study["spectators"]]

    @property
    def folds(self) -> int:
        return int(self.study["fold_rule"]["k"])

    def program(self, *, selections: Sequence[str | None] = (), weights: Mapping[str, str | None] | None = None,
                trained_as: str | None = None, with_selection: bool = True) -> FeatureProgram:
        """The reading program of the bundle: its features, spectators, event id and selections.

        With ``with_selection`` the study's global selection (and, with ``trained_as``, that training
        sample's own selection) is AND-ed with ``selections``.
        """
        cuts = list(selections)
        if with_selection:
            cuts = [self.study["selection"]] + cuts
            if trained_as is not None:
                samples = self.study["training_samples"]
                if trained_as not in samples:
                    raise BundleError(f"{self.path}: no training sample '{trained_as}'; the study trained on "
                                      f"{', '.join(sorted(samples))}")
                cuts.append(samples[trained_as]["selection"])
        return compile_program(self.study["features"], event_id=self.study["event_id"], selections=cuts,
                               weights=weights, spectators=self.study["spectators"],
                               define=self.study.get("define"), aliases=self.study.get("aliases"))

    def check_features(self, features: Sequence[Mapping], where: str = "config", *,
                       define: Mapping[str, str] | None = None, aliases: Mapping[str, str] | None = None) -> None:
        """Raise :class:`BundleError` naming the first feature (or definition / alias) that differs from the bundle's."""
        for what, mine_d, theirs_d in (("definition", self.study.get("define") or {}, define or {}),
                                       ("alias", self.study.get("aliases") or {}, aliases or {})):
            for name in sorted(set(mine_d) | set(theirs_d)):
                if mine_d.get(name) != theirs_d.get(name):
                    raise BundleError(f"{where}: {what} '{name}' ({theirs_d.get(name, 'missing')!r}) differs from the "
                                      f"model bundle {self.path} ({mine_d.get(name, 'absent')!r}): score with the "
                                      "definitions the models were trained on")
        mine = {f["name"]: (f["expr"], f.get("default")) for f in self.study["features"]}
        theirs = {f["name"]: (f["expr"], f.get("default")) for f in features}
        for name in list(mine) + [n for n in theirs if n not in mine]:
            if mine.get(name) != theirs.get(name):
                have = "missing" if name not in theirs else f"expr '{theirs[name][0]}', default {theirs[name][1]}"
                want = "absent" if name not in mine else f"expr '{mine[name][0]}', default {mine[name][1]}"
                raise BundleError(f"{where}: feature '{name}' ({have}) differs from the model bundle {self.path} "
                                  f"({want}): score with the features the models were trained on")
        if list(mine) != list(theirs):
            raise BundleError(f"{where}: features in another order than in the model bundle {self.path}")

    def fold_of(self, event_id: np.ndarray) -> np.ndarray:
        """The fold rule: ``splitmix64(event id) mod k``."""
        return assign_folds(np.asarray(event_id).astype(np.uint64), self.folds)

    def score_features(self, X: np.ndarray, event_id: np.ndarray | None = None, *, fold_mode: str = "fold",
                       classifiers: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Scores of a feature matrix (n_events, n_features in :attr:`feature_names` order) per classifier."""
        if fold_mode not in FOLD_MODES:
            raise BundleError(f"fold mode '{fold_mode}' is unknown; use one of {', '.join(FOLD_MODES)}")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise BundleError(f"{self.path}: expected a matrix of {len(self.feature_names)} features "
                              f"({', '.join(self.feature_names)}), got shape {X.shape}")
        if fold_mode == "fold" and event_id is None:
            raise BundleError("fold mode 'fold' needs the event ids (or use fold_mode='mean')")
        fold = self.fold_of(event_id) if fold_mode == "fold" else None
        return {name: self.classifiers[name].score(X, fold) for name in self.classifier_names(classifiers)}

    def score(self, arrays, *, fold_mode: str = "fold", classifiers: Sequence[str] | None = None,
              with_selection: bool = False) -> dict[str, np.ndarray]:
        """Scores of events given as branches (awkward record array, mapping name -> array, or DataFrame).

        Every event is scored (no selection) unless ``with_selection``; then events failing the
        study's selection get NaN. The event-id branch is needed for fold mode ``"fold"``.
        """
        program = self.program(with_selection=with_selection)
        if not isinstance(arrays, ak.Array):
            arrays = ak.Array({k: v if isinstance(v, ak.Array) else np.asarray(v) for k, v in arrays.items()})
        if fold_mode == "mean" and self.study["event_id"] not in arrays.fields:
            arrays = ak.with_field(arrays, np.zeros(len(arrays), dtype=np.uint64), self.study["event_id"])
        missing = sorted(set(program.branches) - set(arrays.fields))
        if missing:
            raise BundleError(f"arrays lack branch(es) {', '.join(missing)} that the bundle's features read")
        cols = evaluate_chunk(program, arrays, path="arrays", entry_start=0)
        X = np.column_stack([cols[n] for n in self.feature_names]) if len(cols["event"]) else np.empty(
            (0, len(self.feature_names)))
        scores = self.score_features(X, cols["event"], fold_mode=fold_mode, classifiers=classifiers)
        n = len(arrays)
        out = {}
        for name, s in scores.items():
            full = np.full(n, np.nan)
            full[cols["entry"]] = s
            out[name] = full
        return out

    def classifier_names(self, classifiers: Sequence[str] | None = None) -> list[str]:
        """``classifiers`` checked against the bundle's (None = all of them, in the bundle's order)."""
        if classifiers is None:
            return list(self.classifiers)
        unknown = [c for c in classifiers if c not in self.classifiers]
        if unknown:
            raise BundleError(f"{self.path}: no classifier {', '.join(unknown)}; the bundle holds "
                              f"{', '.join(self.classifiers)}")
        return list(classifiers)


def _read_bundle_json(path: Path) -> dict:
    try:
        bundle = json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(f"{path}: no such file: MODEL_DIR must be a study's results/models directory or one "
                          "classifier's directory inside it (holding bundle.json)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: not a readable bundle ({exc})") from None
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path}: not a hepmva model bundle (format {bundle.get('format')!r})"
                          if isinstance(bundle, dict) else f"{path}: not a hepmva model bundle")
    if bundle.get("format_version") != BUNDLE_VERSION:
        raise BundleError(f"{path}: bundle format version {bundle.get('format_version')} is not supported "
                          f"(this hepmva {__version__} reads version {BUNDLE_VERSION})")
    if _study_sha256(bundle["study"]) != bundle["features_sha256"]:
        raise BundleError(f"{path}: the feature definitions do not match their content hash (edited by hand?)")
    return bundle


def _load_classifier(path: Path, expected_sha: str, n_jobs: int | None = None) -> FoldedClassifier:
    bundle = _read_bundle_json(path)
    if bundle["features_sha256"] != expected_sha:
        raise BundleError(f"{path}: trained with other feature definitions than the study bundle")
    scalers, estimators = [], []
    for f in bundle["folds"]:
        d = path.parent / f["dir"]
        if not d.is_dir():
            raise BundleError(f"{path}: fold model directory {d} is missing")
        have = _file_hashes(d)
        for name, digest in f["files_sha256"].items():
            if have.get(name) != digest:
                raise BundleError(f"{d / name}: {'missing' if name not in have else 'changed since the bundle was written'}")
        scalers.append(Scaler.from_dict(f["scaler"]))
        estimators.append(load_estimator(d, n_jobs=n_jobs))
    c = bundle["classifier"]
    log.info("bundle %s: classifier %s (%s), %d fold models", path.parent, c["name"], c["kind"], len(estimators))
    return FoldedClassifier(c["name"], c["kind"], c["params"], tuple(bundle["score_range"]), scalers, estimators)


def load_bundle(path: str | Path, classifiers: Sequence[str] | None = None, *,
                n_jobs: int | None = None) -> ModelBundle:
    """Load a study bundle (``results/models``) or one classifier's bundle (``results/models/{clf}``).

    ``path`` may also be the ``bundle.json`` file itself. ``classifiers`` selects some of a study's.
    ``n_jobs``: the threads the fold models predict on (:func:`hepmva.models.load_estimator`; None: as saved,
    which for xgboost is every core).

    Raises
    ------
    BundleError
        One line naming the file: missing, not a bundle, hash mismatch, unknown classifier.
    """
    path = Path(path)
    file = path if path.suffix == ".json" else path / "bundle.json"
    bundle = _read_bundle_json(file)
    sha = bundle["features_sha256"]
    if bundle["type"] == "classifier":
        loaded = {bundle["classifier"]["name"]: _load_classifier(file, sha, n_jobs)}
        if classifiers is not None and list(classifiers) != list(loaded):
            raise BundleError(f"{file}: holds only classifier {', '.join(loaded)}, not {', '.join(classifiers)}")
    else:
        entries = bundle["classifiers"]
        names = list(entries) if classifiers is None else list(classifiers)
        unknown = [n for n in names if n not in entries]
        if unknown:
            raise BundleError(f"{file}: no classifier {', '.join(unknown)}; the bundle holds {', '.join(entries)}")
        loaded = {n: _load_classifier(file.parent / entries[n], sha, n_jobs) for n in names}
    return ModelBundle(file.parent, bundle["study"], sha, bundle["hepmva_version"], loaded)
