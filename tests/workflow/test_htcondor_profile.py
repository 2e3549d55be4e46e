"""The HTCondor profile against the real executor plugin, without an HTCondor pool (none installs here)."""

import dataclasses
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hepmva.training_set import train_job_mem_mb

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "workflow" / "profiles" / "htcondor"
plugin = pytest.importorskip("snakemake_executor_plugin_htcondor", reason="pip install -e '.[htcondor]'")


def _profile() -> dict:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())


def _resources(entries: list[str]) -> dict[str, str]:
    return dict(e.split("=", 1) for e in entries)


def _declared_mem_mb() -> dict[str, int]:
    """mem_mb of every rule in workflow/rules/*.smk."""
    out = {}
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        for name, body in re.findall(r"^ *rule (\w+):\n(.*?)(?=^ *rule |\Z)", smk.read_text(), re.S | re.M):
            m = re.search(r"mem_mb=(\d+)", body)
            if m:
                out[name] = int(m.group(1))
            elif "mem_mb=get_train_mem_mb" in body:  # follows training.memory_budget_mb: its default here
                out[name] = train_job_mem_mb(None)
    return out


def test_profile_names_the_executor_and_real_plugin_options():
    cfg = _profile()
    assert cfg["executor"] == "htcondor"
    fields = {f.name for f in dataclasses.fields(plugin.ExecutorSettings)}
    options = {k.removeprefix("htcondor-").replace("-", "_") for k in cfg if k.startswith("htcondor-")}
    assert options and options <= fields, options - fields
    source = inspect.getsource(plugin)
    for resource in _resources(cfg["default-resources"]):
        assert f'"{resource}"' in source, f"{resource} is not a resource the plugin reads"


def test_every_rule_gets_the_memory_it_declares():
    """The plugin ignores Snakemake's mem_mb: the profile must request at least as much per rule."""
    cfg = _profile()
    default = int(_resources(cfg["default-resources"])["htcondor_request_mem_mb"])
    declared = _declared_mem_mb()
    assert {"train", "evaluate", "features"} <= set(declared)
    assert set(cfg["set-resources"]) <= set(declared), set(cfg["set-resources"]) - set(declared)
    own = _rules_requesting_their_mem_mb()
    assert own == {"train"}
    for rule, mem in declared.items():
        requested = mem if rule in own else cfg["set-resources"].get(rule, {}).get("htcondor_request_mem_mb", default)
        assert requested >= mem, f"{rule}: declares mem_mb={mem}, the profile requests {requested}"
    assert not own & set(cfg["set-resources"]), "a set-resources entry would override the rule's own request"


def _rules_requesting_their_mem_mb() -> set[str]:
    """Rules whose resources request the plugin's memory themselves (htcondor_request_mem_mb = their mem_mb)."""
    out = set()
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        for name, body in re.findall(r"^ *rule (\w+):\n(.*?)(?=^ *rule |\Z)", smk.read_text(), re.S | re.M):
            if "htcondor_request_mem_mb=get_train_mem_mb" in body:
                out.add(name)
    return out


@pytest.mark.workflow
def test_the_train_request_follows_the_memory_budget(tmp_path):
    """training.memory_budget_mb raised: the train jobs ask HTCondor for budget + 1500 MB, not a fixed amount."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["training"]["memory_budget_mb"] = 10000
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
           str(tmp_path), "--configfile", str(tmp_path / "config.yaml"), "--workflow-profile", str(PROFILE),
           "--dry-run", "--quiet", "host"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = (proc.stdout + proc.stderr).split("rule train:")[1:]
    assert len(jobs) == 36  # the profile's training.jobs: per_fold, 18 classifiers x 2 folds
    assert all("htcondor_request_mem_mb=11500" in job.split("\n\n")[0] for job in jobs), jobs[0][:2000]


def _dry_run(profile: Path, workdir: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(ROOT / "config" / "config.yaml"), "--workflow-profile", str(profile),
           "--dry-run", "--quiet", "rules"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.mark.workflow
def test_snakemake_accepts_the_profile(tmp_path):
    """Snakemake parses the profile with the plugin's own command-line options; a misspelt one is refused."""
    proc = _dry_run(PROFILE, tmp_path / "run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "train" in proc.stdout and "evaluate" in proc.stdout
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.yaml").write_text((PROFILE / "config.yaml").read_text().replace("htcondor-held-timeout",
                                                                                     "htcondor-held-timeot"))
    proc = _dry_run(bad, tmp_path / "run")
    assert proc.returncode != 0 and "htcondor-held-timeot" in proc.stderr
