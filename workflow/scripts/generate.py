"""Write one built-in sample with hepmva.generate."""

from hepmva.generate import write_sample
from hepmva.logs import log_to

log_to(snakemake.log[0])
gen = snakemake.params.sample["generate"]
write_sample(
    snakemake.output.root,
    gen["process"],
    gen["n_events"],
    seed=snakemake.params.seed,
)
