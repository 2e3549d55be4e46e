"""The training events of one (classifier, fold), read part by part: memory bounded by the cap, not the dataset.

A training set is planned in one cheap pass over the feature parts (:func:`plan_training_set`, reading only
``label``, ``weight`` and ``fold``), then read as often as needed (:class:`TrainingSet`):

- **Columns**: only the features (in float32) and the bookkeeping columns are ever read.
- **Per-class caps preserving the weighted yields**: with ``max_train_events = N`` each class keeps a
  uniform random subsample (the cap split evenly between the classes; a class with fewer events gives
  its share to the other), and the kept events' weights are scaled up by
  ``(sum of the class's weights) / (sum of the kept weights)``, so every class's weighted yield is
  exactly that of the full training folds.
- **Deterministic and independent of the parts**: an event is kept when its random key, a hash of
  ``(seed, fold, sample, row)`` (:func:`event_keys`), is among the ``k`` smallest of its class
  ("bottom-k" sampling, selected while streaming with memory ``O(k)`` keys). The selection is the same
  for any split of the samples into parts, and the plan is a threshold per class, so every later pass
  selects the same events part by part, statelessly.

The training weights (the ``training`` block's negative-weight policy and class balance, mean 1) are
computed per part from per-class factors fixed by the plan, identical to
:func:`hepmva.samples.training_weights` on the whole set.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from hepmva.config import with_defaults
from hepmva.datasets import TrainingPolicy, iter_feature_blocks, iter_feature_parts
from hepmva.errors import InputError, TrainingError
from hepmva.logs import Progress
from hepmva.preprocessing import Scaler
from hepmva.samples import ExactSum

__all__ = ["event_keys", "class_caps", "ClassPlan", "TrainingPlan", "plan_training_set", "TrainingChunk",
           "TrainingSet", "BOOKKEEPING", "sample_name", "random_events",
           "TRAIN_JOB_OVERHEAD_MB", "train_job_mem_mb"]

log = logging.getLogger(__name__)

#: columns read besides the features
BOOKKEEPING = ("label", "weight", "fold")
#: memory (MB) a train job needs besides its training set: the interpreter and libraries, one part, the scoring
TRAIN_JOB_OVERHEAD_MB = 1500
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijective, well-mixed hash of uint64 (wrap-around arithmetic)."""
    x = x.astype(np.uint64, copy=True)
    x += np.uint64(0x9E3779B97F4A7C15)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def event_keys(sample: str, row: np.ndarray, *, seed: int, stream: int) -> np.ndarray:
    """Uniform random uint64 keys of the events ``row`` of ``sample``, shape (n,).

    A pure function of ``(seed, stream, sample, row)``: the same event gets the same key whatever part it
    is read in. ``stream`` separates independent selections (fold, purpose).
    """
    digest = hashlib.blake2b(f"{int(seed)}/{int(stream)}/{sample}".encode(), digest_size=8).digest()
    base = np.uint64(int.from_bytes(digest, "little"))
    with np.errstate(over="ignore"):
        return _splitmix64(np.asarray(row).astype(np.uint64) ^ base)


def random_events(paths: Sequence[str | Path], feature_names: Sequence[str], n_events: int | None, *, seed: int,
                  stream: int, dtype=None):
    """A uniform random subsample of ``n_events`` events of every sample, read block by block (memory: the
    subsample plus one block of :data:`hepmva.datasets.BLOCK_EVENTS`), as one DataFrame: the features, the
    bookkeeping columns and ``row``.

    The events are those with the ``n_events`` smallest :func:`event_keys` (bottom-k), so the subsample, and
    its order (by key), are the same however the samples are split into parts. ``n_events`` None: every event
    (in key order).
    """
    kept = None
    for sample, _part, frame in iter_feature_blocks(paths, columns=list(feature_names), dtype=dtype):
        if not len(frame):
            continue
        keys = event_keys(sample_name(sample, frame), frame["row"].to_numpy(), seed=seed, stream=stream)
        frame = frame.assign(_key=keys)
        if n_events is not None and len(frame) > n_events:
            frame = frame.iloc[np.argpartition(keys, int(n_events) - 1)[:int(n_events)]]
        kept = frame if kept is None else pd.concat([kept, frame], ignore_index=True)
        if n_events is not None and len(kept) > n_events:
            kept = kept.iloc[np.argpartition(kept["_key"].to_numpy(), int(n_events) - 1)[:int(n_events)]]
    if kept is None:
        raise InputError("the feature tables hold no events")
    return kept.sort_values("_key", kind="stable").drop(columns="_key").reset_index(drop=True)


