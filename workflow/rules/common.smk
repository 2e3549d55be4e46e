# Helpers of the workflow: every input function and derived list lives here, named for what it returns.

import glob
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path

from snakemake.exceptions import WorkflowError

from hepmva.feature_table import plan_apply_parts, plan_parts
from hepmva.io import (count_entries, expand_files, is_remote, process_alive, process_start_time,
                       remove_stale_temporaries)
from hepmva.logs import collected_errors, exit_on_error
from hepmva.models import get_kind, job_threads
from hepmva.training_set import train_job_mem_mb

WORKFLOW_START = time.time()
#: who holds Snakemake's lock of this directory (written when a run starts, removed when it ends)
RUN_OWNER = Path(".snakemake/hepmva-run.json")
#: the --configfile(s) the results were made with (written when a run starts)
CONFIGFILES_USED = Path(".snakemake/hepmva-configfiles.json")

SAMPLES = [s["name"] for s in config["samples"]]
CLASSIFIERS = [c["name"] for c in config["classifiers"]]
FEATURES = [f["name"] for f in config["features"]]
FOLDS = list(range(config["folds"]))
APPLY_SAMPLES = [s["name"] for s in config["apply"]["samples"]] if config["apply"]["activate"] else []
APPLY_VARIATIONS = ["nominal"] + sorted({v for s in config["apply"]["samples"] for v in s.get("variations", {})})


wildcard_constraints:
    sample="|".join(SAMPLES),
    part=r"\d+",
    classifier="|".join(CLASSIFIERS),
    fold=r"\d+",
    apply_sample="|".join(APPLY_SAMPLES) or "(?!)",
    variation="|".join(APPLY_VARIATIONS),
    apply_part=r"[^/]+",


def get_sample(name):
    return next(s for s in config["samples"] if s["name"] == name)


def get_classifier(name):
    return next(c for c in config["classifiers"] if c["name"] == name)


def get_sample_config(wildcards):
    return get_sample(wildcards.sample)


def get_classifier_config(wildcards):
    return get_classifier(wildcards.classifier)


def get_classifier_threads(wildcards):
    """Cores a classifier's train job can keep busy: its kind's record says (1 for single-threaded learners,
    which would otherwise hold a core they never use), at most half of --cores (hepmva.models.job_threads: on a
    laptop's 2 cores two single-threaded fits side by side beat one fit on two threads, which spends part of
    the second core waiting); Snakemake scales it down to --cores."""
    return job_threads(get_kind(get_classifier(wildcards.classifier)["kind"]), _total_cores())


def get_classifier_priority(wildcards):
    """The train and evaluate jobs' priority: the kind's relative cost (hepmva.models.Kind.cost, 1-3), so the
    longest jobs start first and the last to finish are short (the studies' rules: STUDY_PRIORITY)."""
    return get_kind(get_classifier(wildcards.classifier)["kind"]).cost


#: priority of a short job that other jobs wait for (the Neyman-Pearson limit curve, which every evaluate job
#: reads; a sample's generation, which every later job waits for): above every train job's, so it runs as soon as
#: its inputs exist, not after the last training
UNLOCKING_PRIORITY = 4

#: priority of the jobs nothing else waits for that take seconds (clustering, anomaly detection, PCA / LDA, the
#: optimizer and training-method comparisons, the input plots: 3-10 s each), next to the middle-cost classifiers'
#: train jobs rather than left to the end, where one core would finish them while the other idles
STUDY_PRIORITY = 2


def _total_cores():
    """--cores of this run; None where no total is set (a cluster executor's --jobs)."""
    try:
        return workflow.cores
    except WorkflowError:
        return None


def get_train_mem_mb(wildcards=None):
    """The train job's memory: training.memory_budget_mb for the training set plus the job's overhead."""
    return train_job_mem_mb(config["training"])


def get_classifier_scores_by_name(wildcards=None):
    """Every classifier's fold score tables, keyed by classifier (a list per name)."""
    return {name: classifier_fold_scores(name) for name in CLASSIFIERS}


def get_classifier_curves_by_name(wildcards=None):
    """Every classifier's ROC curve (with its bootstrap band) as its evaluate job wrote it, keyed by classifier."""
    return {name: f"results/metrics/roc/{name}.json" for name in CLASSIFIERS}


def classifier_fold_scores(name):
    return expand("results/models/{classifier}/scores_fold{fold}.parquet", classifier=name, fold=FOLDS)


def get_feature_labels(wildcards=None):
    """Axis labels of the features (a function, so that braces in LaTeX labels are not read as wildcards)."""
    return [f.get("label", f["name"]) for f in config["features"]]


