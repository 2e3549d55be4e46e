"""Write the out-of-fold scores as ROOT friend trees, one per input file of the sample."""

from hepmva.logs import log_to
from hepmva.stages.writeback import write_friend_trees

log_to(snakemake.log[0])
p = snakemake.params
write_friend_trees(
    list(p.files),
    snakemake.input.table,
    {name: list(snakemake.input[name]) for name in p.classifiers},
    sample=p.sample,
    tree=p.tree,
    directory=snakemake.output.friends,
    spectators=p.spectators,
)
