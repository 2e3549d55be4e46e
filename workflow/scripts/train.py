"""Train one classifier on all folds but one; score the held-out fold."""

from hepmva.logs import log_to
from hepmva.stages.train import train_fold

log_to(snakemake.log[0])
p = snakemake.params
train_fold(
    list(snakemake.input.tables),
    classifier=p.classifier,
    fold=p.fold,
    feature_names=p.features,
    training=p.training,
    seed=p.seed,
    threads=snakemake.threads,
    model_dir=snakemake.output.model,
    scores_path=snakemake.output.scores,
)
