"""The table of numbers of the unsupervised studies (markdown and CSV)."""

from hepmva.logs import log_to
from hepmva.stages.unsupervised import summarize_unsupervised

log_to(snakemake.log[0])
inputs = dict(snakemake.input.items())
summarize_unsupervised(
    inputs.get("clustering"),
    inputs.get("decomposition"),
    inputs.get("comparison"),
    md_path=snakemake.output.md,
    csv_path=snakemake.output.csv,
)