def get_generated_samples():
    return [s["name"] for s in config["samples"] if "generate" in s]


def get_sample_files(wildcards):
    """Input ROOT files of a sample: the generator's output, or the config's files (globs expanded).

    Remote URLs (root://...) are not Snakemake file inputs: uproot streams them; a remote glob is
    listed on its server here (one request), since every file is a features job of its own.
    """
    return _sample_files(wildcards.sample)


_SAMPLE_FILES = {}


def _sample_files(name):
    if name not in _SAMPLE_FILES:
        sample = get_sample(name)
        if "generate" in sample:
            _SAMPLE_FILES[name] = [f"results/generated/{sample['name']}.root"]
        else:
            _SAMPLE_FILES[name] = _expand_files(sample["files"])
    return _SAMPLE_FILES[name]


def _expand_files(patterns):
    """Input files of some patterns: local globs expanded (a pattern matching nothing is kept, for Snakemake to
    name), remote globs listed on their server (one request)."""
    files = []
    for pattern in patterns:
        if is_remote(pattern):
            files.extend(exit_on_error(expand_files, [pattern]) if glob.has_magic(pattern) else [pattern])
        else:
            files.extend((sorted(glob.glob(pattern)) if glob.has_magic(pattern) else []) or [pattern])
    return list(dict.fromkeys(files))


#: entry counts of input files (path -> [size, mtime, entries]), read from their headers when
#: reading.entries_per_job splits files, so that a cluster job's parse does not open every file again
ENTRIES_CACHE = Path(".snakemake/hepmva-entries.json")
_FEATURE_PARTS = {}
_APPLY_PARTS = {}


