"""Permutation importance (weighted AUC drop) of one classifier, with its fold models."""

from hepmva.stages.evaluate import permutation_importance_study
from hepmva.logs import log_to

log_to(snakemake.log[0])
p = snakemake.params
permutation_importance_study(
    list(snakemake.input.tables),
    list(snakemake.input.models),
    feature_names=p.features,
    feature_labels=p.feature_labels,
    name=p.name,
    n_events=p.n_events,
    n_repeats=p.n_repeats,
    seed=p.seed,
    json_path=snakemake.output.importance,
    plot_path=snakemake.output.plot,
)
