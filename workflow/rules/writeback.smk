# Out-of-fold scores of every classifier as ROOT friend trees, one per input file.


rule writeback:
    input:
        unpack(get_classifier_scores_by_name),
        files=get_local_sample_files,
        table=get_sample_feature_table,
    output:
        friends=directory("results/friends/{sample}"),
    log:
        "results/logs/writeback/{sample}.log",
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
