# The fair comparison of training methods on one MLP: genetic algorithm vs gradient descent vs
# BFGS / L-BFGS, same network and initial weights, equal budget of loss evaluations.


rule training_methods:
    input:
        tables=get_feature_tables,
    output:
        summary="results/training_methods/summary.json",
        plot=report(
            "results/plots/training_methods.png",
            caption="../report/training_methods.rst",
            category="Training methods",
        ),
    log:
        "results/logs/training_methods.log",
    params:
        settings=config["training_methods"],
        features=FEATURES,
        training=config["training"],
        seed=config["seed"],
    threads: 1
    priority: STUDY_PRIORITY
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/training_methods.py"
