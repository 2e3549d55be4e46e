"""Score templates (ROOT TH1D per process x variation) of one classifier, and the stacked plot."""

from hepmva.logs import log_to
from hepmva.stages.apply import make_templates

log_to(snakemake.log[0])
p = snakemake.params
make_templates(list(snakemake.input.tables), classifier=p.classifier, score_range=snakemake.input.bundle, bins=p.bins,
               luminosity_pb=p.luminosity_pb, output=snakemake.output.templates, plot=snakemake.output.stack)
