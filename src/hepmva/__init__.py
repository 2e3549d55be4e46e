"""hepmva: a HEP multivariate-analysis toolkit and Snakemake workflow.

Layers, bottom to top (nothing imports upward; ``tests/test_layers.py`` enforces it):

- foundations:  :mod:`hepmva.errors` (every exception type), :mod:`hepmva.io` (ROOT in, parquet/ROOT/JSON
  out, atomic files and directories),
  :mod:`hepmva.logs` (logging set-up for scripts, one-line errors, progress lines with rate and time left), :mod:`hepmva.checks` (input checks, capped subsampling),
  :mod:`hepmva.jit` (elementwise loops compiled by numba on first use: the MLP's kernels)
- data model:   :mod:`hepmva.config` (+ schema, the one source of defaults), :mod:`hepmva.features`
  (the safe expression language), :mod:`hepmva.samples` (weights, folds), :mod:`hepmva.generate`
  (toy generator with an exact likelihood ratio), :mod:`hepmva.preprocessing` (weighted transforms),
  :mod:`hepmva.datasets` (features tables as arrays, the training-weight policy, the studies' split),
  :mod:`hepmva.feature_table` (one chunk of events -> selected features, spectators, weights, event ids),
  :mod:`hepmva.training_set` (a fold's training events planned and capped per class, yields kept, read part by part),
  :mod:`hepmva.score_parts` (the fold models' score tables, written and read part by part)
- learners:     :mod:`hepmva.estimator` (scikit-learn's estimator protocol without its import: the in-house
  learners' base), :mod:`hepmva.nn` (MLP, backpropagation), :mod:`hepmva.optim` (update rules, schedules,
  minimisers), :mod:`hepmva.linear` (normal equations, linear and Fisher discriminants),
  :mod:`hepmva.cuts` (CutsGA), :mod:`hepmva.peers` (BDTs, capped SVM, k-NN), :mod:`hepmva.models`
  (one record per classifier kind), :mod:`hepmva.out_of_core` (xgboost's external memory, the MLP streamed),
  :mod:`hepmva.persistence` (every model save and load, no pickle), :mod:`hepmva.unsupervised` (clustering, PCA, anomaly),
  :mod:`hepmva.bundle` (self-describing model bundles: write, load checked, score arrays)
- evaluation:   :mod:`hepmva.metrics`, :mod:`hepmva.binned_metrics` (the same from mergeable score
  histograms), :mod:`hepmva.learning_curves`, :mod:`hepmva.histograms` (weighted
  hist histograms: sum w^2, flow bins, integer axes), :mod:`hepmva.plotting` (mplhep),
  :mod:`hepmva.studies` (optimizer study, training methods, a classifier's scores judged)
- stages:       :mod:`hepmva.stages` (one module per ``workflow/rules/*.smk``; each workflow script
  calls one stage function); :mod:`hepmva.stages.apply` scores new ntuples with a bundle
- entry points: :mod:`hepmva.cli` (the ``hepmva`` command: ``hepmva apply MODEL_DIR FILES... -o OUT``)
"""

import os

# pyarrow allocates with the C library's malloc, not its default mimalloc, which keeps the pages it frees: a job
# reading a part block by block grew with the part (writeback: 173, 218, 245 MiB at 10k, 100k, 1M events a file
# with mimalloc; 163, 191, 208 with malloc; benchmarks/bench_part_memory.py). Read when pyarrow loads, so it acts
# where hepmva is imported first (every workflow script, the command line); a user's own setting is kept.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

__version__ = "0.1.0"
__all__ = ["__version__"]
