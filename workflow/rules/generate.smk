# Built-in samples: ROOT ntuples written by hepmva.generate (only for samples with a `generate:` block).


rule generate:
    output:
        root="results/generated/{sample}.root",
    log:
        "results/logs/generate/{sample}.log",
    params:
        sample=get_sample_config,
        seed=config["seed"],
    threads: 1
    priority: UNLOCKING_PRIORITY  # every job waits for every sample: the last generation first, not after features
    resources:
        mem_mb=2000,
        runtime=20,
    script:
        "../scripts/generate.py"
