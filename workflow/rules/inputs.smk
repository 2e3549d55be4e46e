# The input plots: every feature for signal and background, and the correlation matrices.


rule plot_inputs:
    input:
        tables=get_feature_tables,
    output:
        plots=report(
            directory("results/plots/inputs"),
            patterns=["{feature}.png"],
            caption="../report/inputs.rst",
            category="Inputs",
        ),
        corr_signal=report(
            "results/plots/correlation_signal.png",
            caption="../report/correlation.rst",
            category="Inputs",
        ),
        corr_background=report(
            "results/plots/correlation_background.png",
            caption="../report/correlation.rst",
            category="Inputs",
        ),
    log:
        "results/logs/plot_inputs.log",
    params:
        features=config["features"],
        luminosity_pb=config["luminosity_pb"],
        plotting=config["plotting"],
    threads: 1
    priority: STUDY_PRIORITY  # 4-5 s that nothing waits for: beside the trainings, not alone at the end
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/plot_inputs.py"
