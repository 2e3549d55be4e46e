# Unsupervised studies on the scaled features: clustering, PCA / Fisher discriminant, anomaly detection.
# Each study is switched by unsupervised.<study>.activate; one job per study (start-up paid once).


rule unsupervised_clustering:
    input:
        tables=get_feature_tables,
    output:
        table="results/unsupervised/clustering.json",
        pca=report(
            directory("results/unsupervised/plots/clusters_pca"),
            patterns=["{method}.png"],
            caption="../report/unsupervised_clusters.rst",
            category="Unsupervised",
            subcategory="Clustering",
        ),
        yields=report(
            directory("results/unsupervised/plots/cluster_yields"),
            patterns=["{method}.png"],
            caption="../report/unsupervised_cluster_yields.rst",
            category="Unsupervised",
            subcategory="Clustering",
        ),
    log:
        "results/logs/unsupervised/clustering.log",
    params:
        features=FEATURES,
        scaler=config["unsupervised"]["scaler"],
        seed=config["seed"],
        methods=config["unsupervised"]["clustering"]["methods"],
        extend_labels=config["unsupervised"]["clustering"]["extend"],
        plot_points=config["unsupervised"]["clustering"]["plot_points"],
    threads: 1
    priority: STUDY_PRIORITY
    resources:
        mem_mb=6000,
        runtime=30,
    script:
        "../scripts/unsupervised_clustering.py"


rule unsupervised_decomposition:
    input:
        tables=get_feature_tables,
    output:
        table="results/unsupervised/decomposition.json",
        scree=report(
            "results/unsupervised/plots/pca_scree.png",
            caption="../report/unsupervised_scree.rst",
            category="Unsupervised",
            subcategory="PCA and Fisher",
        ),
        loadings=report(
            "results/unsupervised/plots/pca_loadings.png",
            caption="../report/unsupervised_loadings.rst",
            category="Unsupervised",
            subcategory="PCA and Fisher",
        ),
        components=report(
            "results/unsupervised/plots/pca_components.png",
            caption="../report/unsupervised_components.rst",
            category="Unsupervised",
            subcategory="PCA and Fisher",
        ),
        fisher=report(
            "results/unsupervised/plots/fisher.png",
            caption="../report/unsupervised_fisher.rst",
            category="Unsupervised",
            subcategory="PCA and Fisher",
        ),
    log:
        "results/logs/unsupervised/decomposition.log",
    params:
        features=FEATURES,
        scaler=config["unsupervised"]["scaler"],
        seed=config["seed"],
        n_components=config["unsupervised"]["decomposition"]["n_components"],
        plot_components=config["unsupervised"]["decomposition"]["plot_components"],
        fisher_reg=config["unsupervised"]["decomposition"]["fisher_reg"],
        n_bootstrap=config["unsupervised"]["decomposition"]["n_bootstrap"],
        training=config["training"],
    threads: 1
    priority: STUDY_PRIORITY
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/unsupervised_decomposition.py"


rule unsupervised_anomaly:
    input:
        tables=get_feature_tables,
    output:
        table="results/unsupervised/anomaly.json",
        scores="results/unsupervised/anomaly_scores.parquet",
        plots=report(
            directory("results/unsupervised/plots/anomaly_scores"),
            patterns=["{detector}.png"],
            caption="../report/unsupervised_anomaly_scores.rst",
            category="Unsupervised",
            subcategory="Anomaly detection",
        ),
    log:
        "results/logs/unsupervised/anomaly.log",
    params:
        features=FEATURES,
        scaler=config["unsupervised"]["scaler"],
        seed=config["seed"],
        methods=config["unsupervised"]["anomaly"]["methods"],
        eval_fold=config["unsupervised"]["anomaly"]["eval_fold"],
        max_eval=config["unsupervised"]["anomaly"]["max_eval"],
        n_bootstrap=config["unsupervised"]["anomaly"]["n_bootstrap"],
    threads: 1
    priority: STUDY_PRIORITY
    resources:
        mem_mb=6000,
        runtime=30,
    script:
        "../scripts/unsupervised_anomaly.py"


rule unsupervised_anomaly_comparison:
    input:
        unpack(get_unsupervised_comparison_input),
    output:
        table="results/unsupervised/anomaly_comparison.json",
        roc=report(
            "results/unsupervised/plots/anomaly_roc.png",
            caption="../report/unsupervised_anomaly_roc.rst",
            category="Unsupervised",
            subcategory="Anomaly detection",
        ),
    log:
        "results/logs/unsupervised/anomaly_comparison.log",
    params:
        classifiers=CLASSIFIERS,
        n_bootstrap=config["unsupervised"]["anomaly"]["n_bootstrap"],
        seed=config["seed"],
    threads: 1
    # it reads every classifier's scores, so it can only start after the last training, and it is the longest
    # job of the end (5-8 s) with the unsupervised summary after it: first among the end's jobs
    priority: STUDY_PRIORITY
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/unsupervised_anomaly_comparison.py"


rule unsupervised_summary:
    input:
        unpack(get_unsupervised_summary_input),
    output:
        md=report(
            "results/unsupervised/summary.md",
            caption="../report/unsupervised_summary.rst",
            category="Unsupervised",
        ),
        csv="results/unsupervised/summary.csv",
    log:
        "results/logs/unsupervised/summary.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/unsupervised_summary.py"
