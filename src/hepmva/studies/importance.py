"""Permutation importance of a k-fold classifier, in two halves: scored where the model is, ranked where the scores meet.

The importance of a feature is the drop of the event-weighted AUC when that feature is shuffled among a random
subsample of the events (:func:`hepmva.metrics.permutation_importance`), each event scored by the fold model that
did not train on it. The events, their order and the shuffles are fixed by the seed alone
(:func:`hepmva.training_set.random_events` and :func:`importance_plan`), so each fold model can score its own
events of them on its own:

- :func:`permuted_fold_scores` runs in the train job, right after the fold's fit, while the model, its library
  and its threads are loaded: the unshuffled and every shuffled score of the fold's events of the subsample
  (the stage writes them with :func:`hepmva.io.write_arrays`: ``results/models/{classifier}/importance_fold{k}.npz``,
  plain arrays, read back without pickle);
- :func:`combine_fold_importance` runs in the evaluate job: it joins the folds' scores, checks that every event
  of the subsample is there once and that the folds drew the same events and shuffles, and computes the drops.

The result is the one the single-process :func:`hepmva.metrics.permutation_importance` gives for the same events,
shuffles and models (``tests/studies/test_importance.py``), and the evaluate job no longer loads a model nor
imports its library (scikit-learn with skops, xgboost: 1-2 CPU s a job).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from hepmva.errors import InputError
from hepmva.metrics import PermutationImportance, roc_auc
from hepmva.models import get_kind

__all__ = ["importance_plan", "permuted_fold_scores", "combine_fold_importance", "importance_events_for",
           "IMPORTANCE_STREAM", "FORMAT"]

log = logging.getLogger(__name__)

#: the event_keys stream of the permutation importance's random events (the training plans use the folds' numbers)
IMPORTANCE_STREAM = 1_000_005
#: format version of the per-fold arrays (checked when they are combined)
FORMAT = 1


def importance_events_for(kind: str, n_events: int | None) -> int | None:
    """The subsample size of a kind: ``n_events``, or the kind's ``importance_events`` when that is smaller (k-NN,
    whose prediction costs like a fit)."""
    cap = get_kind(kind).importance_events
    return cap if cap is not None and (n_events is None or cap < n_events) else n_events


def importance_plan(n_events: int, n_features: int, n_repeats: int, seed: int) -> Iterator[tuple[int, int, NDArray]]:
    """The shuffles, in order: ``(feature j, repeat r, permutation of the n_events events)``, feature by feature, as
    :func:`hepmva.metrics.permutation_importance` draws them from ``numpy.random.default_rng([seed, 5])``."""
    rng = np.random.default_rng([seed, 5])
    for j in range(n_features):
        for r in range(int(n_repeats)):
            yield j, r, rng.permutation(n_events)


def permuted_fold_scores(score_fn: Callable[[NDArray], NDArray], X: NDArray, y: NDArray, w: NDArray,
                         event_fold: NDArray, *, fold: int, feature_names: Sequence[str], n_repeats: int, seed: int,
                         own_importance: NDArray | None = None) -> dict[str, NDArray]:
    """Score the events of ``fold`` among the importance subsample ``X`` (every fold's events, in the subsample's
    order; ``event_fold`` their folds) with the fold's model ``score_fn``: unshuffled, and once for every shuffle of
    :func:`importance_plan` (a shuffled feature takes its values from any fold's events).

    Returns
    -------
    dict of arrays : ``rows`` (positions in the subsample), ``label``, ``weight``, ``baseline`` (n_k,),
    ``permuted`` (n_features, n_repeats, n_k), ``own_importance`` (the model's own, or empty), ``n_events``,
    ``n_repeats``, ``features``, ``fingerprint`` (the subsample's size and sums of labels and weights: every fold
    must have drawn the same events) and ``format``.
    """
    names = list(feature_names)
    X = np.asarray(X, dtype=np.float64)
    y, w = np.asarray(y), np.asarray(w, dtype=np.float64)
    rows = np.flatnonzero(np.asarray(event_fold) == fold)
    permuted = np.empty((len(names), int(n_repeats), len(rows)))
    Z = X[rows].copy()
    baseline = np.asarray(score_fn(Z), dtype=np.float64).ravel() if len(rows) else np.empty(0)
    for j, r, perm in importance_plan(len(X), len(names), n_repeats, seed):
        if len(rows):
            Z[:, j] = X[perm[rows], j]
            permuted[j, r] = np.asarray(score_fn(Z), dtype=np.float64).ravel()
            Z[:, j] = X[rows, j]
    own = (np.asarray(own_importance, dtype=np.float64) if own_importance is not None
           and len(own_importance) == len(names) else np.empty(0))
    return {"rows": rows, "label": y[rows], "weight": w[rows], "baseline": baseline, "permuted": permuted,
            "own_importance": own, "n_events": np.int64(len(X)), "n_repeats": np.int64(n_repeats),
            "features": np.array(names, dtype=str), "fingerprint": np.array([len(X), y.sum(), w.sum()]),
            "format": np.int64(FORMAT)}


def combine_fold_importance(folds: Mapping[str, Mapping[str, NDArray]],
                            feature_names: Sequence[str]) -> tuple[PermutationImportance, NDArray | None, int]:
    """The permutation importance from every fold's :func:`permuted_fold_scores` (``folds``: source name, e.g. the
    file, -> its arrays).

    Returns
    -------
    (PermutationImportance, the model's own importance averaged over the folds or None, number of events)
    """
    names = list(feature_names)
    sources = list(folds)
    first = folds[sources[0]]
    n, n_repeats = int(first["n_events"]), int(first["n_repeats"])
    for src, f in folds.items():
        if int(f.get("format", -1)) != FORMAT:
            raise InputError(f"{src}: not a permutation-importance file of this hepmva version: rerun the train rule")
        if (list(f["features"]) != names or int(f["n_events"]) != n or int(f["n_repeats"]) != n_repeats
                or not np.allclose(f["fingerprint"], first["fingerprint"], rtol=1e-12)):
            raise InputError(f"{src}: drawn with other features, events or importance settings than {sources[0]}: "
                             "rerun the train rule of this classifier")
    y, w, baseline = np.empty(n), np.empty(n), np.empty(n)
    permuted = np.empty((len(names), n_repeats, n))
    seen = np.zeros(n, dtype=int)
    for f in folds.values():
        rows = f["rows"]
        seen[rows] += 1
        y[rows], w[rows], baseline[rows], permuted[:, :, rows] = f["label"], f["weight"], f["baseline"], f["permuted"]
    if not np.all(seen == 1):
        raise InputError(f"the permutation-importance files {sources} do not cover the importance subsample once "
                         f"({int(np.sum(seen == 0))} events missing, {int(np.sum(seen > 1))} repeated): give each "
                         "fold's file once")
    auc0 = roc_auc(y, baseline, w)
    drops = np.array([[auc0 - roc_auc(y, permuted[j, r], w) for r in range(n_repeats)] for j in range(len(names))])
    for j, name in enumerate(names):
        log.info("permutation importance: %s -> %.4f", name, drops[j].mean())
    own = [f["own_importance"] for f in folds.values() if f["own_importance"].size == len(names)]
    own_mean = np.mean(own, axis=0) if own else None
    return PermutationImportance(auc0, drops.mean(axis=1), drops.std(axis=1), drops, names), own_mean, n
