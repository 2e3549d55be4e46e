# The fold models: for every (classifier, fold), train on the other folds, then score the held-out fold (and
# the training events) part by part into the fold's score table, which the evaluation, write-back and bundles
# read. training.jobs: per_classifier (default) runs a classifier's folds one after the other in one job (a
# laptop: one Python start and one import of the classifier's library for all folds); per_fold gives each
# fold its own job (a cluster, where they run side by side: the SLURM and HTCondor profiles set it).

TRAIN_PARAMS = dict(classifier=get_classifier_config, features=FEATURES, training=config["training"], seed=config["seed"])

if config["training"]["jobs"] == "per_fold":

    rule train:
        input:
            tables=get_feature_tables,
        output:
            models=[directory("results/models/{classifier}/fold{fold}")],
            scores=["results/models/{classifier}/scores_fold{fold}.parquet"],
        log:
            "results/logs/train/{classifier}_fold{fold}.log",
        benchmark:
            "results/benchmarks/train/{classifier}_fold{fold}.tsv"
        params:
            folds=lambda wildcards: [int(wildcards.fold)],
            **TRAIN_PARAMS,
        threads: get_classifier_threads
        priority: get_classifier_priority
        resources:
            mem_mb=get_train_mem_mb,  # training.memory_budget_mb + 1500 (hepmva.training_set.train_job_mem_mb)
            htcondor_request_mem_mb=get_train_mem_mb,  # the HTCondor plugin reads only its own resource
            runtime=120,
        script:
            "../scripts/train.py"

else:

    rule train:
        input:
            tables=get_feature_tables,
        output:
            models=[directory(f"results/models/{{classifier}}/fold{k}") for k in FOLDS],
            scores=[f"results/models/{{classifier}}/scores_fold{k}.parquet" for k in FOLDS],
        log:
            "results/logs/train/{classifier}.log",
        benchmark:
            "results/benchmarks/train/{classifier}.tsv"
        params:
            folds=FOLDS,
            **TRAIN_PARAMS,
        threads: get_classifier_threads
        priority: get_classifier_priority
        resources:
            mem_mb=get_train_mem_mb,  # the folds one after the other: the memory of one
            htcondor_request_mem_mb=get_train_mem_mb,  # the HTCondor plugin reads only its own resource
            runtime=120 * len(FOLDS),
        script:
            "../scripts/train.py"
