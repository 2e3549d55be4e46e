"""Write the study's bundle.json (results/models): the study definition and its classifier bundles."""

from hepmva.logs import log_to
from hepmva.stages.apply import write_study_bundle

log_to(snakemake.log[0])
write_study_bundle(list(snakemake.input.bundles), study=snakemake.params.study, output=snakemake.output.bundle)
