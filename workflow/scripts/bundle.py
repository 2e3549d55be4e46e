"""Write every classifier's bundle.json (results/models/{clf}) and the study's (results/models): one job."""

from hepmva.logs import log_to
from hepmva.stages.apply import write_all_bundles

log_to(snakemake.log[0])
p = snakemake.params
write_all_bundles(p.classifiers, models=p.models, scores=p.scores, study=p.study,
                  outputs=list(snakemake.output.classifier_bundles), output=snakemake.output.bundle)
