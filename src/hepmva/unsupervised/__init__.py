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

from importlib import import_module

#: public name -> its submodule, imported on first use (PEP 562): the PCA / LDA and summary jobs of the workflow
#: read this package without importing scikit-learn's clustering and density models (~1.5 CPU s per job)
_SUBMODULE = {
    "ANOMALY_DETECTORS": "anomaly", "make_detector": "anomaly", "rbm_free_energy": "anomaly",
    "CLUSTERING_METHODS": "clustering", "ClusteringResult": "clustering", "ClusterYields": "clustering",
    "cluster_yields": "clustering", "run_clustering": "clustering",
    "FisherDiscriminant": "decomposition", "WeightedPCA": "decomposition", "weighted_covariance": "decomposition",
}


def __getattr__(name: str):
    if name not in _SUBMODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_SUBMODULE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)


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
