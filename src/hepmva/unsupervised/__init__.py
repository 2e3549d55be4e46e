"""Unsupervised studies: clustering, PCA / Fisher LDA and anomaly detection.

- :mod:`~hepmva.unsupervised.clustering`     six clustering methods scored against the truth
- :mod:`~hepmva.unsupervised.decomposition`  in-house weighted PCA (SVD) and Fisher discriminant
- :mod:`~hepmva.unsupervised.anomaly`        density / distance anomaly scores trained on background
"""

from hepmva.unsupervised.anomaly import (
    ANOMALY_DETECTORS,
    AnomalyResult,
    make_detector,
    rbm_free_energy,
    run_anomaly,
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
    "AnomalyResult",
    "make_detector",
    "rbm_free_energy",
    "run_anomaly",
    "CLUSTERING_METHODS",
    "ClusteringResult",
    "ClusterYields",
    "cluster_yields",
    "run_clustering",
    "FisherDiscriminant",
    "WeightedPCA",
    "weighted_covariance",
]
