"""Write one classifier's bundle.json (fold models, scalers, file hashes, study definition)."""

from hepmva.logs import log_to
from hepmva.stages.apply import write_bundles

log_to(snakemake.log[0])
p = snakemake.params
write_bundles(list(snakemake.input.models), list(snakemake.input.scores), classifier=p.classifier, study=p.study,
              output=snakemake.output.bundle)
