# The fold models: for every (classifier, fold), train on the other folds, then score the held-out fold (and
# the training events) part by part into the fold's score table, which the evaluation, write-back and bundles
# read; and the fold's half of the permutation importance (hepmva.studies.importance). training.jobs: per_classifier (default) runs a classifier's folds one after the other in one job (a
# laptop: one Python start and one import of the classifier's library for all folds); per_fold gives each
# fold its own job (a cluster, where they run side by side: the SLURM and HTCondor profiles set it).

# evaluation.importance_events / importance_repeats are train params: each fold's permutation-importance scores
# are made in its train job, where the model is loaded (the evaluate job then loads no model), so changing them
# reruns the training
TRAIN_PARAMS = dict(
    classifier=get_classifier_config,
    features=FEATURES,
    training=config["training"],
    seed=config["seed"],
    importance={k: config["evaluation"][k] for k in ("importance_events", "importance_repeats")},
)

if config["training"]["jobs"] == "per_fold":

    rule train:
        input:
            tables=get_feature_tables,
        output:
            models=[directory("results/models/{classifier}/fold{fold}")],
            scores=["results/models/{classifier}/scores_fold{fold}.parquet"],
            importance=["results/models/{classifier}/importance_fold{fold}.npz"],
        log:
            "results/logs/train/{classifier}_fold{fold}.log",
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
            importance=[f"results/models/{{classifier}}/importance_fold{k}.npz" for k in FOLDS],
        log:
            "results/logs/train/{classifier}.log",
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
