"""Peer classifiers for the comparison: BDT factories, a capped RBF SVM, weighted k-NN.

Registered in :data:`hepmva.models.KINDS` (one record per config ``kind``; README.md has the full table):

==================  ==============================================  ==================================
kind                target                                          notes
==================  ==============================================  ==================================
``hgb``             ``sklearn.ensemble:HistGradientBoostingClassifier``
``gbdt``            ``sklearn.ensemble:GradientBoostingClassifier``
``adaboost``        ``hepmva.peers:AdaBoostBDT``                    TMVA-like BDT: AdaBoost on depth-3 trees
``random_forest``   ``sklearn.ensemble:RandomForestClassifier``
``bagging``         ``hepmva.peers:BaggedTrees``                    bagged trees with a ``max_depth`` knob
``decision_tree``   ``sklearn.tree:DecisionTreeClassifier``
``svm``             ``hepmva.peers:SVMClassifier``                  RBF SVC on a capped subsample, or
                                                                    Nystroem + linear SVM
``knn``             ``hepmva.peers:WeightedKNNClassifier``          weighted neighbour vote
==================  ==============================================  ==================================

Kernel SVMs and k-NN cost O(n_train) per prediction, so both train on a capped random subsample
of at most ``max_train_events`` events (stated after fitting in ``n_train_used_``).

scikit-learn models are persisted with :mod:`skops.io` by :mod:`hepmva.persistence`: no pickle, and
loading refuses any type outside the kind's exact allow-list (``persistence.SKOPS_TRUSTED``).
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import AdaBoostClassifier, BaggingClassifier
from sklearn.kernel_approximation import Nystroem
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from hepmva.checks import check_weights, subsample_index

__all__ = [
    "AdaBoostBDT",
    "BaggedTrees",
    "SVMClassifier",
    "WeightedKNNClassifier",
    "subsample_events",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# BDTs: scikit-learn ensembles with a tree-depth knob the YAML can set
# --------------------------------------------------------------------------------------------
class AdaBoostBDT(AdaBoostClassifier):
    """AdaBoost on decision trees with TMVA's BDT defaults and a tree-depth knob.

    A :class:`sklearn.ensemble.AdaBoostClassifier` whose base tree is built from
    ``max_depth``/``min_samples_leaf`` (which a YAML config can set, unlike an estimator
    object). Defaults follow TMVA's BDT (``MaxDepth=3``, ``MinNodeSize=2.5%``,
    ``AdaBoostBeta=0.5``), with 400 instead of 800 trees to stay fast.

    Parameters
    ----------
    max_depth : int, default 3
        Depth of each tree.
    min_samples_leaf : int or float, default 0.025
        Minimum leaf size (a fraction of the training events when a float).
    n_estimators : int, default 400
        Number of boosting rounds.
    learning_rate : float, default 0.5
        Shrinkage (TMVA's ``AdaBoostBeta``).
    random_state : int, optional
    """

    def __init__(
        self,
        max_depth: int = 3,
        min_samples_leaf: int | float = 0.025,
        n_estimators: int = 400,
        learning_rate: float = 0.5,
        random_state: int | None = None,
    ) -> None:
        super().__init__(
            estimator=None, n_estimators=n_estimators, learning_rate=learning_rate,
            random_state=random_state,
        )
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf

    def _validate_estimator(self) -> None:
        super()._validate_estimator()
        self.estimator_ = DecisionTreeClassifier(
            max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf
        )

    def _boost(self, iboost, *args, **kwargs):
        """One boosting round (scikit-learn's), then the progress callback ``_on_round`` when the
        training code set one (:func:`hepmva.models.training_progress`, from the kind's record)."""
        out = super()._boost(iboost, *args, **kwargs)
        if getattr(self, "_on_round", None) is not None:
            self._on_round(iboost)
        return out


class BaggedTrees(BaggingClassifier):
    """Bagged decision trees (TMVA's ``BoostType=Bagging``) with a tree-depth knob.

    A :class:`sklearn.ensemble.BaggingClassifier` whose base tree is built from
    ``max_depth``/``min_samples_leaf``.

    Parameters
    ----------
    max_depth : int, optional
        Depth of each tree (unlimited by default).
    min_samples_leaf : int or float, default 1
    n_estimators : int, default 100
    max_samples : int, float or None, default None
        Bootstrap sample size per tree; None draws as many events as there are training
        events, whatever the normalisation of the weights (scikit-learn's weighted bootstrap
        reads a float as a fraction of ``sample_weight.sum()``, which would be tiny for
        class-normalised training weights). Weights are sampling probabilities here, so they
        must be non-negative (apply the negative-weight policy first).
    n_jobs : int, optional
    random_state : int, optional
    """

    def __init__(
        self,
        max_depth: int | None = None,
        min_samples_leaf: int | float = 1,
        n_estimators: int = 100,
        max_samples: int | float | None = None,
        n_jobs: int | None = None,
        random_state: int | None = None,
    ) -> None:
        super().__init__(
            estimator=None, n_estimators=n_estimators, max_samples=max_samples, n_jobs=n_jobs,
            random_state=random_state,
        )
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf

    def _get_estimator(self) -> DecisionTreeClassifier:
        return DecisionTreeClassifier(max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf)


# --------------------------------------------------------------------------------------------
# capped subsampling shared by the SVM and k-NN
# --------------------------------------------------------------------------------------------
def subsample_events(
    X: NDArray,
    y: NDArray,
    w: NDArray,
    max_events: int | None,
    method: str,
    rng: np.random.Generator,
) -> tuple[NDArray, NDArray, NDArray]:
    """Reduce a training set to at most ``max_events`` events.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    w : ndarray of shape (n_samples,)
        Event weights.
    max_events : int or None
        Cap; None or ``>= n_samples`` keeps everything (unchanged).
    method : {"uniform", "weighted"}
        ``"uniform"``: a uniform random subset without replacement, keeping the event weights
        (subsample-with-weights). ``"weighted"``: ``max_events`` draws with replacement with
        probability proportional to ``|w|``; the distinct drawn events get weight
        ``sign(w) * (number of draws)`` -- unbiased for every weighted sum, and with unit-size
        weights the kernel/neighbour methods see the weighted density directly.
    rng : numpy.random.Generator

    Returns
    -------
    X_sub, y_sub, w_sub : ndarrays with at most ``max_events`` rows
    """
    n = len(y)
    if max_events is None or n <= max_events:
        return X, y, w
    if method == "uniform":
        idx = subsample_index(n, max_events, rng)
        return X[idx], y[idx], w[idx]
    if method == "weighted":
        a = np.abs(w)
        if not a.sum() > 0:
            raise ValueError("subsample='weighted' needs non-zero event weights")
        draws = rng.choice(n, size=int(max_events), replace=True, p=a / a.sum())
        idx, counts = np.unique(draws, return_counts=True)
        return X[idx], y[idx], np.sign(w[idx]) * counts
    raise ValueError(f"subsample must be 'uniform' or 'weighted', got {method!r}")


def _check_subsample(method: str) -> None:
    if method not in ("uniform", "weighted"):
        raise ValueError(f"subsample must be 'uniform' or 'weighted', got {method!r}")


# --------------------------------------------------------------------------------------------
# SVM
# --------------------------------------------------------------------------------------------
#: the Nystroem SVM's linear solver is the dual when every event weight (mean 1) is at most this (see SVMClassifier)
DUAL_MAX_WEIGHT = 2.0


class SVMClassifier(ClassifierMixin, BaseEstimator):
    """RBF-kernel support vector machine with a cost cap for large samples.

    Modes (``fitted_mode_`` after ``fit``):

    - ``"exact"``: :class:`sklearn.svm.SVC` (RBF kernel) on at most ``max_train_events`` events
      (random subsample, see :func:`subsample_events`). Training costs O(n^2)-O(n^3) and
      prediction O(n_SV) per event.
    - ``"nystroem"``: :class:`sklearn.kernel_approximation.Nystroem` RBF features
      (``n_components`` landmarks) followed by :class:`sklearn.svm.LinearSVC`, on at most
      ``max_train_events_approx`` events; prediction costs O(n_components) per event. The linear SVM is
      solved in its dual (liblinear's coordinate descent) when no event's weight exceeds ``DUAL_MAX_WEIGHT``
      times the mean, else by the primal Newton solver (``dual="auto"``'s choice for n_samples > n_features).
      Measured on 300 Nystroem features of 50 000 events: with weights within 1.5-1.7 x the mean (the
      default study's class-balanced weights) the dual reaches the primal optimum (or lower) 2-2.5 x faster;
      at 3 x they take the same time; at 9 x and 39 x the dual is 2 x and 6 x slower.

    ``approximation="auto"`` uses the exact SVC when the (positive-weight) training set has at
    most ``max_train_events`` events, Nystroem otherwise.

    Weights: the SVM objective is convex only for non-negative per-event costs ``C * w_i``, so
    events with ``w <= 0`` are left out of training (their number is logged); the remaining
    weights are divided by their mean so that ``C`` keeps its usual meaning whatever the
    normalisation of the training weights.

    Parameters
    ----------
    C : float, default 1.0
        Regularisation (inverse margin penalty).
    gamma : float or "scale", default "scale"
        RBF width; ``"scale"`` is ``1 / (n_features * X.var())`` on the training events.
    approximation : {"auto", "none", "nystroem"}, default "auto"
    max_train_events : int, default 20000
        Cap on the training events of the exact SVC.
    max_train_events_approx : int or None, default 200000
        Cap on the training events of the Nystroem mode (None: no cap).
    n_components : int, default 300
        Nystroem landmarks.
    subsample : {"uniform", "weighted"}, default "uniform"
        How the cap is applied (:func:`subsample_events`).
    random_state : int or None, default 0

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    fitted_mode_ : str
        ``"exact"`` or ``"nystroem"``.
    n_train_used_ : int
        Number of distinct training events the model saw.
    gamma_ : float
        The RBF width used.
    model_ : estimator
        The fitted SVC or Nystroem + LinearSVC pipeline.
    """

    def __init__(
        self,
        C: float = 1.0,
        gamma: float | str = "scale",
        approximation: str = "auto",
        max_train_events: int = 20000,
        max_train_events_approx: int | None = 200000,
        n_components: int = 300,
        subsample: str = "uniform",
        random_state: int | None = 0,
    ) -> None:
        self.C = C
        self.gamma = gamma
        self.approximation = approximation
        self.max_train_events = max_train_events
        self.max_train_events_approx = max_train_events_approx
        self.n_components = n_components
        self.subsample = subsample
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> SVMClassifier:
        """Fit on (a capped subsample of) ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
            Event weights; events with ``w <= 0`` are not used (see class docstring).

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        if self.approximation not in ("auto", "none", "nystroem"):
            raise ValueError(
                f"approximation must be 'auto', 'none' or 'nystroem', got {self.approximation!r}"
            )
        _check_subsample(self.subsample)
        w = check_weights(sample_weight, len(y))
        self.classes_ = np.unique(y)
        keep = w > 0
        if not keep.any():
            raise ValueError("sample_weight: all weights are zero or negative")
        if not keep.all():
            logger.info("SVMClassifier: %d events with weight <= 0 left out", int((~keep).sum()))
        X, y, w = X[keep], y[keep], w[keep]
        if self.approximation == "auto":
            mode = "exact" if len(y) <= self.max_train_events else "nystroem"
        else:
            mode = "exact" if self.approximation == "none" else "nystroem"
        cap = self.max_train_events if mode == "exact" else self.max_train_events_approx
        rng = np.random.default_rng(self.random_state)
        X, y, w = subsample_events(X, y, w, cap, self.subsample, rng)
        if len(np.unique(y)) < 2:
            raise ValueError("SVMClassifier: the training (sub)sample holds one class only")
        w = w / w.mean()
        if self.gamma == "scale":
            var = X.var()
            self.gamma_ = float(1.0 / (X.shape[1] * var)) if var > 0 else 1.0
        else:
            self.gamma_ = float(self.gamma)
        seed = int(rng.integers(2**31 - 1))
        if mode == "exact":
            model = SVC(C=self.C, kernel="rbf", gamma=self.gamma_, random_state=seed)
            model.fit(X, y, sample_weight=w)
        else:
            n_comp = min(self.n_components, len(y))
            model = make_pipeline(
                Nystroem(kernel="rbf", gamma=self.gamma_, n_components=n_comp, random_state=seed),
                LinearSVC(C=self.C, dual=bool(w.max() <= DUAL_MAX_WEIGHT), random_state=seed, max_iter=5000),
            )
            model.fit(X, y, linearsvc__sample_weight=w)
        self.model_ = model
        self.fitted_mode_ = mode
        self.n_train_used_ = int(len(y))
        solver = "" if mode == "exact" else f", linear SVM in the {'dual' if model[-1].dual else 'primal'}"
        logger.info("SVMClassifier: mode=%s on %d events, gamma=%.4g%s", mode, len(y), self.gamma_, solver)
        return self

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """Signed distance to the margin, larger = more like ``classes_[-1]`` (binary).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) (binary) or (n_samples, n_classes)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.model_.decision_function(X)

    def predict(self, X: ArrayLike) -> NDArray:
        """Predicted class labels, shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.model_.predict(X)


# --------------------------------------------------------------------------------------------
# weighted k-NN
# --------------------------------------------------------------------------------------------
class WeightedKNNClassifier(ClassifierMixin, BaseEstimator):
    """k-nearest-neighbour classifier with an event-weighted neighbour vote.

    The neighbour search is :class:`sklearn.neighbors.NearestNeighbors`; the vote is

        p_c(x) = sum_{i in kNN(x)} w_i [y_i = c] / sum_{i in kNN(x)} w_i,

    the weighted fraction of class ``c`` among the ``n_neighbors`` training events nearest to
    ``x`` (for signal vs background: the weighted signal fraction). Negative weights enter the
    sums as they are; a class fraction that comes out negative is set to 0 and the
    fractions renormalised, and a neighbourhood with non-positive net weight falls back to
    the unweighted vote.

    Prediction costs O(log n_train) (tree search) to O(n_train) per event, so the training set
    is capped at ``max_train_events`` events like the SVM's.

    Parameters
    ----------
    n_neighbors : int, default 50
    max_train_events : int or None, default 20000
        Cap on the stored training events (None: no cap). Prediction costs about
        n_train x n_features flops per event: with 20 000 stored events and 10 features,
        roughly 2-5 min per million events on 2 cores.
    subsample : {"uniform", "weighted"}, default "uniform"
        How the cap is applied (:func:`subsample_events`).
    algorithm : {"auto", "ball_tree", "kd_tree", "brute"}, default "brute"
        Neighbour search; brute force (blocked distance computation, multithreaded) beats the
        trees by about 3x for the ~10 features of a typical analysis.
    leaf_size : int, default 30
    batch_size : int, default 65536
        Events queried at a time (bounds the memory of ``predict_proba``).
    n_jobs : int or None, default None
    random_state : int or None, default 0

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_train_used_ : int
    fitted_mode_ : str
        ``"full"`` or ``"subsample"``.
    nn_ : NearestNeighbors
    y_index_ : ndarray of shape (n_train_used_,)
        Class index of every stored event.
    w_ : ndarray of shape (n_train_used_,)
        Weights of the stored events.
    """

    def __init__(
        self,
        n_neighbors: int = 50,
        max_train_events: int | None = 20000,
        subsample: str = "uniform",
        algorithm: str = "brute",
        leaf_size: int = 30,
        batch_size: int = 65536,
        n_jobs: int | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.max_train_events = max_train_events
        self.subsample = subsample
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> WeightedKNNClassifier:
        """Store (a capped subsample of) the training events and build the search tree.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
            Event weights (negative allowed).

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        if int(self.n_neighbors) != self.n_neighbors or self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be a positive integer, got {self.n_neighbors!r}")
        _check_subsample(self.subsample)
        w = check_weights(sample_weight, len(y))
        if not np.any(w != 0):
            raise ValueError("sample_weight: all weights are zero")
        self.classes_, y_index = np.unique(y, return_inverse=True)
        rng = np.random.default_rng(self.random_state)
        n_all = len(y)
        X, y_index, w = subsample_events(X, y_index, w, self.max_train_events, self.subsample, rng)
        self.fitted_mode_ = "full" if len(y_index) == n_all else "subsample"
        self.nn_ = NearestNeighbors(
            algorithm=self.algorithm, leaf_size=self.leaf_size, n_jobs=self.n_jobs
        ).fit(X)
        self.y_index_ = y_index.astype(np.intp)
        self.w_ = w.astype(np.float64)
        self.n_train_used_ = int(len(y_index))
        return self

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Weighted class fractions among the nearest training events.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Rows sum to one; column ``c`` belongs to ``classes_[c]``.
        """
        check_is_fitted(self)
        # the queries in the stored events' dtype: scikit-learn's neighbour search on a float32 query against
        # float64 events (or the reverse) takes a generic path 10-20x slower than the matched one
        X = validate_data(self, X, reset=False, dtype=self.nn_._fit_X.dtype)
        k = min(int(self.n_neighbors), self.n_train_used_)
        n_classes = len(self.classes_)
        out = np.empty((len(X), n_classes))
        for start in range(0, len(X), int(self.batch_size)):
            stop = min(start + int(self.batch_size), len(X))
            idx = self.nn_.kneighbors(X[start:stop], n_neighbors=k, return_distance=False)
            w_nb, c_nb = self.w_[idx], self.y_index_[idx]
            votes = np.zeros((stop - start, n_classes))
            counts = np.zeros((stop - start, n_classes))
            rows = np.repeat(np.arange(stop - start), k)
            np.add.at(votes, (rows, c_nb.ravel()), w_nb.ravel())
            np.add.at(counts, (rows, c_nb.ravel()), 1.0)
            votes = np.maximum(votes, 0.0)
            tot = votes.sum(axis=1, keepdims=True)
            bad = tot[:, 0] <= 0
            votes[bad], tot[bad] = counts[bad], k
            out[start:stop] = votes / tot
        return out

    def predict(self, X: ArrayLike) -> NDArray:
        """Class with the largest weighted fraction, shape (n_samples,)."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
