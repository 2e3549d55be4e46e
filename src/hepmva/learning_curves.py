"""Learning curves: the event-weighted loss (and AUC) of a fitted model as a function of its training stage.

Which stages a model has is its kind record's ``stages`` (:data:`hepmva.models.KINDS`); the readers:

- ``"iteration_range"``: boosting rounds; stage ``k`` is ``predict_proba(X, iteration_range=(0, k))``;
- ``"staged_predict_proba"``: boosting rounds of scikit-learn-style ensembles;
- ``"loss_curve"``: models that record their training (``loss_curve_``, e.g.
  :class:`hepmva.nn.MLPClassifier`), in the model's ``loss_curve_unit`` (epochs; iterations for
  full-batch solvers, generations for the GA). These curves are the ones recorded during fitting:
  ``loss_curve_`` (the training cost, mean over the epoch's mini-batches, L2 penalty included) and
  ``validation_loss_curve_`` (the loss on the validation data passed to ``fit``, when there was
  any); the events given to :func:`learning_curve` are not re-scored per epoch (the weights of
  past epochs are not kept);
- None (random forest, bagging, a single tree, SVM, k-NN, linear models): no curve.

For boosted models the loss is the event-weighted binary cross-entropy

    L = - sum_i w_i [y_i ln p_i + (1 - y_i) ln(1 - p_i)] / sum_i w_i

with ``p`` clipped to ``[eps, 1 - eps]``, and the AUC is the event-weighted
:func:`hepmva.metrics.roc_auc`; both are computed on at most ``max_events`` randomly chosen training
and test events (seeded), so a curve costs seconds.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hepmva.checks import subsample_index
from hepmva.metrics import roc_auc
from hepmva.models import kind_of

__all__ = ["LearningCurve", "learning_curve", "weighted_log_loss", "stage_grid"]

log = logging.getLogger(__name__)


class LearningCurve(NamedTuple):
    """Loss (and AUC) per training stage of one fitted model.

    Attributes
    ----------
    x_label : str
        What the stages are: ``"boosting rounds"``, ``"epoch"``, ``"iteration"`` or ``"generation"``.
    x : ndarray of shape (n_points,)
        Stage numbers (1-based, increasing; the last one is the final model).
    train_loss : ndarray of shape (n_points,)
        Loss on the training events.
    test_loss : ndarray of shape (n_points,) or None
        Loss on the held-out (or validation) events; None when there are none.
    train_auc, test_auc : ndarray of shape (n_points,) or None
        Event-weighted AUC at the same stages (None where not computed).
    loss_label : str
        What the loss is (axis label).
    note : str
        Where the numbers come from (shown on the plot).
    test_label : str
        What the events of ``test_loss`` are (legend).
    """

    x_label: str
    x: NDArray[np.int64]
    train_loss: NDArray[np.float64]
    test_loss: NDArray[np.float64] | None
    train_auc: NDArray[np.float64] | None = None
    test_auc: NDArray[np.float64] | None = None
    loss_label: str = "Weighted binary cross-entropy"
    note: str = ""
    test_label: str = "held-out events"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (arrays as lists, None kept)."""
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self._asdict().items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LearningCurve:
        """Inverse of :meth:`to_dict`."""
        def arr(key: str, dtype=np.float64):
            v = d.get(key)
            return None if v is None else np.asarray(v, dtype=dtype)

        try:
            return cls(str(d["x_label"]), arr("x", np.int64), arr("train_loss"), arr("test_loss"),
                       arr("train_auc"), arr("test_auc"), str(d.get("loss_label", cls._field_defaults["loss_label"])),
                       str(d.get("note", "")), str(d.get("test_label", cls._field_defaults["test_label"])))
        except KeyError as exc:
            raise ValueError(f"learning curve lacks key {exc.args[0]!r}") from None


def weighted_log_loss(y: ArrayLike, p: ArrayLike, w: ArrayLike | None = None, *, eps: float = 1e-7) -> float:
    """Event-weighted binary cross-entropy.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        1 for signal, 0 for background.
    p : array-like of shape (n_samples,)
        Predicted signal probability; clipped to ``[eps, 1 - eps]``.
    w : array-like of shape (n_samples,), optional
        Event weights (negative allowed; their sum must be positive).
    eps : float, default 1e-7

    Returns
    -------
    float : ``- sum_i w_i [y_i ln p_i + (1 - y_i) ln(1 - p_i)] / sum_i w_i``
    """
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.clip(np.asarray(p, dtype=np.float64).ravel(), eps, 1.0 - eps)
    w = np.ones_like(y) if w is None else np.asarray(w, dtype=np.float64).ravel()
    if not (y.shape == p.shape == w.shape):
        raise ValueError(f"weighted_log_loss: y, p, w have shapes {y.shape}, {p.shape}, {w.shape}")
    wsum = w.sum()
    if not wsum > 0:
        raise ValueError(f"weighted_log_loss: the sum of the event weights is {wsum!r}, must be positive")
    L = -(y * np.log(p) + (1.0 - y) * np.log1p(-p))
    return float(np.dot(w, L) / wsum)


def stage_grid(n_stages: int, n_points: int) -> NDArray[np.int64]:
    """About ``n_points`` distinct stages in ``1..n_stages``, evenly spread, always with 1 and ``n_stages``."""
    if n_stages < 1:
        raise ValueError(f"stage_grid: n_stages={n_stages} must be >= 1")
    if n_points < 2:
        raise ValueError(f"stage_grid: n_points={n_points} must be >= 2")
    return np.unique(np.round(np.linspace(1, n_stages, min(n_points, n_stages))).astype(np.int64))


