"""Optimizer study: every first-order optimizer on the same MLP, plus the learning-rate scan."""

from hepmva.logs import log_to
from hepmva.stages.optimizer_study import run_optimizer_study

log_to(snakemake.log[0])
p = snakemake.params
run_optimizer_study(
    list(snakemake.input.tables),
    feature_names=p.features,
    training=p.training,
    settings=p.settings,
    seed=p.seed,
    summary_path=snakemake.output.summary,
    comparison_plot_path=snakemake.output.comparison,
    lr_scan_plot_path=snakemake.output.lr_scan,
)
