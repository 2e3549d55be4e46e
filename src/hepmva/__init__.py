"""hepmva: a HEP multivariate-analysis toolkit and Snakemake workflow.

Submodules (each importable on its own; the package never imports Snakemake):

- :mod:`hepmva.config`         load + validate the study configuration
- :mod:`hepmva.io`             ROOT in (uproot, chunked), tables out, friend trees, model files
- :mod:`hepmva.features`       the safe expression language for features and selections
- :mod:`hepmva.samples`        labels, event weights, deterministic folds
- :mod:`hepmva.feature_table`  one chunk of events -> selected features, spectators, weights, event ids
- :mod:`hepmva.generate`       built-in toy event generator with an exact likelihood ratio
- :mod:`hepmva.preprocessing`  weight-aware feature transforms
- :mod:`hepmva.nn`             the in-house multi-layer perceptron (backpropagation)
- :mod:`hepmva.optim`          update rules, schedules and minimisers (Newton, BFGS, GA)
- :mod:`hepmva.linear`         least squares by the normal equations, the linear discriminant
- :mod:`hepmva.cuts`           rectangular cuts optimised by the genetic algorithm (TMVA CutsGA)
- :mod:`hepmva.peers`          the peers: BDTs, capped SVM, weighted k-NN; safe scikit-learn persistence
- :mod:`hepmva.models`         registry: classifier kind -> estimator, safe persistence
- :mod:`hepmva.metrics`        weighted ROC/AUC, efficiencies, separation, KS/AD, significance, cut scan
- :mod:`hepmva.unsupervised`   clustering, PCA/LDA, anomaly detection
- :mod:`hepmva.studies`        optimizer study, learning-rate scan, training-methods comparison
- :mod:`hepmva.plotting`       plot functions: arrays in, Figure out
- :mod:`hepmva.pipeline`       the study stages called by the workflow scripts (features, training, scores)
- :mod:`hepmva.evaluation`     metrics, plots and the comparison table from out-of-fold scores
- :mod:`hepmva.learning_curves` loss and AUC per boosting round or epoch (train vs held-out)
- :mod:`hepmva.writeback`      out-of-fold scores as ROOT friend trees
- :mod:`hepmva.bundle`         self-describing model bundles (write, load checked, score arrays)
- :mod:`hepmva.stages`         workflow stages; :mod:`hepmva.stages.apply` scores new ntuples (friend trees, templates)
- :mod:`hepmva.cli`            the ``hepmva`` command (``hepmva apply MODEL_DIR FILES... -o OUT``)
- :mod:`hepmva.logs`           logging set-up for scripts
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
