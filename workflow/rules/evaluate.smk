# Metrics, plots and permutation importance per classifier (one job each: the out-of-fold scores and the
# fold models are read once), the Neyman-Pearson limit, and the comparison table.


rule evaluate:
    input:
        scores=get_fold_scores,
        models=get_fold_models,
        limit=get_limit_curve,
        importance=get_fold_importance,
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
        overtraining=report(
            "results/plots/classifiers/{classifier}_overtraining.png",
            caption="../report/overtraining.rst",
            category="Classifiers",
            subcategory="{classifier}",
        ),
        cut_scan=report(
            "results/plots/classifiers/{classifier}_cut_scan.png",
            caption="../report/cut_scan.rst",
            category="Classifiers",
            subcategory="{classifier}",
        ),
        learning_curve=report(
            "results/plots/classifiers/{classifier}_learning_curve.png",
            caption="../report/learning_curve.rst",
            category="Classifiers",
            subcategory="{classifier}",
        ),
        curve="results/metrics/roc/{classifier}.json",  # the ROC curve with its band, for roc_comparison
        importance="results/importance/{classifier}.json",
        importance_plot=report(
            "results/plots/classifiers/{classifier}_importance.png",
            caption="../report/importance.rst",
            category="Classifiers",
            subcategory="{classifier}",
        ),
    log:
        "results/logs/evaluate/{classifier}.log",
    params:
        name="{classifier}",
        eff_b=config["evaluation"]["eff_b"],
        n_bootstrap=config["evaluation"]["n_bootstrap"],
        seed=config["seed"],
        luminosity_pb=config["luminosity_pb"],
        evaluation=config["evaluation"],
        plotting=config["plotting"],
        features=FEATURES,
        feature_labels=get_feature_labels,
    threads: 1
    priority: get_classifier_priority
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/evaluate.py"


rule neyman_pearson:
    input:
        tables=get_feature_tables,
    output:
        metrics="results/metrics/neyman_pearson.json",
        curve="results/metrics/neyman_pearson_roc.json",
    log:
        "results/logs/neyman_pearson.log",
    params:
        eff_b=config["evaluation"]["eff_b"],
        n_bootstrap=config["evaluation"]["n_bootstrap"],
        evaluation=config["evaluation"],
        seed=config["seed"],
    threads: 1
    priority: UNLOCKING_PRIORITY  # every evaluate job waits for its limit curve
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/neyman_pearson.py"


rule summary:
    input:
        metrics=get_classifier_metrics,
        importance=expand("results/importance/{classifier}.json", classifier=CLASSIFIERS),
        limit="results/metrics/neyman_pearson.json",
    output:
        md=report("results/summary.md", caption="../report/summary.rst", category="Comparison"),
        csv="results/summary.csv",
        timings="results/timings.csv",
    log:
        "results/logs/summary.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/summary.py"


rule roc_comparison:
    input:
        unpack(get_classifier_curves_by_name),
        limit=get_limit_curve,
    output:
        roc=report(
            "results/plots/roc_comparison.png",
            caption="../report/roc_comparison.rst",
            category="Comparison",
        ),
    log:
        "results/logs/roc_comparison.log",
    params:
        classifiers=CLASSIFIERS,
        luminosity_pb=config["luminosity_pb"],
        evaluation=config["evaluation"],
        plotting=config["plotting"],
    threads: 1
    resources:
        mem_mb=1000,  # the curves' JSON only
        runtime=20,
    script:
        "../scripts/roc_comparison.py"
