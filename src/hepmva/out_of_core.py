"""Out-of-core training: the kinds that train on more events than fit in memory (learners layer).

Used when a classifier's training set does not fit ``training.memory_budget_mb``
(:func:`hepmva.models.fit_mode`); each function is a kind's ``streams`` in :data:`hepmva.models.KINDS`.
The training set is any object with ``n_events``, ``n_features``, ``weight_mean`` and ``buffers(size)``
yielding chunks with ``X`` (float32), ``y`` and ``w`` in the same order on every call
(:class:`hepmva.training_set.TrainingSet`: the planned, capped events read part by part).

- :func:`fit_xgboost_external`: xgboost's external-memory data iterator (:class:`xgboost.DataIter`) over the
  buffers, into an :class:`xgboost.ExtMemQuantileDMatrix` whose quantised pages are cached on local disk;
  the booster is then the estimator's (saved and scored as any xgboost model).
- :func:`fit_mlp_streamed`: the in-house MLP on mini-batches streamed from the buffers
  (:meth:`hepmva.nn.MLPClassifier.fit_stream`).
"""

from __future__ import annotations

import logging
import tempfile
import time

__all__ = ["fit_xgboost_external", "fit_mlp_streamed", "buffer_events"]

log = logging.getLogger(__name__)


def buffer_events(memory_bytes: int, n_features: int, *, copies: int, floor: int = 1000) -> int:
    """Events per buffer so that ``copies`` float32 copies of it (plus bookkeeping) fit ``memory_bytes``."""
    per_event = copies * 4 * (n_features + 1) + 64
    return max(int(memory_bytes / per_event), floor)


def fit_xgboost_external(est, training_set, *, memory_bytes: int):
    """Fit an ``xgboost.XGBClassifier`` out of core: :class:`xgboost.DataIter` -> ``ExtMemQuantileDMatrix``.

    The estimator's parameters (``n_estimators``, ``max_depth``, ``learning_rate``, ``max_bin``, its
    callbacks, ...) are used as its own ``fit`` would. Memory: one buffer of events at a time while the
    quantised pages are built (cached on local disk), then ~30 bytes per event for the gradients and the
    row partition while boosting, whatever the number of features.
    """
    import xgboost

    batch = min(buffer_events(memory_bytes // 2, training_set.n_features, copies=3), max(training_set.n_events, 1))

    class _Buffers(xgboost.DataIter):
        """The training set's buffers, one xgboost batch each; ``reset`` starts a new pass over the parts."""

        def __init__(self, cache: str) -> None:
            self._it = None
            self.n_batches = 0
            super().__init__(cache_prefix=cache)

        def reset(self) -> None:
            self._it = None

        def next(self, input_data) -> bool:
            if self._it is None:
                self._it = training_set.buffers(batch)
            chunk = next(self._it, None)
            if chunk is None:
                return False
            self.n_batches += 1
            input_data(data=chunk.X, label=chunk.y, weight=chunk.w)
            return True

    params = {k: v for k, v in est.get_xgb_params().items() if v is not None}
    threads = params.pop("n_jobs", None)
    if threads is not None:
        params["nthread"] = threads
    rounds = est.get_params().get("n_estimators") or 100
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hepmva-xgb-") as cache:
        it = _Buffers(f"{cache}/pages")
        dtrain = xgboost.ExtMemQuantileDMatrix(it, max_bin=params.get("max_bin"), nthread=threads)
        log.info("xgboost external memory: %d events in %d batches of <= %d (pages cached in %s) in %.1f s",
                 training_set.n_events, it.n_batches, batch, cache, time.perf_counter() - t0)
        booster = xgboost.train(params, dtrain, num_boost_round=int(rounds),
                                callbacks=list(est.get_params().get("callbacks") or []))
        del dtrain, it  # the cache files go before their directory
    est.load_model(bytearray(booster.save_raw("ubj")))
    return est


def fit_mlp_streamed(est, training_set, *, memory_bytes: int):
    """Fit the in-house MLP on mini-batches streamed from ``training_set``, its buffer sized to ``memory_bytes``.

    With ``early_stopping``, a random ``validation_fraction`` of the events (at most a quarter of the budget)
    is held out, in memory, as the validation set (:meth:`hepmva.training_set.TrainingSet.split_validation`).
    """
    n_features = training_set.n_features
    validation = None
    if est.early_stopping:
        max_val = max(int(memory_bytes / 4 / (4 * n_features + 32)), 1000)
        training_set, val = training_set.split_validation(est.validation_fraction, max_val)
        v = val.load()
        validation = (v.X, v.y, v.w)
        memory_bytes -= v.X.nbytes + 32 * len(v.y)
        log.info("MLP streaming: %d validation events held in memory", len(v.y))
    # per buffered event: the chunk, its augmented copy, the shuffled copy, the carried batch (float32)
    buffer = buffer_events(memory_bytes, n_features, copies=4)
    log.info("MLP streaming: %d events per shuffled buffer (of %d); one epoch = one pass over the parts",
             min(buffer, training_set.n_events), training_set.n_events)
    return est.fit_stream(training_set, buffer_events=buffer, validation_data=validation)
