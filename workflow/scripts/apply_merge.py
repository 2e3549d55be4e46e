"""Merge one apply sample's parts: its checks and its manifest summary.json (counts, yields, friend trees, parts)."""

from hepmva.logs import log_to
from hepmva.stages.apply import merge_apply_parts

log_to(snakemake.log[0])
merge_apply_parts(snakemake.params.sample, list(snakemake.input.tables), scales=list(snakemake.input.scales),
                  output=snakemake.output.summary)
