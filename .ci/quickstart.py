"""Print line N (1-based) of the code block under README.md's '## Quickstart' heading."""

import re
import sys
from pathlib import Path

text = Path(__file__).resolve().parent.parent.joinpath("README.md").read_text()
section = text.split("## Quickstart", 1)[1]
block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S).group(1)
lines = [ln for ln in block.splitlines() if ln.strip()]
print(lines[int(sys.argv[1]) - 1])
