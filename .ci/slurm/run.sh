#!/usr/bin/env bash
# .ci/slurm/run.sh - CI step for the SLURM path: install the executor plugin (extra `slurm`), install and
# start a single-node SLURM on localhost (.ci/slurm/setup.sh), run the SLURM tests (`pytest -m slurm`,
# which fail instead of skipping here), and stop the daemons setup.sh started, whatever the outcome.
# Needs root or passwordless sudo and apt (Debian/Ubuntu). Measured on a 2-core VM: about 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

python3 -m pip install -q -e '.[slurm]'
trap '.ci/slurm/stop.sh' EXIT
.ci/slurm/setup.sh
# each snakemake run inside the tests has its own hard timeout (HEPMVA_SLURM_TIMEOUT, 600 s); this one
# bounds the whole step
HEPMVA_SLURM_REQUIRED=1 timeout -k 30 1800 python3 -m pytest -m slurm -p no:cacheprovider
