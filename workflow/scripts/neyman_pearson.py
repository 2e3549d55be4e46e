"""Metrics of the exact likelihood ratio, when the samples carry it."""

from hepmva.stages.evaluate import neyman_pearson_limit
from hepmva.logs import log_to

log_to(snakemake.log[0])
p = snakemake.params
neyman_pearson_limit(
    list(snakemake.input.tables),
    eff_b=p.eff_b,
    n_bootstrap=p.n_bootstrap,
    evaluation=p.evaluation,
    seed=p.seed,
    output=snakemake.output.metrics,
    curve_path=snakemake.output.curve,
)
