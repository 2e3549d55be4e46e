"""All classifiers' ROC curves together, with the Neyman-Pearson limit."""

from hepmva.stages.evaluate import plot_roc_comparison
from hepmva.logs import log_to

log_to(snakemake.log[0])
plot_roc_comparison(
    {name: snakemake.input[name] for name in snakemake.params.classifiers},
    luminosity_pb=snakemake.params.luminosity_pb,
    path=snakemake.output.roc,
    limit_path=snakemake.input.limit,
    evaluation=snakemake.params.evaluation,
    plotting=snakemake.params.plotting,
)