def train_job_mem_mb(training: dict | None) -> int:
    """The memory (MB) a train job requests (the rule's ``resources: mem_mb``): the config's
    ``training.memory_budget_mb`` for the training set plus :data:`TRAIN_JOB_OVERHEAD_MB`."""
    return int(np.ceil(with_defaults("training", training)["memory_budget_mb"])) + TRAIN_JOB_OVERHEAD_MB


def sample_name(sample: str, frame) -> str:
    """The events' sample: the frame's ``sample`` column (what the score tables and the other stages key on),
    else the name the reader gave the part."""
    if "sample" in frame.columns and len(frame):
        return str(frame["sample"].iloc[0])
    return sample


def class_caps(counts: Sequence[int], cap: int | None) -> tuple[int, ...]:
    """Events kept per class under a total ``cap``: split evenly, a small class's unused share to the others.

    >>> class_caps([100, 10_000], 1000)
    (100, 900)
    """
    counts = [int(c) for c in counts]
    if cap is None or sum(counts) <= cap:
        return tuple(counts)
    kept = [0] * len(counts)
    left, open_ = int(cap), [i for i, c in enumerate(counts) if c > 0]
    while left > 0 and open_:
        share = max(left // len(open_), 1)
        for i in sorted(open_, key=lambda i: counts[i]):
            take = min(share, counts[i] - kept[i], left)
            kept[i] += take
            left -= take
        open_ = [i for i in open_ if kept[i] < counts[i]]
    return tuple(kept)


@dataclass(frozen=True)
class ClassPlan:
    """The selection of one class: events with ``key <= threshold`` are kept, weights times ``scale``."""

    label: int
    n_total: int            # training events of the class in the training folds
    n_kept: int
    threshold: int          # largest kept key (uint64 as int); 2**64 - 1 keeps all
    scale: float            # (sum of the class's weights) / (sum of the kept weights)
    yield_total: float      # the class's weighted yield (physics weights), kept events x scale give it back
    policy_sum: float       # sum of the kept events' scaled weights after the negative-weight policy


@dataclass(frozen=True)
class TrainingPlan:
    """Which events of the training folds are trained on (see :func:`plan_training_set`)."""

    fold: int
    seed: int
    classes: tuple[ClassPlan, ...]   # label 0, label 1
    n_total: int
    per_path: tuple[int, ...] = ()   # kept events per path (sample), for interleaved buffers
    #: a validation split of the kept events by a second key: (threshold, side); side True keeps
    #: ``key2 <= threshold`` (the validation events), False the others (the events trained on)
    split: tuple[int, bool] | None = None
    held_out: bool = False           # the events OF fold ``fold`` (a held-out sample) instead of the others

    @property
    def n_kept(self) -> int:
        return sum(c.n_kept for c in self.classes)

    def weight_factors(self, policy: TrainingPolicy) -> np.ndarray:
        """Per-label factor turning policy-transformed, scaled weights into training weights (mean 1), shape (2,)."""
        sums = np.array([c.policy_sum for c in self.classes])
        if policy.class_balance:
            for c in self.classes:
                if c.n_kept and not c.policy_sum > 0:
                    raise TrainingError(
                        f"training weights: total weight of class {'signal' if c.label else 'background'} is "
                        f"{c.policy_sum:g} (not positive); check the samples' weights or use "
                        "training.negative_weights: abs")
            balance = np.where(sums > 0, 0.5 / np.where(sums > 0, sums, 1.0), 1.0)
        else:
            balance = np.ones(2)
        total = float(np.dot(sums, balance))
        if not total > 0:
            raise TrainingError(f"training weights: total training weight is {total:g}, not positive")
        return balance * (self.n_kept / total)


def _policy(w: np.ndarray, policy: TrainingPolicy) -> np.ndarray:
    if policy.negative_weights == "zero":
        return np.where(w < 0, 0.0, w)
    if policy.negative_weights == "abs":
        return np.abs(w)
    return w


def plan_training_set(paths: Sequence[str | Path], *, fold: int, cap: int | None, seed: int,
                      policy: TrainingPolicy, name: str = "training", held_out: bool = False) -> TrainingPlan:
    """One pass over the parts (label, weight, fold only): counts, per-class bottom-k keys, yields.

    The events of every fold but ``fold`` (with ``held_out``: of fold ``fold``, e.g. a capped held-out
    sample for a learning curve).

    Memory: at most ``cap`` keys and weights per class, plus one block of a part's three columns.

    Raises
    ------
    TrainingError
        One class only in the training folds, or a class whose kept weights do not sum to a positive
        number (the weights cannot be scaled back to the class's yield).
    """
    keep_max = None if cap is None else int(cap)
    keys: list[np.ndarray] = [np.empty(0, np.uint64)] * 2
    weights: list[np.ndarray] = [np.empty(0, np.float64)] * 2
    where: list[np.ndarray] = [np.empty(0, np.int64)] * 2    # index of the path of each kept key
    n_total, yields = [0, 0], [ExactSum(), ExactSum()]  # exact: the same bits however the parts split a sample
    per_path_all = np.zeros(len(paths), np.int64)
    policy_all = [ExactSum(), ExactSum()]
    progress = Progress(log, f"{name} fold {fold}: planning the training set", unit="events")
    for i, path in enumerate(paths):
        for sample, _part, frame in iter_feature_blocks([path], columns=list(BOOKKEEPING)):
            progress.update(len(frame))
            sample = sample_name(sample, frame)
            train = (frame["fold"].to_numpy() == fold) == held_out
            label = frame["label"].to_numpy()[train]
            w = frame["weight"].to_numpy(dtype=np.float64)[train]
            k = event_keys(sample, frame["row"].to_numpy()[train], seed=seed, stream=fold)
            for c in (0, 1):
                m = label == c
                n_total[c] += int(m.sum())
                yields[c].add(w[m])
                if keep_max is None:  # no cap: every event is kept, nothing to remember but the sums
                    per_path_all[i] += int(m.sum())
                    policy_all[c].add(_policy(w[m], policy))
                    continue
                kc, wc = np.concatenate([keys[c], k[m]]), np.concatenate([weights[c], w[m]])
                pc = np.concatenate([where[c], np.full(int(m.sum()), i, np.int64)])
                if keep_max is not None and len(kc) > keep_max:
                    idx = np.argpartition(kc, keep_max - 1)[:keep_max]
                    kc, wc, pc = kc[idx], wc[idx], pc[idx]
                keys[c], weights[c], where[c] = kc, wc, pc
    progress.done()
    if min(n_total) == 0:
        raise TrainingError(f"{name} fold {fold}: the training set has only one class; "
                            "need signal and background events in every fold")
    if keep_max is None:
        classes = tuple(ClassPlan(c, n_total[c], n_total[c], _ALL, 1.0, yields[c].value, policy_all[c].value)
                        for c in (0, 1))
        return TrainingPlan(int(fold), int(seed), classes, sum(n_total), tuple(int(n) for n in per_path_all),
                            held_out=held_out)
    caps = class_caps(n_total, cap)
    classes, per_path = [], np.zeros(len(paths), np.int64)
    for c in (0, 1):
        order = np.argsort(keys[c], kind="stable")[:caps[c]]
        per_path += np.bincount(where[c][order], minlength=len(paths))
        all_kept = caps[c] == n_total[c]
        threshold = _ALL if all_kept else int(keys[c][order[-1]])
        classes.append(_class_plan(c, n_total[c], caps[c], threshold, weights[c][order], yields[c].value, policy,
                                   exact=all_kept, what=f"{name} fold {fold}"))
    return TrainingPlan(int(fold), int(seed), tuple(classes), sum(n_total), tuple(int(n) for n in per_path),
                        held_out=held_out)


_ALL = int(np.iinfo(np.uint64).max)


def _class_plan(c: int, n_total: int, n_kept: int, threshold: int, kept_w: np.ndarray | float, yield_total: float,
                policy: TrainingPolicy, *, exact: bool, what: str, policy_sum: float | None = None) -> ClassPlan:
    """The plan of class ``c`` keeping events of raw weights ``kept_w`` (or their sum), scaled back to the yield."""
    kept_sum = float(np.sum(kept_w))
    if exact:
        scale = 1.0
    elif kept_sum > 0 and yield_total > 0:
        scale = yield_total / kept_sum
    else:
        raise TrainingError(
            f"{what}: the {n_kept} kept {'signal' if c else 'background'} events' weights sum to {kept_sum:.4g} "
            f"(class yield {yield_total:.4g}): cannot preserve the yield; raise max_train_events")
    if policy_sum is None:
        policy_sum = float(_policy(np.asarray(kept_w) * scale, policy).sum())
    else:
        policy_sum *= scale
    return ClassPlan(c, n_total, n_kept, threshold, scale, yield_total, policy_sum)


class TrainingChunk(NamedTuple):
    """The selected training events of one part."""

    X: np.ndarray          # (n, n_features) float32, scaled when the set has a scaler
    y: np.ndarray          # (n,) int64 labels
    w: np.ndarray          # (n,) float64 training weights (policy, class balance, mean 1 over the set)
    weight: np.ndarray     # (n,) float64 physics weights x the class's cap scale
    sample: str
    row: np.ndarray        # (n,) int64, the events' rows in their sample


class TrainingSet:
    """The planned training events of one fold, read part by part (see the module docstring).

    Parameters
    ----------
    paths : feature tables / datasets (whatever ``get_feature_tables()`` gives), one per sample
    feature_names : the features, read in float32
    plan : from :func:`plan_training_set` (or :meth:`split_validation`)
    policy : the training block as a :class:`hepmva.datasets.TrainingPolicy`
    scaler : optional fitted :class:`hepmva.preprocessing.Scaler`, applied to every chunk (float32)
    """

    def __init__(self, paths: Sequence[str | Path], feature_names: Sequence[str], plan: TrainingPlan,
                 policy: TrainingPolicy, scaler: Scaler | None = None) -> None:
        self.paths = list(paths)
        self.feature_names = list(feature_names)
        self.plan = plan
        self.policy = policy
        self.scaler = scaler
        self._factors = plan.weight_factors(policy)
        self._thresholds = np.array([c.threshold for c in plan.classes], dtype=np.uint64)
        self._scales = np.array([c.scale for c in plan.classes])

    @property
    def n_events(self) -> int:
        return self.plan.n_kept

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def weight_mean(self) -> float:
        """Mean training weight of the set (1 by construction, to rounding)."""
        return 1.0

    def with_scaler(self, scaler: Scaler) -> TrainingSet:
        """The same events, scaled by ``scaler``."""
        return TrainingSet(self.paths, self.feature_names, self.plan, self.policy, scaler)

    def _select(self, sample: str, frame) -> tuple[np.ndarray, np.ndarray]:
        """(mask of the part's selected events, their labels)."""
        label = frame["label"].to_numpy().astype(np.int64)
        row = frame["row"].to_numpy()
        keys = event_keys(sample, row, seed=self.plan.seed, stream=self.plan.fold)
        sel = ((frame["fold"].to_numpy() == self.plan.fold) == self.plan.held_out) & (keys <= self._thresholds[label])
        if self.plan.split is not None:
            threshold, side = self.plan.split
            below = event_keys(sample, row, seed=self.plan.seed, stream=_SPLIT_STREAM + self.plan.fold) \
                <= np.uint64(threshold)
            sel &= below if side else ~below
        return sel, label[sel]

    def chunks(self, paths: Sequence[str | Path] | None = None, *, whole_parts: bool = False) -> Iterator[TrainingChunk]:
        """The selected events block by block of each part (of ``paths``, default all), in part and row order:
        memory one block (:data:`hepmva.datasets.BLOCK_EVENTS`), however many events a part holds; with
        ``whole_parts`` one chunk per part (memory one part)."""
        columns = self.feature_names + list(BOOKKEEPING)
        read = iter_feature_parts if whole_parts else iter_feature_blocks
        for sample, _part, frame in read(self.paths if paths is None else paths, columns=columns, dtype=np.float32):
            sample = sample_name(sample, frame)
            missing = [f for f in self.feature_names if f not in frame.columns]
            if missing:
                raise InputError(f"features of sample '{sample}' lack column(s) {', '.join(missing)}: "
                                 "re-run the features stage")
            sel, y = self._select(sample, frame)
            if not sel.any():
                continue
            X = frame[self.feature_names].to_numpy(dtype=np.float32)[sel]
            if self.scaler is not None:
                X = self.scaler.transform(X, dtype=np.float32)
            weight = frame["weight"].to_numpy(dtype=np.float64)[sel] * self._scales[y]
            w = _policy(weight, self.policy) * self._factors[y]
            yield TrainingChunk(np.ascontiguousarray(X), y, w, weight, sample, frame["row"].to_numpy()[sel])

    def load(self) -> TrainingChunk:
        """All selected events in memory (``n_events`` x ``n_features`` float32), in part order.

        ``sample`` is empty (the events come from several samples): use :meth:`chunks` for per-sample rows.
        """
        progress = Progress(log, f"fold {self.plan.fold}: reading the training events", total=self.n_events)
        parts = []
        for chunk in self.chunks():
            parts.append(chunk)
            progress.update(len(chunk.y))
        progress.done()
        return _concat(parts, self.n_features)

    def buffers(self, size: int) -> Iterator[TrainingChunk]:
        """The selected events in buffers of about ``size`` events, every sample in proportion in each.

        A sample (= one class) is never streamed alone: each buffer takes ``ceil(size * n_s / n)`` events of
        every sample ``s`` in turn, so shuffling within a buffer mixes the classes as in the whole set. With
        ``size >= n_events`` the one buffer is exactly :meth:`load`. Memory: the buffer plus one part per
        sample.
        """
        n = max(self.n_events, 1)
        shares = [int(np.ceil(size * k / n)) for k in self.plan.per_path] or [size] * len(self.paths)
        sources = [self.chunks([p]) for p in self.paths]
        pending: list[TrainingChunk | None] = [None] * len(self.paths)
        while True:
            pieces = []
            for i, source in enumerate(sources):
                need = shares[i]
                while need > 0:
                    if pending[i] is None:
                        pending[i] = next(source, None)
                        if pending[i] is None:
                            break
                    head, pending[i] = _split_chunk(pending[i], need)
                    pieces.append(head)
                    need -= len(head.y)
            if not pieces:
                return
            yield _concat(pieces, self.n_features)

    def pieces(self, size: int) -> Iterator[TrainingChunk]:
        """The selected events part after part, each part cut into pieces of at most ``size`` events (samples not
        mixed: for learners that do not care about the order, e.g. xgboost's external memory). Memory: one part."""
        for chunk in self.chunks(whole_parts=True):
            while chunk is not None:
                head, chunk = _split_chunk(chunk, size)
                yield head

    def fit_scaler(self) -> Scaler:
        """The configured scaler fitted (weighted) on the selected events, streaming over the parts.

        One update per part, as the scaler has always been fitted: the pairwise merge agrees to rounding for
        other splits, and blocks would change the last bits of every study's scaler and so its models."""
        acc = Scaler(self.policy.scaler).accumulator(self.n_features)
        for chunk in TrainingSet(self.paths, self.feature_names, self.plan, self.policy).chunks(whole_parts=True):
            acc.update(chunk.X, chunk.w)
        return acc.finish()

    def split_validation(self, fraction: float, max_events: int | None = None) -> tuple[TrainingSet, TrainingSet]:
        """(events trained on, validation events): a random ``fraction`` (at most about ``max_events``) held out.

        The split is by a second event key, so it is part-independent like the cap; each side's weights are
        scaled back to the class yields. One pass over the bookkeeping columns counts the sides.
        """
        q = min(float(fraction), 1.0 if max_events is None else max_events / max(self.n_events, 1))
        threshold = min(int(q * 2.0 ** 64), _ALL)
        sides = []
        for side in (False, True):
            plan = replace(self.plan, split=(threshold, side))
            probe = TrainingSet(self.paths, [], plan, self.policy)
            n, per_path = np.zeros(2, np.int64), np.zeros(len(self.paths), np.int64)
            raw, pol = [ExactSum(), ExactSum()], [ExactSum(), ExactSum()]
            for i, path in enumerate(self.paths):
                for sample, _part, frame in iter_feature_parts([path], columns=list(BOOKKEEPING)):
                    sel, y = probe._select(sample_name(sample, frame), frame)
                    w = frame["weight"].to_numpy(dtype=np.float64)[sel]
                    n += np.bincount(y, minlength=2)
                    for c in (0, 1):
                        raw[c].add(w[y == c])
                        pol[c].add(_policy(w[y == c], self.policy))
                    per_path[i] += int(sel.sum())
            if min(n) == 0:
                raise TrainingError(f"fold {self.plan.fold}: a validation split of {q:.3g} leaves a class without "
                                    f"{'validation' if side else 'training'} events; use more events")
            classes = tuple(_class_plan(c.label, c.n_total, int(n[c.label]), c.threshold, raw[c.label].value,
                                        c.yield_total, self.policy, exact=False, what=f"fold {self.plan.fold}",
                                        policy_sum=pol[c.label].value) for c in self.plan.classes)
            plan = replace(plan, classes=classes, per_path=tuple(int(k) for k in per_path))
            sides.append(TrainingSet(self.paths, self.feature_names, plan, self.policy, self.scaler))
        return sides[0], sides[1]


_SPLIT_STREAM = 1 << 20


def _concat(parts: list[TrainingChunk], n_features: int) -> TrainingChunk:
    if not parts:
        return TrainingChunk(np.empty((0, n_features), np.float32), np.empty(0, np.int64), np.empty(0),
                             np.empty(0), "", np.empty(0, np.int64))
    if len(parts) == 1:
        return parts[0]._replace(sample="")
    return TrainingChunk(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("X", "y", "w", "weight")),
                         "", np.concatenate([p.row for p in parts]))


def _split_chunk(chunk: TrainingChunk, n: int) -> tuple[TrainingChunk, TrainingChunk | None]:
    """(the first ``n`` events, the rest or None)."""
    if len(chunk.y) <= n:
        return chunk, None
    head = TrainingChunk(*(getattr(chunk, f)[:n] for f in ("X", "y", "w", "weight")), chunk.sample, chunk.row[:n])
    tail = TrainingChunk(*(getattr(chunk, f)[n:] for f in ("X", "y", "w", "weight")), chunk.sample, chunk.row[n:])
    return head, tail
