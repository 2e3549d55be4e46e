"""Bad configs and bad input through the real snakemake command line: one line naming the offender, nothing run."""

from __future__ import annotations

import pytest
import yaml

from tests.workflow.test_workflow import _small_config, _snakemake

pytestmark = pytest.mark.workflow

PROFILE_NOTICE = "Using workflow specific profile"


def _terminal(proc) -> list[str]:
    """What the user reads, without Snakemake's notice that it picked up the workflow's default profile."""
    return [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip() and not ln.startswith(PROFILE_NOTICE)]


def _light(cfg: dict) -> dict:
    cfg["classifiers"] = cfg["classifiers"][:1]
    for key in ("training_methods", "optimizer_study", "writeback"):
        cfg[key]["activate"] = False
    for key in ("clustering", "decomposition", "anomaly"):
        cfg["unsupervised"][key]["activate"] = False
    return cfg


CONFIG_CASES = {
    "folds: two": (lambda c: c.update(folds="two"), "config key 'folds': 'two' is not an integer"),
    "one sample": (lambda c: c.update(samples=c["samples"][:1]),
                   "config key 'samples': has 1 item(s), needs at least 2; need one signal and one background"),
    "no signal sample": (lambda c: c.update(samples=c["samples"][1:]),
                         "config key 'samples': need at least one signal and one background sample"),
    "negative cross-section": (lambda c: c["samples"][2].update(xsec_pb=-50.0),
                               "config key 'samples[2].xsec_pb': -50.0 must be > 0"),
    "infinite cross-section": (lambda c: c["samples"][2].update(xsec_pb=float("inf")),
                               "config key 'samples[2].xsec_pb': sample 'user_bkg' has inf"),
    "unknown MLP solver": (lambda c: c["classifiers"][1]["params"].update(solver="bfgz"),
                           "config key 'classifiers[1].params' (mlp): classifier kind 'mlp': solver='bfgz'"),
    "unknown classifier parameter": (
        lambda c: c["classifiers"].append({"name": "rf", "kind": "random_forest", "params": {"n_trees": 5}}),
        "config key 'classifiers[2].params' (rf): classifier kind 'random_forest': unknown parameter(s) n_trees"),
    "unsafe expression": (lambda c: c["features"][0].update(expr="__import__('os').system('true')"),
                          "config key 'features[0].expr'"),
    "missing input file": (lambda c: c["samples"][2].update(files=["data/nope_*.root"]),
                           "sample 'user_bkg' (config key 'samples[2].files'): data/nope_*.root: no file matches"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config_is_one_line_before_anything_runs(tmp_path, case):
    mutate, line = CONFIG_CASES[case]
    cfg = _small_config(tmp_path)
    mutate(cfg)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = _snakemake(tmp_path, "--cores", "1", check=False)
    assert proc.returncode != 0
    out = _terminal(proc)
    assert len(out) == 1 and out[0].startswith(f"hepmva error: {line}"), out
    assert not (tmp_path / "results").exists()


def test_bad_input_is_one_line_first_and_the_traceback_is_in_the_rule_log(tmp_path):
    cfg = _light(_small_config(tmp_path))
    cfg["features"][0]["expr"] = "mett"  # a typo: every sample lacks the branch
    cfg["samples"] = [s for s in cfg["samples"] if "files" in s] + [
        {"name": "user_sig", "label": "signal", "files": [str(tmp_path / "data" / "bkg_0.root")], "tree": "Events",
         "xsec_pb": 1.0, "sum_weights": 1500.0}]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = _snakemake(tmp_path, "--cores", "1", check=False)
    assert proc.returncode != 0
    out = _terminal(proc)
    errors = [ln for ln in out if ln.startswith("hepmva error: ")]
    first = errors[0]
    assert "bkg_" in first and "no branch 'mett' (did you mean 'met'" in first and "(rule log: results/logs/" in first
    # nothing of hepmva's internals on the terminal; the reason is repeated at the very end of Snakemake's block
    assert not any("Traceback" in ln or "hepmva/io.py" in ln for ln in out)
    last = len(out) - 1 - out[::-1].index(errors[-1])
    assert len(errors) >= 2 and errors[-1] == first and last > len(out) - 8
    assert len(out) < 40, "\n".join(out)
    log = tmp_path / first.split("(rule log: ")[1].rstrip(")")
    assert "Traceback (most recent call last)" in log.read_text()
    assert not list((tmp_path / "results").rglob("*.parquet"))
