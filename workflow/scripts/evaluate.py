"""Metrics and plots of one classifier's out-of-fold scores."""

from pathlib import Path

from hepmva.stages.evaluate import evaluate_classifier
from hepmva.logs import log_to

log_to(snakemake.log[0])
p = snakemake.params
evaluate_classifier(
    list(snakemake.input.scores),
    [Path(m) / "model.json" for m in snakemake.input.models],
    name=p.name,
    eff_b=p.eff_b,
    n_bootstrap=p.n_bootstrap,
    seed=p.seed,
    luminosity_pb=p.luminosity_pb,
    metrics_path=snakemake.output.metrics,
    roc_path=snakemake.output.roc,
    score_plot_path=snakemake.output.score,
    overtraining_plot_path=snakemake.output.overtraining,
    cut_scan_plot_path=snakemake.output.cut_scan,
    learning_curve_plot_path=snakemake.output.learning_curve,
    limit_path=snakemake.input.limit,
    evaluation=p.evaluation,
    plotting=p.plotting,
)
