"""Join the fold models' scores with labels and weights."""

from hepmva.logs import log_to
from hepmva.stages.train import collect_scores

log_to(snakemake.log[0])
collect_scores(list(snakemake.input.scores), list(snakemake.input.tables), snakemake.output.scores)
