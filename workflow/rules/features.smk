# Read the samples' ROOT files in parts (one job per input file, or per entry range of one with
# reading.entries_per_job), apply the selections, compute features, generator weights and folds; then one
# small step per sample merges the parts' counts and sums of weights into the sample's manifest.


rule features:
    input:
        files=get_feature_part_files,
    output:
        part="results/features/{sample}/part-{part}.parquet",
    log:
        "results/logs/features/{sample}/part-{part}.log",
    params:
        sample=get_sample_config,
        part=get_feature_part,
        features=config["features"],
        define=config["define"],
        aliases=config["aliases"],
        folds=config["folds"],
        event_id=config["event_id"],
        selection=config["selection"],
        truth_llr=config["truth_llr"],
        spectators=config["spectators"],
        step_size=config["reading"]["step_size"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    script:
        "../scripts/features.py"


rule features_merge:
    input:
        parts=get_feature_part_tables,
    output:
        manifest="results/features/{sample}.json",
    log:
        "results/logs/features/{sample}.log",
    params:
        sample=get_sample_config,
        luminosity_pb=config["luminosity_pb"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/features_merge.py"
