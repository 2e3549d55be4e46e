"""Training-methods comparison: GA vs gradient descent vs BFGS / L-BFGS on the same MLP."""

from hepmva.logs import log_to
from hepmva.stages.training_methods import run_training_methods_study

log_to(snakemake.log[0])
p = snakemake.params
run_training_methods_study(
    list(snakemake.input.tables),
    feature_names=p.features,
    training=p.training,
    settings=p.settings,
    seed=p.seed,
    summary_path=snakemake.output.summary,
    plot_path=snakemake.output.plot,
)
