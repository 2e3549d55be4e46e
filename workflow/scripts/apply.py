"""Score one apply sample (nominal + variations) with the study's bundle: friend trees and a table."""

from pathlib import Path

from hepmva.logs import log_to
from hepmva.stages.apply import apply_sample

log_to(snakemake.log[0])
p = snakemake.params
apply_sample(
    Path(snakemake.input.bundle).parent,
    p.sample,
    features=p.features,
    define=p.define,
    aliases=p.aliases,
    luminosity_pb=p.luminosity_pb,
    classifiers=p.classifiers,
    fold_mode=p.fold_mode,
    friend_tree=p.friend_tree,
    step_size=p.step_size,
    table=snakemake.output.table,
    friends_dir=snakemake.output.friends,
    summary=snakemake.output.summary,
)
