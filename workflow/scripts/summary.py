"""The comparison table of all classifiers (markdown and CSV)."""

from hepmva.stages.evaluate import summarize
from hepmva.logs import log_to

log_to(snakemake.log[0])
summarize(
    list(snakemake.input.metrics),
    snakemake.input.limit,
    md_path=snakemake.output.md,
    csv_path=snakemake.output.csv,
    importance_paths=list(snakemake.input.importance),
    timings_path=snakemake.output.timings,
)
