# hepmva: a HEP multivariate-analysis study, from ROOT ntuples to a report.
#
#   snakemake --cores all                                 # default study (built-in generated samples)
#   snakemake --cores all --configfile my-analysis.yaml   # your ntuples
#   snakemake --report results/report.html                # browsable report of everything

from snakemake.utils import min_version

from hepmva.config import check_input_files, validate_config
from hepmva.logs import exit_on_error
from hepmva.models import check_classifiers

min_version("9.0")


configfile: "config/config.yaml"


# hepmva's checker (workflow/schemas/config.schema.yaml + semantics) on the whole config before anything runs;
# every classifier built once from its params (by the run that starts the jobs: a cluster job, which parses this
# file again, skips importing every learner); a problem is one line naming the key, and the run stops there
config.update(exit_on_error(validate_config, config))
if workflow.is_main_process:
    exit_on_error(check_classifiers, config)
exit_on_error(check_input_files, config)


include: "workflow/rules/common.smk"


report: "workflow/report/workflow.rst"


include: "workflow/rules/generate.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/inputs.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/writeback.smk"
include: "workflow/rules/training_methods.smk"
include: "workflow/rules/optimizer_study.smk"
include: "workflow/rules/unsupervised.smk"
include: "workflow/rules/apply.smk"


onstart:
    claim_run()


onsuccess:
    release_run()


onerror:
    release_run()
    report_errors()


rule all:
    input:
        get_final_output,
    default_target: True
