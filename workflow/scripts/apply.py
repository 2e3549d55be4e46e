"""Score one part of one apply sample (an input file or an entry range of one, of one variation): its
friend tree and its table part."""

from pathlib import Path

from hepmva.logs import log_to
from hepmva.stages.apply import apply_part

log_to(snakemake.log[0])
p = snakemake.params
apply_part(
    Path(snakemake.input.bundle).parent,
    p.sample,
    p.part,
    features=p.features,
    define=p.define,
    aliases=p.aliases,
    classifiers=p.classifiers,
    fold_mode=p.fold_mode,
    friend_tree=p.friend_tree,
    step_size=p.step_size,
    scale=snakemake.input.scale[0] if snakemake.input.scale else None,
    friend=snakemake.output.friend,
    table=snakemake.output.table,
    threads=snakemake.threads,
)
