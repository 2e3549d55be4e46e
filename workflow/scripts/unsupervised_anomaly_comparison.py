"""ROC / AUC of the anomaly detectors next to the supervised classifiers, on the same events."""

from hepmva.logs import log_to
from hepmva.stages.unsupervised import anomaly_comparison

log_to(snakemake.log[0])
anomaly_comparison(
    snakemake.input.anomaly,
    {name: list(snakemake.input[name]) for name in snakemake.params.classifiers},
    n_bootstrap=snakemake.params.n_bootstrap,
    seed=snakemake.params.seed,
    json_path=snakemake.output.table,
    roc_plot=snakemake.output.roc,
)
