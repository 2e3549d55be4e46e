# Read each sample's ROOT files in chunks, apply the selections, compute features, weights and folds.


rule features:
    input:
        files=get_local_sample_files,
    output:
        table="results/features/{sample}.parquet",
    log:
        "results/logs/features/{sample}.log",
    benchmark:
        "results/benchmarks/features/{sample}.tsv"
    params:
        sample=get_sample_config,
        files=get_sample_files,
        features=config["features"],
        define=config["define"],
        aliases=config["aliases"],
        luminosity_pb=config["luminosity_pb"],
        folds=config["folds"],
        event_id=config["event_id"],
        selection=config["selection"],
        truth_llr=config["truth_llr"],
        spectators=config["spectators"],
        step_size=config["reading"]["step_size"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/features.py"


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
    benchmark:
        "results/benchmarks/plot_inputs.tsv"
    params:
        features=config["features"],
        luminosity_pb=config["luminosity_pb"],
        plotting=config["plotting"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/plot_inputs.py"
