"""A simulated apply sample's variation: cross-section, sum of weights of all its parts, physics-weight scale."""

from hepmva.logs import log_to
from hepmva.stages.apply import merge_scale

log_to(snakemake.log[0])
p = snakemake.params
merge_scale(p.sample, p.variation, list(snakemake.input.sums), luminosity_pb=p.luminosity_pb,
            output=snakemake.output.scale)