def learning_curve(
    estimator,
    X_train: ArrayLike,
    y_train: ArrayLike,
    w_train: ArrayLike | None,
    X_test: ArrayLike,
    y_test: ArrayLike,
    w_test: ArrayLike | None,
    *,
    n_points: int = 25,
    max_events: int | None = 20000,
    auc: bool = True,
    random_state: int | np.random.Generator | None = 0,
    stages: str | None = None,
    stages_note: str | None = None,
) -> LearningCurve | None:
    """The learning curve of a fitted binary classifier, or None when the model has no stages.

    Parameters
    ----------
    estimator : fitted classifier
        See the module docstring for the supported kinds.
    X_train : ndarray of shape (n_train, n_features)
        Training events (as the estimator saw them, i.e. scaled).
    y_train : ndarray of shape (n_train,)
        Labels in the estimator's ``classes_`` (``classes_[1]`` = signal).
    w_train : ndarray of shape (n_train,) or None
        Event weights of the training events.
    X_test, y_test, w_test : the same for the held-out events.
    n_points : int, default 25
        Stages evaluated for boosted models (recorded curves keep all their points).
    max_events : int or None, default 20000
        Cap on the training and on the test events used (seeded random subsample each).
    auc : bool, default True
        Also the weighted AUC at every stage (boosted models only).
    random_state : int, Generator or None, default 0
        Seeds the subsampling.
    stages, stages_note : str, optional
        How to read the stages and the note of the curve; default: the record of the estimator's
        kind (:func:`hepmva.models.kind_of`), no curve for an unregistered class.

    Returns
    -------
    LearningCurve or None
    """
    if stages is None:
        record = kind_of(estimator)
        stages, stages_note = (None, None) if record is None else (record.stages, record.stages_note)
    classes = getattr(estimator, "classes_", None)
    if stages is None or classes is None or len(classes) != 2:
        return None
    rng = np.random.default_rng(random_state)
    sets = []
    for X, y, w in ((X_train, y_train, w_train), (X_test, y_test, w_test)):
        X = np.asarray(X)
        y = np.asarray(y)
        w = np.ones(len(y)) if w is None else np.asarray(w, dtype=np.float64)
        if not (X.ndim == 2 and len(X) == len(y) == len(w)):
            raise ValueError(f"learning_curve: X, y, w have inconsistent shapes {X.shape}, {y.shape}, {w.shape}")
        idx = subsample_index(len(y), max_events, rng)
        if len(idx) < len(y):
            X, y, w = X[idx], y[idx], w[idx]
        sets.append((X, (y == classes[1]).astype(np.float64), w))

    if stages == "iteration_range":
        n_rounds = int(estimator.get_booster().num_boosted_rounds())
        grid = stage_grid(n_rounds, n_points)

        def probas(X):
            return [estimator.predict_proba(X, iteration_range=(0, int(k)))[:, 1] for k in grid]

        return _from_probas("boosting rounds", grid, [probas(X) for X, _, _ in sets], sets, auc,
                            stages_note or "predict_proba with the first k boosting rounds")
    if stages == "staged_predict_proba":
        n_stages = sum(1 for _ in estimator.staged_predict_proba(sets[1][0][:1]))
        grid = stage_grid(n_stages, n_points)
        keep = set(int(k) for k in grid)

        def probas(X):
            return [p[:, 1] for k, p in enumerate(estimator.staged_predict_proba(X), start=1) if k in keep]

        return _from_probas("boosting rounds", grid, [probas(X) for X, _, _ in sets], sets, auc,
                            stages_note or "staged_predict_proba after k boosting rounds")
    loss_curve = getattr(estimator, "loss_curve_", None)
    if loss_curve is not None and len(loss_curve) > 0:
        train = np.asarray(loss_curve, dtype=np.float64)
        val = np.asarray(getattr(estimator, "validation_loss_curve_", None) or [], dtype=np.float64)
        test = val if len(val) == len(train) else None
        unit = getattr(estimator, "loss_curve_unit", "epoch")
        iterations = unit != "epoch"
        loss_name = getattr(estimator, "loss", "cross_entropy")
        loss_name = loss_name if isinstance(loss_name, str) else type(loss_name).__name__
        note = ("recorded during fitting: training cost (mean over the epoch's mini-batches, L2 penalty "
                "included)" if not iterations else "recorded during fitting: training cost (L2 penalty included)")
        if test is None:
            note += "; no validation data in fit, so no held-out curve"
        else:
            note += "; validation loss on the validation events of fit (not the held-out fold)"
            if getattr(estimator, "early_stopping", False):
                note += "; early stopping keeps the epoch of lowest validation loss"
        return LearningCurve(unit, np.arange(1, len(train) + 1, dtype=np.int64), train, test,
                             loss_label=f"Weighted loss ({loss_name})", note=note,
                             test_label="validation events of fit")
    return None


def _from_probas(x_label, grid, probas, sets, auc: bool, how: str) -> LearningCurve:
    losses, aucs = [], []
    for p_list, (_, y, w) in zip(probas, sets):
        losses.append(np.array([weighted_log_loss(y, p, w) for p in p_list]))
        both = w[y == 1].sum() > 0 and w[y == 0].sum() > 0
        aucs.append(np.array([roc_auc(y, p, w) for p in p_list]) if auc and both else None)
    return LearningCurve(x_label, np.asarray(grid, dtype=np.int64), losses[0], losses[1], aucs[0], aucs[1],
                         note=f"{how}; {len(sets[0][1])} training / {len(sets[1][1])} test events")
