"""Build one part of one sample's features (an input file or an entry range of one)."""

from hepmva.logs import log_to
from hepmva.stages.features import build_feature_part

log_to(snakemake.log[0])
p = snakemake.params
build_feature_part(
    p.sample,
    p.part,
    features=p.features,
    folds=p.folds,
    event_id=p.event_id,
    selection=p.selection,
    truth_llr=p.truth_llr,
    spectators=p.spectators,
    step_size=p.step_size,
    define=p.define,
    aliases=p.aliases,
    output=snakemake.output.part,
)
