"""Spectators of the applied background in bins of one classifier's score (sculpting check)."""

from hepmva.logs import log_to
from hepmva.stages.apply import plot_sculpting

log_to(snakemake.log[0])
p = snakemake.params
plot_sculpting(list(snakemake.input.tables), classifier=p.classifier, spectators=p.spectators,
               output=snakemake.output.plot)
