# One job per (classifier, fold): train on the other folds, score the held-out one.


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


rule collect_scores:
    input:
        scores=get_fold_scores,
        tables=get_feature_tables,
    output:
        scores="results/scores/{classifier}.parquet",
    log:
        "results/logs/collect_scores/{classifier}.log",
    benchmark:
        "results/benchmarks/collect_scores/{classifier}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/collect_scores.py"
