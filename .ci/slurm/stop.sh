#!/usr/bin/env bash
# .ci/slurm/stop.sh - stop the daemons that .ci/slurm/setup.sh started, and only those.
#
# setup.sh records "PID STARTTIME" in $SLURM_LOCAL_STATE_DIR/<name>.pid for
# every daemon it launched itself. This script signals exactly those PIDs, after
# checking that the PID still belongs to a process with the expected name and the
# same start time (protects against PID reuse). Daemons that were already running
# before setup.sh (e.g. started by systemd) are never touched.
# No pkill/killall. Config files, state and packages are left in place.
# Safe to run repeatedly.
set -uo pipefail

if [ "$(id -u)" != 0 ]; then
  exec sudo -E bash "$0" "$@"
fi

STATE_DIR="${SLURM_LOCAL_STATE_DIR:-/run/slurm-local}"
TIMEOUT="${SLURM_LOCAL_TIMEOUT:-60}"

log() { echo "[slurm-stop] $*" >&2; }
proc_start_time() { sed -E 's/^.*\) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'; }

if [ ! -d "$STATE_DIR" ]; then
  log "nothing to do ($STATE_DIR does not exist)"
  exit 0
fi

rc=0
# cancel jobs still queued/running on a controller we started, so no slurmstepd is left behind
f="$STATE_DIR/slurmctld.pid"
if [ -s "$f" ] && read -r pid st < "$f" && [ -r "/proc/$pid/comm" ] \
   && [ "$(cat "/proc/$pid/comm")" = slurmctld ] && [ "$(proc_start_time "$pid")" = "$st" ]; then
  jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    log "cancelling jobs: $jobs"
    # shellcheck disable=SC2086
    timeout 10 scancel $jobs 2>/dev/null
    for _ in $(seq 1 100); do [ -z "$(timeout 10 squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.1; done
  fi
fi
# order: compute daemon first, then controller, then auth
for name in slurmd slurmctld munged; do
  f="$STATE_DIR/$name.pid"
  [ -s "$f" ] || continue
  read -r pid st < "$f"
  if ! [[ "$pid" =~ ^[0-9]+$ ]]; then log "bad ledger entry $f, removing"; rm -f "$f"; continue; fi
  if [ ! -r "/proc/$pid/comm" ] || [ "$(cat "/proc/$pid/comm")" != "$name" ] \
     || [ "$(proc_start_time "$pid")" != "$st" ]; then
    log "$name (pid $pid) is not running any more; removing stale ledger entry"
    rm -f "$f"
    continue
  fi
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 $((TIMEOUT * 10))); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  if [ -d "/proc/$pid" ]; then
    log "$name (pid $pid) ignored SIGTERM for ${TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null
    sleep 0.5
  fi
  if [ -d "/proc/$pid" ]; then log "could not stop $name (pid $pid)"; rc=1; continue; fi
  rm -f "$f"
  log "stopped $name (pid $pid)"
done
rmdir "$STATE_DIR" 2>/dev/null || true
exit $rc
