"""One part of a simulated apply sample: its exact sum of generator weights (or its files' metadata values)."""

from hepmva.logs import log_to
from hepmva.stages.apply import sum_weights_part

log_to(snakemake.log[0])
p = snakemake.params
sum_weights_part(p.sample, p.part, define=p.define, aliases=p.aliases, step_size=p.step_size,
                 output=snakemake.output.sums)
