"""The README's Python example runs as written (in a fresh interpreter)."""

import re
import subprocess
import sys
from pathlib import Path

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
