"""A job's start-up imports what its work needs, and no more.

Every Snakemake job is a fresh Python: the default study starts ~60 of them, an analysis on a cluster
thousands (one apply job per input file). Each library a stage module imports without using it is paid by
every one of those jobs (measured, 2-core machine, bytecode cached: scipy.special 0.15-0.3 s, mplhep with
matplotlib 0.5-0.8 s, jsonschema 0.1 s, joblib 0.1 s). Each stage module is imported in a clean interpreter,
as the rule's script does, and the libraries it must not pull in are checked in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: libraries no job imports at start-up: each is imported inside the function that needs it
#: (scipy.special: a KS test at a large distance; joblib: an ensemble training with progress lines;
#: jsonschema: validating a config, which the Snakemake process does once, not every job)
NEVER_AT_START = ("scipy.special", "scipy.stats", "joblib", "jsonschema", "sklearn", "xgboost", "skops", "torch")

#: stage module -> what else its jobs must not import at start-up
NOT_IMPORTED = {
    "hepmva.stages.train": ("matplotlib", "mplhep", "uproot", "awkward"),
    # the summary and the limit curve draw nothing; the functions that draw import the plotting modules
    "hepmva.stages.evaluate": ("uproot", "awkward", "matplotlib", "mplhep"),
    # the unsupervised summary is the run's last job: its start is wall time
    "hepmva.stages.unsupervised": ("matplotlib", "mplhep", "scipy", "uproot", "awkward"),
    # one apply job per input file and variation: they read ROOT and score, the plots are the templates' job
    "hepmva.stages.apply": ("matplotlib", "mplhep"),
    "hepmva.stages.writeback": ("matplotlib", "mplhep"),
    "hepmva.stages.features": ("matplotlib", "mplhep"),
    "hepmva.stages.inputs": ("uproot", "awkward"),
}


@pytest.mark.parametrize("module", sorted(NOT_IMPORTED))
def test_a_stage_module_imports_only_what_its_jobs_use(module):
    banned = NEVER_AT_START + NOT_IMPORTED[module]
    code = (f"import importlib, json, sys\nimportlib.import_module({module!r})\n"
            f"print(json.dumps([m for m in {banned!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [], f"{module} imports them at start-up"


def test_a_ks_p_value_far_in_the_tail_imports_no_scipy():
    """A classifier that overtrains a little (KS distance with n d^2 >= 2.2, most of the default study's) gets its
    p-value from the one-sided exact sum, without importing scipy.special (0.15-0.3 s of the evaluate job)."""
    code = ("import json, sys\nfrom hepmva.kolmogorov import kstwo_sf\n"
            "p = [kstwo_sf(0.02, 23_000), kstwo_sf(0.6, 300)]\n"
            "print(json.dumps([p, [m for m in ('scipy.special', 'scipy.stats') if m in sys.modules]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    p, imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert imported == [] and 0 < p[0] < 1e-6 and 0 < p[1] < 1e-50


def test_the_lazy_imports_still_work():
    """What moved inside functions is still reached: a large-distance KS p-value (scipy.special.smirnov),
    a config validated (jsonschema)."""
    from scipy import stats

    from hepmva.config import validate_config
    from hepmva.kolmogorov import kstwo_sf

    assert kstwo_sf(0.6, 200) == pytest.approx(stats.kstwo.sf(0.6, 200), rel=1e-12)
    assert kstwo_sf(0.2, 200) == pytest.approx(stats.kstwo.sf(0.2, 200), rel=1e-12)
    with pytest.raises(Exception, match="config key"):
        validate_config({"luminosity_pb": "many"})


def test_the_snakefile_s_config_check_imports_no_generator_library():
    """Before any job starts, the Snakemake process validates the config; nothing runs beside it, so every
    library it imports is paid in wall time. A generated sample's process is checked against the generator's
    table, not by importing what the generator computes (scipy.special) and writes (uproot) with."""
    code = ("import json, sys, yaml\nfrom hepmva.config import validate_config\n"
            "validate_config(yaml.safe_load(open('config/config.yaml')))\n"
            "print(json.dumps([m for m in ('scipy.special', 'uproot', 'sklearn') if m in sys.modules]))")
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
