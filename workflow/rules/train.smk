# One job per (classifier, fold): train on the other folds, then score the held-out fold (and the training
# events) part by part into the fold's score table, which the evaluation, write-back and bundles read.


rule train:
    input:
        tables=get_feature_tables,
    output:
        model=directory("results/models/{classifier}/fold{fold}"),
        scores="results/models/{classifier}/scores_fold{fold}.parquet",
    log:
        "results/logs/train/{classifier}_fold{fold}.log",
    benchmark:
        "results/benchmarks/train/{classifier}_fold{fold}.tsv"
    params:
        classifier=get_classifier_config,
        fold=get_fold,
        features=FEATURES,
        training=config["training"],
        seed=config["seed"],
    threads: get_classifier_threads
    resources:
        mem_mb=get_train_mem_mb,  # training.memory_budget_mb + 1500 (hepmva.training_set.train_job_mem_mb)
        runtime=120,
    script:
        "../scripts/train.py"

