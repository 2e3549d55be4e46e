"""The README runs as written: its Python example (a fresh interpreter), its install + report (a fresh venv)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(tmp_path):
    text = (ROOT / "README.md").read_text()
    code = re.search(r"## From Python.*?```python\n(.*?)```", text, re.S).group(1)
    script = tmp_path / "example.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True,
                         timeout=300).stdout
    auc, limit = (float(v) for v in re.findall(r"(\d\.\d+)", out))
    assert 0.7 < auc <= limit + 0.02


def _quickstart_line(n: int) -> str:
    return subprocess.run([sys.executable, str(ROOT / ".ci" / "quickstart.py"), str(n)], capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.mark.slow
def test_report_builds_from_a_fresh_install(tmp_path):
    """The README's first line on a fresh machine: a new venv (no system packages, no test extras), the
    install command as written, a small study run with `--configfile`, then the README's report command for
    it. Catches a dependency the report needs but only the test extras bring (pygments)."""
    install, _, _ = _quickstart_line(1).partition(" && ")
    assert install == "python3 -m pip install -e ."
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    subprocess.run(install.replace("python3", py, 1).split(), cwd=ROOT, env=env, check=True, timeout=1800,
                   capture_output=True)
    assert subprocess.run([py, "-c", "import pytest"], env=env, capture_output=True).returncode != 0
    cfg = yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())
    cfg["samples"] = [{"name": n, "label": lab, "generate": {"process": n, "n_events": 3000}, "selection": "nlep >= 1"}
                      for n, lab in (("signal", "signal"), ("ttbar", "background"))]
    cfg["classifiers"] = cfg["classifiers"][-1:]  # fisher: seconds
    cfg["evaluation"] = {"n_bootstrap": 5, "importance_events": 1000, "importance_repeats": 1}
    cfg["writeback"] = {"activate": False}
    study = tmp_path / "study"
    study.mkdir()
    (study / "my-analysis.yaml").write_text(yaml.safe_dump(cfg))
    snakemake = [py, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(study)]
    (study / "config").mkdir()
    (study / "config" / "config.yaml").symlink_to(ROOT / "config" / "config.yaml")
    for args in (["--cores", "2", "--configfile", "my-analysis.yaml"],
                 ["--report", "results/report.html", "--configfile", "my-analysis.yaml"]):
        proc = subprocess.run(snakemake + args, cwd=study, env=env, capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, proc.stderr[-4000:]
    assert (study / "results" / "report.html").stat().st_size > 10_000
