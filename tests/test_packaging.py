"""Packaging promises: dependency lists agree, the README's Quickstart is what CI runs."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# PyPI name -> conda-forge name where they differ
PYPI_TO_CONDA = {"xgboost-cpu": "xgboost", "xxhash": "python-xxhash"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[]", req, maxsplit=1)[0].strip().lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_deps = {PYPI_TO_CONDA.get(_name(d), _name(d)) for d in project["dependencies"]}
    pip_deps |= {_name(d) for d in project["optional-dependencies"]["test"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    assert conda == pip_deps


def test_quickstart_has_two_lines_and_ci_runs_the_second():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quickstart\s+```bash\n(.*?)```", text, re.S).group(1)
    lines = [ln for ln in block.splitlines() if ln.strip()]
    assert len(lines) == 2
    assert "snakemake" in lines[0] and "pytest" in lines[1]
    out = subprocess.run([sys.executable, str(ROOT / ".ci/quickstart.py"), "2"], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == lines[1]
    assert "quickstart.py 2" in (ROOT / ".ci/run").read_text()
