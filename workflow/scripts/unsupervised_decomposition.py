"""Weighted PCA of the scaled features and the out-of-fold Fisher discriminant."""

from hepmva.logs import log_to
from hepmva.stages.unsupervised import decomposition_study

log_to(snakemake.log[0])
p = snakemake.params
decomposition_study(
    list(snakemake.input.tables),
    feature_names=p.features,
    n_components=p.n_components,
    plot_components=p.plot_components,
    fisher_reg=p.fisher_reg,
    training=p.training,
    scaler=p.scaler,
    n_bootstrap=p.n_bootstrap,
    seed=p.seed,
    json_path=snakemake.output.table,
    scree_plot=snakemake.output.scree,
    loadings_plot=snakemake.output.loadings,
    components_plot=snakemake.output.components,
    fisher_plot=snakemake.output.fisher,
)
