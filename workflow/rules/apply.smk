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
    benchmark:
        "results/benchmarks/bundle/study.tsv"
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


rule apply:
    input:
        bundle="results/models/bundle.json",
        classifier_bundles=get_apply_classifier_bundles,
        files=get_apply_files,
    output:
        table="results/apply/{apply_sample}/table.parquet",
        friends=directory("results/apply/{apply_sample}/friends"),
        summary="results/apply/{apply_sample}/summary.json",
    log:
        "results/logs/apply/{apply_sample}.log",
    benchmark:
        "results/benchmarks/apply/{apply_sample}.tsv"
    params:
        sample=get_apply_sample_config,
        features=config["features"],
        define=config["define"],
        aliases=config["aliases"],
        luminosity_pb=config["luminosity_pb"],
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
    benchmark:
        "results/benchmarks/apply_templates/{classifier}.tsv"
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
    benchmark:
        "results/benchmarks/apply_sculpting/{classifier}.tsv"
    params:
        classifier="{classifier}",
        spectators=config["spectators"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/apply_sculpting.py"
