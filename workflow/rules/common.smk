# Helpers of the workflow: every input function and derived list lives here, named for what it returns.

import glob

from hepmva.config import ConfigError, validate_config
from hepmva.io import is_remote

try:
    config.update(validate_config(config))
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

SAMPLES = [s["name"] for s in config["samples"]]
CLASSIFIERS = [c["name"] for c in config["classifiers"]]
FEATURES = [f["name"] for f in config["features"]]
FOLDS = list(range(config["folds"]))
APPLY_SAMPLES = [s["name"] for s in config["apply"]["samples"]] if config["apply"]["activate"] else []


wildcard_constraints:
    sample="|".join(SAMPLES),
    classifier="|".join(CLASSIFIERS),
    fold=r"\d+",
    apply_sample="|".join(APPLY_SAMPLES) or "(?!)",


def get_sample(name):
    return next(s for s in config["samples"] if s["name"] == name)


def get_classifier(name):
    return next(c for c in config["classifiers"] if c["name"] == name)


def get_sample_config(wildcards):
    return get_sample(wildcards.sample)


def get_classifier_config(wildcards):
    return get_classifier(wildcards.classifier)


def get_fold(wildcards):
    return int(wildcards.fold)


def get_classifier_scores_by_name(wildcards=None):
    return {name: f"results/scores/{name}.parquet" for name in CLASSIFIERS}


def get_feature_labels(wildcards=None):
    """Axis labels of the features (a function, so that braces in LaTeX labels are not read as wildcards)."""
    return [f.get("label", f["name"]) for f in config["features"]]


def get_generated_samples():
    return [s["name"] for s in config["samples"] if "generate" in s]


def get_sample_files(wildcards):
    """Input ROOT files of a sample: the generator's output, or the config's files (local globs expanded).

    Remote URLs (root://...) stay as written: the job checks and expands them on their server
    (hepmva.io.expand_files) and uproot streams them; they are not Snakemake file inputs.
    """
    sample = get_sample(wildcards.sample)
    if "generate" in sample:
        return [f"results/generated/{sample['name']}.root"]
    files = []
    for pattern in sample["files"]:
        matched = sorted(glob.glob(pattern)) if glob.has_magic(pattern) and not is_remote(pattern) else [pattern]
        files.extend(matched or [pattern])
    return files


def get_local_sample_files(wildcards):
    """The local input files of a sample: Snakemake's file inputs (remote URLs are passed as params)."""
    return [f for f in get_sample_files(wildcards) if not is_remote(f)]


def get_feature_tables(wildcards=None):
    return expand("results/features/{sample}.parquet", sample=SAMPLES)


def get_fold_scores(wildcards):
    return expand("results/models/{classifier}/scores_fold{fold}.parquet", classifier=wildcards.classifier, fold=FOLDS)


def get_fold_models(wildcards):
    return expand("results/models/{classifier}/fold{fold}", classifier=wildcards.classifier, fold=FOLDS)


def get_classifier_metrics(wildcards=None):
    return expand("results/metrics/{classifier}.json", classifier=CLASSIFIERS)


def get_classifier_scores(wildcards=None):
    return expand("results/scores/{classifier}.parquet", classifier=CLASSIFIERS)


def get_friend_trees(wildcards=None):
    if not config["writeback"]["activate"]:
        return []
    return expand("results/friends/{sample}", sample=SAMPLES)


def get_training_methods_output(wildcards=None):
    if not config["training_methods"]["activate"]:
        return []
    return ["results/training_methods/summary.json", "results/plots/training_methods.png"]


def get_optimizer_study_output(wildcards=None):
    if not config["optimizer_study"]["activate"]:
        return []
    return [
        "results/optimizer_study/summary.json",
        "results/plots/optimizer_study.png",
        "results/plots/learning_rate_scan.png",
    ]


def get_unsupervised_comparison_input(wildcards=None):
    """Anomaly scores and every classifier's out-of-fold scores, keyed for the comparison script."""
    return {"anomaly": "results/unsupervised/anomaly_scores.parquet", **get_classifier_scores_by_name()}


def get_unsupervised_summary_input(wildcards=None):
    """The JSON of each active unsupervised study, keyed by study."""
    cfg = config["unsupervised"]
    inputs = {}
    if cfg["clustering"]["activate"]:
        inputs["clustering"] = "results/unsupervised/clustering.json"
    if cfg["decomposition"]["activate"]:
        inputs["decomposition"] = "results/unsupervised/decomposition.json"
    if cfg["anomaly"]["activate"]:
        inputs["comparison"] = "results/unsupervised/anomaly_comparison.json"
    return inputs


