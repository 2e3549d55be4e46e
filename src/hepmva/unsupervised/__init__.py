"""Unsupervised studies: clustering, PCA / Fisher LDA and anomaly detection.

- :mod:`~hepmva.unsupervised.clustering`     six clustering methods scored against the truth
- :mod:`~hepmva.unsupervised.decomposition`  in-house weighted PCA (SVD); the Fisher discriminant (re-exported) lives in hepmva.linear
- :mod:`~hepmva.unsupervised.anomaly`        density / distance anomaly scores trained on background
  (judged by :func:`hepmva.studies.anomaly.run_anomaly`)
- the workflow stage is :mod:`hepmva.stages.unsupervised` (one function per rule)

Functions take arrays: ``X`` of shape (n_samples, n_features) (scaled features), ``y`` (1 =
signal, 0 = background, used only to *score* clustering and anomaly detection), ``sample_weight``
(event weights, negative ones allowed). Negative-weight policy:

- clustering: weights enter the fit (k-means, DBSCAN) clipped at zero; yields keep the sign;
- PCA: weighted covariance as is (SVD of ``sqrt(w) (X - mu)`` when all weights are >= 0,
  eigen-decomposition of the covariance otherwise);
- Fisher discriminant: weights as given (each class needs a positive total);
- anomaly detection: density estimates see the weights clipped at zero (passed to KDE and the
  isolation forest, a weighted bootstrap for the others); the ROC/AUC keep the sign.
"""

from hepmva.unsupervised.anomaly import (
    ANOMALY_DETECTORS,
    make_detector,
    rbm_free_energy,
)
from hepmva.unsupervised.clustering import (
    CLUSTERING_METHODS,
    ClusteringResult,
    ClusterYields,
    cluster_yields,
    run_clustering,
)
from hepmva.unsupervised.decomposition import FisherDiscriminant, WeightedPCA, weighted_covariance

__all__ = [
    "ANOMALY_DETECTORS",
    "make_detector",
    "rbm_free_energy",
    "CLUSTERING_METHODS",
    "ClusteringResult",
    "ClusterYields",
    "cluster_yields",
    "run_clustering",
    "FisherDiscriminant",
    "WeightedPCA",
    "weighted_covariance",
]
