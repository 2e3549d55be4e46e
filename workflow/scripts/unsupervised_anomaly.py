"""Anomaly detectors trained on the background of the training folds; signal is the anomaly."""

from hepmva.logs import log_to
from hepmva.stages.unsupervised import anomaly_study

log_to(snakemake.log[0])
p = snakemake.params
anomaly_study(
    list(snakemake.input.tables),
    feature_names=p.features,
    methods=p.methods,
    eval_fold=p.eval_fold,
    max_eval=p.max_eval,
    n_bootstrap=p.n_bootstrap,
    scaler=p.scaler,
    seed=p.seed,
    json_path=snakemake.output.table,
    scores_path=snakemake.output.scores,
    plots_dir=snakemake.output.plots,
)
