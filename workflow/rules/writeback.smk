# Out-of-fold scores of every classifier as ROOT friend trees, one per input file.


rule writeback:
    input:
        files=get_local_sample_files,
        table=get_sample_feature_table,
        scores=get_classifier_scores,
    output:
        friends=directory("results/friends/{sample}"),
    log:
        "results/logs/writeback/{sample}.log",
    benchmark:
        "results/benchmarks/writeback/{sample}.tsv"
    params:
        sample=get_sample_config,
        files=get_sample_files,
        classifiers=CLASSIFIERS,
        tree=config["writeback"]["tree"],
        spectators=get_spectator_names(),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/writeback.py"
