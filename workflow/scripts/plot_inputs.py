"""Weighted signal-vs-background distribution of every input feature."""

from hepmva.stages.inputs import plot_inputs
from hepmva.logs import log_to

log_to(snakemake.log[0])
plot_inputs(
    list(snakemake.input.tables),
    snakemake.params.features,
    luminosity_pb=snakemake.params.luminosity_pb,
    directory=snakemake.output.plots,
    plotting=snakemake.params.plotting,
    correlation_paths={
        "signal": snakemake.output.corr_signal,
        "background": snakemake.output.corr_background,
    },
)
