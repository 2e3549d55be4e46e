# hepmva: a HEP multivariate-analysis study, from ROOT ntuples to a report.
#
#   snakemake --cores all                                 # default study (built-in generated samples)
#   snakemake --cores all --configfile my-analysis.yaml   # your ntuples
#   snakemake --report results/report.html                # browsable report of everything

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"


report: "workflow/report/workflow.rst"


include: "workflow/rules/generate.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/writeback.smk"
include: "workflow/rules/training_methods.smk"
include: "workflow/rules/optimizer_study.smk"
include: "workflow/rules/unsupervised.smk"
include: "workflow/rules/apply.smk"


rule all:
    input:
        get_final_output,
    default_target: True
