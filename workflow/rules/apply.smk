# The study's model bundle (results/models), and applying it to new ntuples: data, other simulated
# processes and systematic variations -> friend trees, score templates per process x variation, plots.


rule bundle:
    input:
        models=get_all_fold_models,
        scores=get_all_fold_scores,
    output:
        classifier_bundles=get_classifier_bundles(),
        bundle="results/models/bundle.json",
    log:
        "results/logs/bundle/study.log",
    params:
        classifiers=[get_classifier(name) for name in CLASSIFIERS],
        models=get_fold_models_by_name,
        scores=get_classifier_scores_by_name,
        study=get_bundle_study,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/bundle.py"


# An apply sample is scored in parts, one job per input file (or entry range of one, reading.entries_per_job)
# and tree variation, planned as the features are; simulation whose cross-section or sum of weights comes from
# the files first sums its generator weights part by part (apply_sum_weights), merged exactly per variation
# (apply_scale), so that every physics weight is the same however the files are split.


rule apply_sum_weights:
    input:
        files=get_apply_part_files,
    output:
        sums="results/apply/{apply_sample}/sumw/{variation}/{apply_part}.json",
    log:
        "results/logs/apply_sum_weights/{apply_sample}/{variation}/{apply_part}.log",
    params:
        sample=get_apply_sample_config,
        part=get_apply_part,
        define=config["define"],
        aliases=config["aliases"],
        step_size=config["reading"]["step_size"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    script:
        "../scripts/apply_sum_weights.py"


rule apply_scale:
    input:
        sums=get_apply_part_sums,
    output:
        scale="results/apply/{apply_sample}/scale/{variation}.json",
    log:
        "results/logs/apply_scale/{apply_sample}/{variation}.log",
    params:
        sample=get_apply_sample_config,
        variation="{variation}",
        luminosity_pb=config["luminosity_pb"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/apply_scale.py"


rule apply:
    input:
        bundle="results/models/bundle.json",
        classifier_bundles=get_apply_classifier_bundles,
        files=get_apply_part_files,
        scale=get_apply_scale,
    output:
        friend="results/apply/{apply_sample}/friends/{variation}/{apply_part}.root",
        table="results/apply/{apply_sample}/parts/{variation}/{apply_part}.parquet",
    log:
        "results/logs/apply/{apply_sample}/{variation}/{apply_part}.log",
    params:
        sample=get_apply_sample_config,
        part=get_apply_part,
        features=config["features"],
        define=config["define"],
        aliases=config["aliases"],
        classifiers=get_apply_classifiers,
        fold_mode=config["apply"]["fold_mode"],
        friend_tree=config["apply"]["tree"],
        step_size=config["reading"]["step_size"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/apply.py"


rule apply_merge:
    input:
        tables=get_apply_part_tables,
        friends=get_apply_part_friends,
        scales=get_apply_scales,
    output:
        summary="results/apply/{apply_sample}/summary.json",
    log:
        "results/logs/apply/{apply_sample}.log",
    params:
        sample=get_apply_sample_config,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/apply_merge.py"


rule apply_templates:
    input:
        tables=get_apply_tables,
        bundle="results/models/{classifier}/bundle.json",
    output:
        templates="results/apply/templates/{classifier}.root",
        stack=report(
            "results/apply/plots/{classifier}_stack.png",
            caption="../report/apply_stack.rst",
            category="Apply",
            subcategory="{classifier}",
        ),
    log:
        "results/logs/apply_templates/{classifier}.log",
    params:
        classifier="{classifier}",
        bins=config["apply"]["bins"],
        luminosity_pb=config["luminosity_pb"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/apply_templates.py"


rule apply_sculpting:
    input:
        tables=get_apply_tables,
    output:
        plot=report(
            "results/apply/plots/{classifier}_sculpting.png",
            caption="../report/apply_sculpting.rst",
            category="Apply",
            subcategory="{classifier}",
        ),
    log:
        "results/logs/apply_sculpting/{classifier}.log",
    params:
        classifier="{classifier}",
        spectators=config["spectators"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/apply_sculpting.py"
