"""Merge one sample's features parts: cross-section, sum of weights, scale, checks -> the sample's manifest."""

from hepmva.logs import log_to
from hepmva.stages.features import merge_feature_parts

log_to(snakemake.log[0])
p = snakemake.params
merge_feature_parts(p.sample, list(snakemake.input.parts), luminosity_pb=p.luminosity_pb,
                    output=snakemake.output.manifest)
