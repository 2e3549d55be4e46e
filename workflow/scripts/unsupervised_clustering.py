"""Every configured clustering method on the scaled features, scored against the truth."""

from hepmva.logs import log_to
from hepmva.stages.unsupervised import clustering_study

log_to(snakemake.log[0])
p = snakemake.params
clustering_study(
    list(snakemake.input.tables),
    feature_names=p.features,
    methods=p.methods,
    scaler=p.scaler,
    extend=p.extend_labels,
    seed=p.seed,
    plot_points=p.plot_points,
    json_path=snakemake.output.table,
    pca_dir=snakemake.output.pca,
    yields_dir=snakemake.output.yields,
)
