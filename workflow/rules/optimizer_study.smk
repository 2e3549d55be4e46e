# The optimizer study: the same MLP (same initial weights, events and epoch budget) trained by every
# first-order optimizer, and a learning-rate scan over several decades (too slow ... diverged).


rule optimizer_study:
    input:
        tables=get_feature_tables,
    output:
        summary="results/optimizer_study/summary.json",
        comparison=report(
            "results/plots/optimizer_study.png",
            caption="../report/optimizer_study.rst",
            category="Optimizer study",
        ),
        lr_scan=report(
            "results/plots/learning_rate_scan.png",
            caption="../report/learning_rate_scan.rst",
            category="Optimizer study",
        ),
    log:
        "results/logs/optimizer_study.log",
    params:
        settings=config["optimizer_study"],
        features=FEATURES,
        training=config["training"],
        seed=config["seed"],
    threads: 1
    priority: STUDY_PRIORITY
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/optimizer_study.py"
