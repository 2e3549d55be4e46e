"""Metrics, plots and permutation importance of one classifier, from its out-of-fold scores and those of shuffled events."""

from pathlib import Path

from hepmva.stages.evaluate import evaluate_and_rank
from hepmva.logs import log_to

log_to(snakemake.log[0])
p = snakemake.params
out = snakemake.output
evaluate_and_rank(
    list(snakemake.input.scores),
    list(snakemake.input.models),
    list(snakemake.input.importance),
    name=p.name,
    eff_b=p.eff_b,
    n_bootstrap=p.n_bootstrap,
    seed=p.seed,
    luminosity_pb=p.luminosity_pb,
    metrics_path=out.metrics,
    roc_path=out.roc,
    score_plot_path=out.score,
    overtraining_plot_path=out.overtraining,
    cut_scan_plot_path=out.cut_scan,
    learning_curve_plot_path=out.learning_curve,
    limit_path=snakemake.input.limit,
    curve_path=out.curve,
    evaluation=p.evaluation,
    plotting=p.plotting,
    feature_names=p.features,
    feature_labels=p.feature_labels,
    importance_path=out.importance,
    importance_plot_path=out.importance_plot,
)
