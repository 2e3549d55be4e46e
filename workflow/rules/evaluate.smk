# Metrics and plots per classifier, the Neyman-Pearson limit, and the comparison table.


rule evaluate:
    input:
        scores="results/scores/{classifier}.parquet",
        models=get_fold_models,
    output:
        metrics="results/metrics/{classifier}.json",
        roc=report(
            "results/plots/classifiers/{classifier}_roc.png",
            caption="../report/roc.rst",
            category="Classifiers",
            subcategory="{classifier}",
        ),
        score=report(
            "results/plots/classifiers/{classifier}_score.png",
            caption="../report/score.rst",
            category="Classifiers",
            subcategory="{classifier}",
        ),
    log:
        "results/logs/evaluate/{classifier}.log",
    benchmark:
        "results/benchmarks/evaluate/{classifier}.tsv"
    params:
        name="{classifier}",
        eff_b=config["evaluation"]["eff_b"],
        n_bootstrap=config["evaluation"]["n_bootstrap"],
        seed=config["seed"],
        luminosity_pb=config["luminosity_pb"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/evaluate.py"


rule neyman_pearson:
    input:
        tables=get_feature_tables,
    output:
        metrics="results/metrics/neyman_pearson.json",
    log:
        "results/logs/neyman_pearson.log",
    benchmark:
        "results/benchmarks/neyman_pearson.tsv"
    params:
        eff_b=config["evaluation"]["eff_b"],
        n_bootstrap=config["evaluation"]["n_bootstrap"],
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/neyman_pearson.py"


rule summary:
    input:
        metrics=get_classifier_metrics,
        limit="results/metrics/neyman_pearson.json",
    output:
        md=report("results/summary.md", caption="../report/summary.rst", category="Comparison"),
        csv="results/summary.csv",
    log:
        "results/logs/summary.log",
    benchmark:
        "results/benchmarks/summary.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/summary.py"


rule roc_comparison:
    input:
        unpack(get_classifier_scores_by_name),
    output:
        roc=report(
            "results/plots/roc_comparison.png",
            caption="../report/roc_comparison.rst",
            category="Comparison",
        ),
    log:
        "results/logs/roc_comparison.log",
    benchmark:
        "results/benchmarks/roc_comparison.tsv"
    params:
        luminosity_pb=config["luminosity_pb"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/roc_comparison.py"
