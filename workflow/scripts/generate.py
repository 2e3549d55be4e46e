"""Write one built-in sample with hepmva.generate."""

from hepmva.stages.generate import generate_sample
from hepmva.logs import log_to

log_to(snakemake.log[0])
generate_sample(snakemake.params.sample, seed=snakemake.params.seed, output=snakemake.output.root)
