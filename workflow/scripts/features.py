"""Build one sample's features table from its ROOT files."""

from hepmva.logs import log_to
from hepmva.stages.features import build_features

log_to(snakemake.log[0])
p = snakemake.params
build_features(
    p.sample,
    list(p.files),
    features=p.features,
    luminosity_pb=p.luminosity_pb,
    folds=p.folds,
    event_id=p.event_id,
    selection=p.selection,
    truth_llr=p.truth_llr,
    spectators=p.spectators,
    step_size=p.step_size,
    define=p.define,
    aliases=p.aliases,
    output=snakemake.output.table,
)
