"""Train one classifier on all folds but one, for each of the job's folds; score each held-out fold."""

from hepmva.logs import log_to
from hepmva.stages.train import train_folds

log_to(snakemake.log[0])
p = snakemake.params
train_folds(
    list(snakemake.input.tables),
    classifier=p.classifier,
    folds=p.folds,
    feature_names=p.features,
    training=p.training,
    seed=p.seed,
    threads=snakemake.threads,
    model_dirs=list(snakemake.output.models),
    scores_paths=list(snakemake.output.scores),
    importance_paths=list(snakemake.output.importance),
    importance=p.importance,
)