def _file_entries(tree, files):
    """Entries of ``tree`` in each of ``files``, from the file headers (cached in ENTRIES_CACHE)."""
    try:
        cache = json.loads(ENTRIES_CACHE.read_text())
    except (OSError, ValueError):
        cache = {}
    entries, changed = [], False
    for f in files:
        key = f"{f}::{tree}"
        stamp = [] if is_remote(f) else [os.path.getsize(f), os.path.getmtime(f)]
        hit = cache.get(key)
        if hit is None or hit[:-1] != stamp or is_remote(f):
            hit = stamp + [exit_on_error(count_entries, f, tree)]
            cache[key], changed = hit, True
        entries.append(int(hit[-1]))
    if changed:
        ENTRIES_CACHE.parent.mkdir(parents=True, exist_ok=True)
        tmp = ENTRIES_CACHE.with_name(f".{ENTRIES_CACHE.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, ENTRIES_CACHE)
    return entries


def plan_input_parts(files, tree, n_generated=None):
    """The jobs of some input files (hepmva.feature_table.plan_parts), for the features and the apply stage alike:
    one per file, or entry ranges of at most reading.entries_per_job entries (entry counts from the file
    headers, cached; ``n_generated``: the generator's one file of that many events)."""
    step = config["reading"]["entries_per_job"]
    if not step:
        return plan_parts(files)
    entries = [n_generated] if n_generated is not None else _file_entries(tree, files)
    return plan_parts(files, entries, step)


def get_feature_parts(name):
    """The features jobs of a sample: one per input file, or entry ranges (plan_input_parts)."""
    if name not in _FEATURE_PARTS:
        sample = get_sample(name)
        n_generated = sample["generate"]["n_events"] if "generate" in sample else None
        parts = plan_input_parts(_sample_files(name), sample.get("tree", "Events"), n_generated)
        _FEATURE_PARTS[name] = [p.to_dict() for p in parts]
    return _FEATURE_PARTS[name]


def get_feature_part(wildcards):
    """What one features job reads: its file, file index and entry range."""
    parts = get_feature_parts(wildcards.sample)
    k = int(wildcards.part)
    if k >= len(parts):
        raise ValueError(f"sample '{wildcards.sample}' has {len(parts)} features part(s), not part {k}")
    return parts[k]


def get_feature_part_files(wildcards):
    """The local input file of one features job (a remote one is read by the job): its Snakemake file input."""
    f = get_feature_part(wildcards)["file"]
    return [] if is_remote(f) else [f]


def get_feature_part_tables(wildcards):
    return [f"results/features/{wildcards.sample}/part-{p['part']}.parquet"
            for p in get_feature_parts(wildcards.sample)]


def get_local_sample_files(wildcards):
    """The local input files of a sample: Snakemake's file inputs (remote URLs are passed as params)."""
    return [f for f in get_sample_files(wildcards) if not is_remote(f)]


def get_feature_tables(wildcards=None):
    """Every sample's features, as the read API (hepmva.datasets) takes them: the per-sample manifests."""
    return expand("results/features/{sample}.json", sample=SAMPLES)


def get_sample_feature_table(wildcards):
    return f"results/features/{wildcards.sample}.json"


def get_fold_scores(wildcards):
    return classifier_fold_scores(wildcards.classifier)


def get_fold_importance(wildcards):
    """The fold models' scores of the permutation-importance events, shuffled and not (written by the train rule)."""
    return expand("results/models/{classifier}/importance_fold{fold}.npz", classifier=wildcards.classifier, fold=FOLDS)


def get_fold_models(wildcards):
    return expand("results/models/{classifier}/fold{fold}", classifier=wildcards.classifier, fold=FOLDS)


def get_classifier_metrics(wildcards=None):
    return expand("results/metrics/{classifier}.json", classifier=CLASSIFIERS)


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


def get_limit_curve(wildcards=None):
    return "results/metrics/neyman_pearson_roc.json"


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


def get_fold_models_by_name(wildcards=None):
    """Every classifier's fold model directories, keyed by classifier."""
    return {name: expand("results/models/{classifier}/fold{fold}", classifier=name, fold=FOLDS) for name in CLASSIFIERS}


def get_all_fold_models(wildcards=None):
    return [d for dirs in get_fold_models_by_name().values() for d in dirs]


def get_all_fold_scores(wildcards=None):
    return [f for name in CLASSIFIERS for f in classifier_fold_scores(name)]


def get_classifier_bundles(wildcards=None):
    return expand("results/models/{classifier}/bundle.json", classifier=CLASSIFIERS)


def get_apply_classifiers(wildcards=None):
    """Classifiers the apply stage scores with (apply.classifiers, or all)."""
    return config["apply"]["classifiers"] or CLASSIFIERS


def get_apply_classifier_bundles(wildcards=None):
    """The bundles every apply job loads (one list for all: an apply sample of thousands of files asks per job)."""
    return list(_APPLY_CLASSIFIER_BUNDLES)


_APPLY_CLASSIFIER_BUNDLES = expand("results/models/{classifier}/bundle.json", classifier=get_apply_classifiers())


def get_apply_sample(name):
    return next(s for s in config["apply"]["samples"] if s["name"] == name)


def get_apply_sample_config(wildcards):
    return get_apply_sample(wildcards.apply_sample)


def get_apply_parts(name):
    """The apply jobs of an apply sample, per variation (hepmva.feature_table.plan_apply_parts): one per input
    file, or entry range of one, as the features (plan_input_parts)."""
    if name not in _APPLY_PARTS:
        _APPLY_PARTS[name] = plan_apply_parts(get_apply_sample(name), _plan_patterns)
    return _APPLY_PARTS[name]


def _plan_patterns(patterns, tree):
    return plan_input_parts(_expand_files(patterns), tree)


_APPLY_PART_BY_NAME = {}


def get_apply_part(wildcards):
    """What one apply job scores: its variation, file, file index and entry range, and its name."""
    name = wildcards.apply_sample
    if name not in _APPLY_PART_BY_NAME:  # thousands of files: one dict, not a scan per job
        _APPLY_PART_BY_NAME[name] = {(v, p["name"]): p for v, ps in get_apply_parts(name).items() for p in ps}
    part = _APPLY_PART_BY_NAME[name].get((wildcards.variation, wildcards.apply_part))
    if part is not None:
        return part
    parts = get_apply_parts(name).get(wildcards.variation, [])
    raise ValueError(f"apply sample '{wildcards.apply_sample}' [{wildcards.variation}] has no part "
                     f"'{wildcards.apply_part}' (it has {', '.join(p['name'] for p in parts) or 'none'})")


def get_apply_part_files(wildcards):
    """The local input file of one apply job (a remote one is read by the job): its Snakemake file input."""
    f = get_apply_part(wildcards)["file"]
    return [] if is_remote(f) else [f]


def _apply_paths(wildcards, pattern, only_sums=False):
    """One path per part of an apply sample's variation (``wildcards.variation``) or of all its variations."""
    parts = get_apply_parts(wildcards.apply_sample)
    variations = [wildcards.variation] if hasattr(wildcards, "variation") else list(parts)
    return [pattern.format(sample=wildcards.apply_sample, variation=v, name=p["name"])
            for v in variations for p in parts[v] if p["sums"] or not only_sums]


def get_apply_part_sums(wildcards):
    """The sum-of-weights records of a variation's parts (none when xsec_pb and sum_weights are numbers)."""
    return _apply_paths(wildcards, "results/apply/{sample}/sumw/{variation}/{name}.json", only_sums=True)


def get_apply_scale(wildcards):
    """The variation's physics-weight scale an apply job of simulation needs (data: none)."""
    if get_apply_sample(wildcards.apply_sample)["kind"] != "mc":
        return []
    return [f"results/apply/{wildcards.apply_sample}/scale/{wildcards.variation}.json"]


def get_apply_scales(wildcards):
    """Every variation's scale of a simulated apply sample (data: none)."""
    if get_apply_sample(wildcards.apply_sample)["kind"] != "mc":
        return []
    return [f"results/apply/{wildcards.apply_sample}/scale/{v}.json" for v in get_apply_parts(wildcards.apply_sample)]


def get_apply_part_tables(wildcards):
    """The table parts of an apply sample, every variation, in plan order (files, then entries)."""
    return _apply_paths(wildcards, "results/apply/{sample}/parts/{variation}/{name}.parquet")


def get_apply_part_friends(wildcards):
    return _apply_paths(wildcards, "results/apply/{sample}/friends/{variation}/{name}.root")


def get_apply_tables(wildcards=None):
    """The apply samples' manifests (summary.json: their table parts), as the templates and plots read them."""
    return expand("results/apply/{apply_sample}/summary.json", apply_sample=APPLY_SAMPLES)


def get_apply_output(wildcards=None):
    """The apply stage's targets: tables, friend trees, templates and plots (sculpting with spectators and a background)."""
    if not APPLY_SAMPLES:
        return []
    targets = get_apply_tables()
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


def report_errors():
    """At the end of a failed run: repeat the one-line reason of every failed hepmva job, and how to go on."""
    lines = collected_errors("results/logs", since=WORKFLOW_START - 1)
    if lines:
        sys.stderr.write("\n".join(lines) + "\nFix the above and run the same command again: finished jobs are kept.\n")


def release_stale_lock():
    """A killed run leaves Snakemake's lock behind: remove it when the run that held it is dead.

    Only when this host's run that took the lock (RUN_OWNER) is no longer alive; a lock held by a live
    run, by a run on another host, or by a run we know nothing about is left to Snakemake (LockException).
    """
    locks = Path(".snakemake/locks")
    if not workflow.is_main_process or not RUN_OWNER.exists() or not any(locks.glob("*.lock")):
        return
    try:
        owner = json.loads(RUN_OWNER.read_text())
        pid, host, start = int(owner["pid"]), owner["host"], owner.get("start")
    except (OSError, ValueError, KeyError, TypeError):
        return
    if host != socket.gethostname() or process_alive(pid, start):
        return
    shutil.rmtree(locks, ignore_errors=True)
    RUN_OWNER.unlink(missing_ok=True)
    sys.stderr.write(f"hepmva: the previous run (PID {pid}) was interrupted; removed the lock it left\n")


def _configfiles():
    return [str(Path(p).resolve()) for p in workflow.overwrite_configfiles or []]


def _as_options(files):
    return " ".join(f"--configfile {os.path.relpath(p)}" for p in files) or "no --configfile (the default study)"


def warn_other_config():
    """Say so when this command's --configfile differs from the one the results were made with.

    The usual case: `snakemake --report results/report.html` after a `--configfile my-analysis.yaml` run would
    look for the default study's outputs.
    """
    if not workflow.is_main_process or not CONFIGFILES_USED.exists():
        return
    try:
        used = json.loads(CONFIGFILES_USED.read_text())
    except (OSError, ValueError):
        return
    if used != _configfiles():
        sys.stderr.write(f"hepmva: the results here were made with {_as_options(used)}, this command has "
                         f"{_as_options(_configfiles())}; give the same --configfile (e.g. to build the report)\n")


def claim_run():
    """At the start of a real run (Snakemake holds the lock): note who holds it, clear killed jobs' temporaries."""
    RUN_OWNER.parent.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    RUN_OWNER.write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "start": process_start_time(pid)}))
    CONFIGFILES_USED.write_text(json.dumps(_configfiles()))
    removed = remove_stale_temporaries("results")
    if removed:
        sys.stderr.write(f"hepmva: removed {len(removed)} temporary file(s) left by killed jobs\n")


def release_run():
    """At the end of a run, successful or not: the lock is released by Snakemake, forget its owner."""
    RUN_OWNER.unlink(missing_ok=True)


release_stale_lock()
warn_other_config()
