"""Clustering of the (scaled) features and its scoring against the truth labels.

The six methods of the lecture, by their scikit-learn implementations:

=================  ========================================  =========  ===================
name               estimator                                 weights    default fit sample
=================  ========================================  =========  ===================
``kmeans``         :class:`sklearn.cluster.KMeans`           yes        all events
``gmm``            :class:`sklearn.mixture.GaussianMixture`  no         all events
``dbscan``         :class:`sklearn.cluster.DBSCAN`           yes        capped (cost)
``meanshift``      :class:`sklearn.cluster.MeanShift`        no         capped (quadratic)
``agglomerative``  :class:`sklearn.cluster.AgglomerativeClustering`  no  capped (quadratic)
``affinity``       :class:`sklearn.cluster.AffinityPropagation`      no  capped (quadratic)
=================  ========================================  =========  ===================

Methods whose memory (or, for DBSCAN on dense data, neighbourhood cost) grows quadratically
are fitted on a seeded uniform subsample of at most ``max_samples`` events (the cap is stored
in the result; k-means and the Gaussian mixture may be capped too, for speed). The cluster
labels are then *extended* to every event by the fitted estimator's ``predict`` where it has
one (nearest centre, exemplar or most probable component: cheap). DBSCAN and agglomerative
clustering have no ``predict``; with ``extend=True`` an event gets the label of the nearest
core sample within ``eps`` (else noise, ``-1``), respectively of the nearest fitted event,
which costs a nearest-neighbour query of every event against the fit sample. Without
extension these two are scored on the fit sample alone, with the yields scaled by
``n_samples / n_fit`` (an unbiased estimate of the full yields for a uniform subsample).

The fit weights are the event weights clipped at zero and normalised to unit mean (so
DBSCAN's ``min_samples`` keeps its meaning of "events"); methods marked "no" ignore weights
in the fit. Scoring against the truth uses every labelled event: the adjusted Rand index and
the normalised mutual information (both on event counts, as defined), and per cluster the
weighted signal and background yields and the signal purity ``S / (S + B)``.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator
from sklearn.cluster import DBSCAN, AffinityPropagation, AgglomerativeClustering, KMeans, MeanShift
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

from hepmva.checks import check_weights, check_X, check_y, subsample_index

__all__ = [
    "CLUSTERING_METHODS",
    "DEFAULT_MAX_SAMPLES",
    "ClusterYields",
    "ClusteringResult",
    "cluster_yields",
    "make_clusterer",
    "run_clustering",
]

logger = logging.getLogger(__name__)

#: config name -> scikit-learn class
CLUSTERING_METHODS: dict[str, type[BaseEstimator]] = {
    "kmeans": KMeans,
    "gmm": GaussianMixture,
    "dbscan": DBSCAN,
    "meanshift": MeanShift,
    "agglomerative": AgglomerativeClustering,
    "affinity": AffinityPropagation,
}

#: default cap on the number of events a method is fitted on (None = all events)
DEFAULT_MAX_SAMPLES: dict[str, int | None] = {
    "kmeans": None,
    "gmm": None,
    "dbscan": 10_000,
    "meanshift": 3_000,
    "agglomerative": 5_000,
    "affinity": 1_500,
}

#: defaults used when the caller does not set a parameter
_DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "kmeans": {"n_clusters": 4, "n_init": 4},
    "gmm": {"n_components": 4, "covariance_type": "full"},
    "dbscan": {"eps": 0.5, "min_samples": 10},
    "meanshift": {"bin_seeding": True},
    "agglomerative": {"n_clusters": 4, "linkage": "ward"},
    "affinity": {"damping": 0.9, "max_iter": 300, "preference": "min"},
}

_WEIGHTED = {"kmeans", "dbscan"}
_NO_PREDICT = {"dbscan", "agglomerative"}
_SEEDED = {"kmeans", "gmm", "affinity"}


class ClusterYields(NamedTuple):
    """Per-cluster truth content.

    Attributes
    ----------
    cluster : ndarray of shape (n_clusters,)
        Cluster labels, sorted (``-1`` is DBSCAN noise).
    n_events : ndarray of shape (n_clusters,)
        Number of events in each cluster.
    yield_s, yield_b : ndarray of shape (n_clusters,)
        Weighted signal and background yields.
    purity : ndarray of shape (n_clusters,)
        Signal purity ``S / (S + B)`` (NaN where ``S + B <= 0``).
    enrichment : ndarray of shape (n_clusters,)
        ``purity`` divided by the purity of all events together (> 1: signal-enriched).
    """

    cluster: NDArray[np.int64]
    n_events: NDArray[np.int64]
    yield_s: NDArray[np.float64]
    yield_b: NDArray[np.float64]
    purity: NDArray[np.float64]
    enrichment: NDArray[np.float64]


@dataclass
class ClusteringResult:
    """Outcome of :func:`run_clustering`.

    Attributes
    ----------
    method : str
        Method name (a key of :data:`CLUSTERING_METHODS`).
    labels : ndarray of shape (n_labelled,)
        Cluster label of the events ``index``.
    index : ndarray of shape (n_labelled,)
        Indices of the labelled events: all events, or the fit sample when the labels were
        not extended.
    fit_index : ndarray of shape (n_fit,)
        Indices of the events the estimator was fitted on.
    n_clusters : int
        Number of clusters found (DBSCAN noise not counted).
    ari, nmi : float
        Adjusted Rand index and normalised mutual information of ``labels`` vs truth.
    yields : ClusterYields
        Per-cluster weighted yields and purity.
    max_samples : int or None
        The cap that was applied (None: fitted on all events).
    fit_seconds : float
        Wall time of the fit.
    params : dict
        The estimator parameters used.
    """

    method: str
    labels: NDArray[np.int64]
    index: NDArray[np.int64]
    fit_index: NDArray[np.int64]
    n_clusters: int
    ari: float
    nmi: float
    yields: ClusterYields
    max_samples: int | None
    fit_seconds: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def n_fit(self) -> int:
        """Number of events the estimator was fitted on."""
        return int(len(self.fit_index))

    def summary(self) -> dict[str, Any]:
        """Scalar summary, JSON-able (for the results table)."""
        purity = self.yields.purity
        finite = np.isfinite(purity)
        return {
            "method": self.method,
            "n_clusters": self.n_clusters,
            "n_fit": self.n_fit,
            "n_labelled": int(len(self.index)),
            "max_samples": self.max_samples,
            "ari": self.ari,
            "nmi": self.nmi,
            "max_purity": float(purity[finite].max()) if finite.any() else float("nan"),
            "fit_seconds": self.fit_seconds,
        }


def cluster_yields(labels: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> ClusterYields:
    """Weighted signal/background yields and purity per cluster.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Integer cluster labels.
    y : array-like of shape (n_samples,)
        Truth, 1 = signal, 0 = background.
    sample_weight : array-like of shape (n_samples,), optional
        Event weights (negative allowed). Default: unit weights.

    Returns
    -------
    ClusterYields
    """
    labels = np.asarray(labels).astype(np.int64)
    n = len(labels)
    y = check_y(y, n)
    w = check_weights(sample_weight, n)
    cluster, inverse = np.unique(labels, return_inverse=True)
    k = len(cluster)
    n_events = np.bincount(inverse, minlength=k).astype(np.int64)
    yield_s = np.bincount(inverse, weights=w * (y == 1), minlength=k)
    yield_b = np.bincount(inverse, weights=w * (y == 0), minlength=k)
    total = yield_s + yield_b
    with np.errstate(invalid="ignore", divide="ignore"):
        purity = np.where(total > 0, yield_s / np.where(total > 0, total, 1.0), np.nan)
    all_s, all_tot = yield_s.sum(), total.sum()
    global_purity = all_s / all_tot if all_tot > 0 and all_s > 0 else np.nan
    enrichment = purity / global_purity
    return ClusterYields(cluster, n_events, yield_s, yield_b, purity, enrichment)


def make_clusterer(method: str, params: dict[str, Any] | None = None, random_state: int = 0) -> BaseEstimator:
    """Construct the scikit-learn estimator for ``method`` with defaults overridden by ``params``.

    Raises
    ------
    ValueError
        On an unknown method or an unknown parameter (named in the message).
    """
    if method not in CLUSTERING_METHODS:
        raise ValueError(f"unknown clustering method {method!r}; choose from {sorted(CLUSTERING_METHODS)}")
    cls = CLUSTERING_METHODS[method]
    kwargs = dict(_DEFAULT_PARAMS[method])
    kwargs.update(params or {})
    valid = cls().get_params()
    for key in kwargs:
        if key not in valid:
            raise ValueError(f"clustering.{method}: unknown parameter {key!r}")
    if method == "affinity" and isinstance(kwargs.get("preference"), str):
        kwargs.pop("preference")  # resolved on the fit sample by run_clustering
    if method in _SEEDED:
        kwargs.setdefault("random_state", random_state)
    return cls(**kwargs)


def _fit_weights(w: NDArray[np.float64]) -> NDArray[np.float64]:
    """Event weights clipped at zero, normalised to unit mean (for the fit only)."""
    w_fit = np.clip(w, 0.0, None)
    mean = w_fit.mean()
    if not mean > 0:
        raise ValueError("sample_weight: no event has a positive weight")
    return w_fit / mean


def _extend_dbscan(est: DBSCAN, X_fit: NDArray[np.float64], X: NDArray[np.float64]) -> NDArray[np.int64]:
    """Label of the nearest core sample if within ``eps``, else noise (-1)."""
    core = est.core_sample_indices_
    if len(core) == 0:
        return np.full(len(X), -1, dtype=np.int64)
    nn = NearestNeighbors(n_neighbors=1).fit(X_fit[core])
    dist, idx = nn.kneighbors(X)
    lab = est.labels_[core][idx[:, 0]]
    return np.where(dist[:, 0] <= est.eps, lab, -1).astype(np.int64)


def _extend_nearest(labels_fit: NDArray[np.int64], X_fit: NDArray[np.float64], X: NDArray[np.float64]) -> NDArray[np.int64]:
    """Label of the nearest fitted event."""
    nn = NearestNeighbors(n_neighbors=1).fit(X_fit)
    idx = nn.kneighbors(X, return_distance=False)[:, 0]
    return labels_fit[idx].astype(np.int64)


def run_clustering(
    X: ArrayLike,
    y: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    method: str = "kmeans",
    params: dict[str, Any] | None = None,
    max_samples: int | None | str = "default",
    extend: bool = False,
    random_state: int = 0,
) -> ClusteringResult:
    """Cluster the events and score the clusters against the truth.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Scaled features.
    y : array-like of shape (n_samples,)
        Truth, 1 = signal, 0 = background (used for scoring only).
    sample_weight : array-like of shape (n_samples,), optional
        Event weights (negative allowed): passed to the fit where the method supports it
        (clipped at zero, unit mean), always used for the yields.
    method : str, default "kmeans"
        One of :data:`CLUSTERING_METHODS`.
    params : dict, optional
        Estimator parameters, overriding the module defaults.
    max_samples : int, None or "default"
        Cap on the fit sample (seeded uniform subsample); "default" takes
        :data:`DEFAULT_MAX_SAMPLES`, None fits on all events.
    extend : bool, default False
        Extend DBSCAN and agglomerative labels from a capped fit sample to every event by a
        nearest-neighbour query (O(n_samples x n_fit) distance work); other methods are
        always extended through their ``predict``.
    random_state : int, default 0
        Seed for the subsample and the seeded estimators.

    Returns
    -------
    ClusteringResult
    """
    X = check_X(X)
    n = X.shape[0]
    y = check_y(y, n)
    w = check_weights(sample_weight, n)
    est = make_clusterer(method, params, random_state)
    cap = DEFAULT_MAX_SAMPLES[method] if isinstance(max_samples, str) and max_samples == "default" else max_samples
    if isinstance(cap, str):
        raise ValueError(f"max_samples must be an integer, None or 'default', got {cap!r}")
    rng = np.random.default_rng(random_state)
    fit_index = subsample_index(n, cap, rng)
    X_fit = X[fit_index]
    logger.info("clustering %s on %d of %d events", method, len(fit_index), n)

    if method == "affinity":
        pref = {**_DEFAULT_PARAMS[method], **(params or {})}.get("preference")
        if isinstance(pref, str):
            est.set_params(preference=_affinity_preference(X_fit, pref))

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if method in _WEIGHTED:
            est.fit(X_fit, sample_weight=_fit_weights(w[fit_index]))
        else:
            est.fit(X_fit)
        fit_seconds = time.perf_counter() - t0
        labels_fit = (est.predict(X_fit) if method == "gmm" else est.labels_).astype(np.int64)
        index = np.arange(n)
        w_score = w
        if len(fit_index) == n:
            labels = labels_fit
        elif method in _NO_PREDICT and not extend:
            labels, index = labels_fit, fit_index
            w_score = w * (n / len(fit_index))
        else:
            if method == "dbscan":
                labels = _extend_dbscan(est, X_fit, X)
            elif method == "agglomerative":
                labels = _extend_nearest(labels_fit, X_fit, X)
            else:
                labels = est.predict(X).astype(np.int64)
            labels[fit_index] = labels_fit
    for warning in caught:
        logger.warning("clustering %s: %s", method, warning.message)

    y_l = y[index]
    yields = cluster_yields(labels, y_l, w_score[index])
    n_clusters = int(np.sum(yields.cluster >= 0))
    result = ClusteringResult(
        method=method,
        labels=labels,
        index=index,
        fit_index=fit_index,
        n_clusters=n_clusters,
        ari=float(adjusted_rand_score(y_l, labels)),
        nmi=float(normalized_mutual_info_score(y_l, labels)),
        yields=yields,
        max_samples=None if cap is None else int(cap),
        fit_seconds=fit_seconds,
        params={k: v for k, v in est.get_params().items() if _is_jsonable(v)},
    )
    logger.info(
        "clustering %s: %d clusters, ARI %.3f, NMI %.3f (%.1f s)",
        method, n_clusters, result.ari, result.nmi, fit_seconds,
    )
    return result


def _affinity_preference(X_fit: NDArray[np.float64], rule: str) -> float:
    """Affinity-propagation preference from the similarities ``-|x_i - x_j|^2`` of the fit sample.

    ``"min"`` (the smallest similarity) gives few clusters, ``"median"`` (scikit-learn's
    default) many.
    """
    sq = np.sum(X_fit**2, axis=1)
    S = -(sq[:, None] + sq[None, :] - 2.0 * X_fit @ X_fit.T)
    off = S[~np.eye(len(X_fit), dtype=bool)]
    if rule == "min":
        return float(off.min())
    if rule == "median":
        return float(np.median(off))
    raise ValueError(f"clustering.affinity: preference must be a number, 'min' or 'median', got {rule!r}")


def _is_jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))