def get_unsupervised_output(wildcards=None):
    """The unsupervised stage's targets: the summary table and every active study's plots."""
    cfg = config["unsupervised"]
    targets = []
    if cfg["clustering"]["activate"]:
        targets += ["results/unsupervised/plots/clusters_pca", "results/unsupervised/plots/cluster_yields"]
    if cfg["decomposition"]["activate"]:
        targets += [f"results/unsupervised/plots/{name}.png" for name in ("pca_scree", "pca_loadings", "pca_components", "fisher")]
    if cfg["anomaly"]["activate"]:
        targets += ["results/unsupervised/plots/anomaly_scores", "results/unsupervised/plots/anomaly_roc.png"]
    if targets:
        targets += ["results/unsupervised/summary.md", "results/unsupervised/summary.csv"]
    return targets


# ------------------------------------------------------------------ model bundle and apply (apply.smk)
def get_bundle_study(wildcards=None):
    """The study definition a model bundle carries (hepmva.bundle.study_block's arguments)."""
    return {
        "features": config["features"],
        "spectators": config["spectators"],
        "define": config["define"],
        "aliases": config["aliases"],
        "selection": config["selection"],
        "samples": [{"name": s["name"], "label": s["label"], "selection": s.get("selection")} for s in config["samples"]],
        "event_id": config["event_id"],
        "folds": config["folds"],
        "training": config["training"],
        "luminosity_pb": config["luminosity_pb"],
    }


def get_spectator_names(wildcards=None):
    return [s["name"] for s in config["spectators"]]


def get_classifier_bundles(wildcards=None):
    return expand("results/models/{classifier}/bundle.json", classifier=CLASSIFIERS)


def get_apply_classifiers(wildcards=None):
    """Classifiers the apply stage scores with (apply.classifiers, or all)."""
    return config["apply"]["classifiers"] or CLASSIFIERS


def get_apply_classifier_bundles(wildcards=None):
    return expand("results/models/{classifier}/bundle.json", classifier=get_apply_classifiers())


def get_apply_sample(name):
    return next(s for s in config["apply"]["samples"] if s["name"] == name)


def get_apply_sample_config(wildcards):
    return get_apply_sample(wildcards.apply_sample)


def _local_files(patterns):
    """Local files of some patterns (globs expanded): Snakemake's file inputs (remote URLs are expanded by the job)."""
    files = []
    for pattern in patterns:
        if is_remote(pattern):
            continue
        matched = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        files.extend(matched or [pattern])
    return files


def get_apply_files(wildcards):
    """The local input files of an apply sample: nominal and tree variations (remote ones are read by the job)."""
    sample = get_apply_sample(wildcards.apply_sample)
    files = _local_files(sample["files"])
    for spec in sample.get("variations", {}).values():
        files += _local_files(spec["files"])
    return files


def get_apply_tables(wildcards=None):
    return expand("results/apply/{apply_sample}/table.parquet", apply_sample=APPLY_SAMPLES)


def get_apply_output(wildcards=None):
    """The apply stage's targets: tables, friend trees, templates and plots (sculpting with spectators and a background)."""
    if not APPLY_SAMPLES:
        return []
    targets = get_apply_tables() + expand("results/apply/{apply_sample}/friends", apply_sample=APPLY_SAMPLES)
    targets += expand("results/apply/templates/{classifier}.root", classifier=get_apply_classifiers())
    targets += expand("results/apply/plots/{classifier}_stack.png", classifier=get_apply_classifiers())
    has_background = any(s["kind"] == "mc" and s["label"] == "background" for s in config["apply"]["samples"])
    if config["spectators"] and has_background:
        targets += expand("results/apply/plots/{classifier}_sculpting.png", classifier=get_apply_classifiers())
    return targets


def get_final_output(wildcards=None):
    """Everything the default target builds."""
    targets = [
        "results/summary.md",
        "results/summary.csv",
        "results/plots/roc_comparison.png",
        "results/plots/inputs",
        "results/plots/correlation_signal.png",
        "results/plots/correlation_background.png",
    ]
    targets += expand("results/plots/classifiers/{classifier}_roc.png", classifier=CLASSIFIERS)
    targets += get_friend_trees()
    targets += get_training_methods_output()
    targets += get_optimizer_study_output()
    targets += get_unsupervised_output()
    targets += ["results/models/bundle.json"] + get_apply_output()
    return targets
