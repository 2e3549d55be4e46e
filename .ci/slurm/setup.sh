#!/usr/bin/env bash
# .ci/slurm/setup.sh - install, configure and start a single-node SLURM cluster on
# localhost for hepmva's SLURM test (tests/workflow/test_slurm.py, `pytest -m slurm`).
# Debian/Ubuntu, root or passwordless sudo, no systemd or cgroups needed.
#
# No accounting storage (no slurmdbd): `sacct` does not work, so Snakemake must be run with
# `--slurm-status-command squeue` (the test does), or the slurm executor plugin waits forever.
#
# Re-running is safe: packages already installed are skipped, daemons already
# running are reused (and left alone by .ci/slurm/stop.sh unless this script
# started them), config files are only rewritten (and our own daemons restarted)
# when their content changes. Stop with .ci/slurm/stop.sh.
#
# Environment knobs:
#   SLURM_LOCAL_PARTITION=debug  partition name
#   SLURM_LOCAL_CLUSTER=localci  ClusterName
#   SLURM_LOCAL_TASK_PLUGIN=task/affinity   (task/none also works, but srun then warns
#                                "cluster configuration lacks support for cpu binding")
#   SLURM_LOCAL_SKIP_INSTALL=0|1 1 = never call apt-get
#   SLURM_LOCAL_SMOKE=1|0        run `srun hostname` at the end
#   SLURM_LOCAL_STATE_DIR=/run/slurm-local  ledger of daemons *this script* started
#   SLURM_LOCAL_TIMEOUT=60       seconds to wait for each daemon
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  exec sudo -E bash "$0" "$@"
fi

PARTITION="${SLURM_LOCAL_PARTITION:-debug}"
CLUSTER="${SLURM_LOCAL_CLUSTER:-localci}"
TASK_PLUGIN="${SLURM_LOCAL_TASK_PLUGIN:-task/affinity}"
SKIP_INSTALL="${SLURM_LOCAL_SKIP_INSTALL:-0}"
SMOKE="${SLURM_LOCAL_SMOKE:-1}"
STATE_DIR="${SLURM_LOCAL_STATE_DIR:-/run/slurm-local}"
TIMEOUT="${SLURM_LOCAL_TIMEOUT:-60}"

SLURM_CONF=/etc/slurm/slurm.conf
export DEBIAN_FRONTEND=noninteractive

T_START=$(date +%s%N)
log() { local ms=$(( ($(date +%s%N) - T_START) / 1000000 )); printf '[slurm-setup %3d.%03ds] %s\n' $((ms / 1000)) $((ms % 1000)) "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- helpers
proc_start_time() { # field 22 of /proc/PID/stat (guards against PID reuse)
  sed -E 's/^.*\) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'
}
# running_pid NAME PIDFILE -> prints pid if PIDFILE names a live process called NAME
running_pid() {
  local name=$1 pidfile=$2 pid
  [ -s "$pidfile" ] || return 1
  pid=$(tr -dc '0-9' < "$pidfile")
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
  [ "$(cat "/proc/$pid/comm")" = "$name" ] || return 1
  echo "$pid"
}
we_started() { # NAME -> true if the ledger says this script started the live process
  local name=$1 f="$STATE_DIR/$1.pid" pid st
  [ -s "$f" ] || return 1
  read -r pid st < "$f"
  [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$name" ] \
    && [ "$(proc_start_time "$pid")" = "$st" ]
}
record() { # NAME PID
  mkdir -p "$STATE_DIR"
  echo "$2 $(proc_start_time "$2")" > "$STATE_DIR/$1.pid"
}
wait_for() { # DESCRIPTION CMD... ; polls every 0.1 s up to $TIMEOUT
  local desc=$1; shift
  local deadline=$(( $(date +%s) + TIMEOUT ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
# start_daemon NAME PIDFILE LOGFILE CMD... : start unless already running, record pid
start_daemon() {
  local name=$1 pidfile=$2 logfile=$3; shift 3
  local pid
  if pid=$(running_pid "$name" "$pidfile"); then
    if we_started "$name"; then log "$name already running (pid $pid, started by this script)";
    else log "$name already running (pid $pid, NOT started by this script; stop.sh will leave it alone)"; fi
    return 0
  fi
  rm -f "$pidfile"
  "$@" || { [ -f "$logfile" ] && tail -20 "$logfile" >&2; die "could not start $name"; }
  if ! wait_for "$name pidfile" running_pid "$name" "$pidfile"; then
    [ -f "$logfile" ] && tail -20 "$logfile" >&2
    die "$name did not come up (no live pid in $pidfile)"
  fi
  pid=$(running_pid "$name" "$pidfile")
  record "$name" "$pid"
  log "started $name (pid $pid)"
}
# stop_ours NAME : stop a daemon only if the ledger says we started it (used for restarts)
stop_ours() {
  local name=$1 f="$STATE_DIR/$1.pid" pid st
  we_started "$name" || return 0
  read -r pid st < "$f"
  kill -TERM "$pid" 2>/dev/null || true
  local i; for i in $(seq 1 $((TIMEOUT * 10))); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  [ -d "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
  log "stopped $name (pid $pid) for restart"
}
write_if_changed() { # PATH OWNER MODE ; content on stdin ; returns 0 if changed
  local path=$1 owner=$2 mode=$3 tmp
  tmp=$(mktemp)
  cat > "$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then rm -f "$tmp"; chown "$owner" "$path"; chmod "$mode" "$path"; return 1; fi
  install -D -o "${owner%%:*}" -g "${owner##*:}" -m "$mode" "$tmp" "$path"
  rm -f "$tmp"
  return 0
}

# ---------------------------------------------------------------- 1. install
PKGS="slurm-wlm munge"
MISSING=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || MISSING="$MISSING $p"
done
if [ -n "$MISSING" ]; then
  [ "$SKIP_INSTALL" = 1 ] && die "missing packages:$MISSING (SLURM_LOCAL_SKIP_INSTALL=1)"
  log "apt-get install$MISSING"
  # shellcheck disable=SC2086
  if ! apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends $MISSING >/tmp/hepmva-slurm-apt.log 2>&1; then
    log "install failed, running apt-get update and retrying"
    apt-get update -q -o DPkg::Lock::Timeout=300 >>/tmp/hepmva-slurm-apt.log 2>&1
    apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends $MISSING >>/tmp/hepmva-slurm-apt.log 2>&1 \
      || { tail -20 /tmp/hepmva-slurm-apt.log >&2; die "apt-get install failed"; }
  fi
  log "packages installed"
else
  log "packages already installed ($PKGS)"
fi
log "slurm version: $(slurmd -V)"

# ---------------------------------------------------------------- 2. munge
if [ ! -s /etc/munge/munge.key ]; then
  log "creating /etc/munge/munge.key"
  install -d -o munge -g munge -m 0700 /etc/munge
  if command -v mungekey >/dev/null 2>&1; then mungekey --create --keyfile=/etc/munge/munge.key
  else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
fi
chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
start_daemon munged /run/munge/munged.pid /var/log/munge/munged.log runuser -u munge -- /usr/sbin/munged
wait_for "munge round trip" bash -c 'munge -n | unmunge' || die "munge round trip failed"

# ---------------------------------------------------------------- 3. slurm.conf
HOST=$(hostname -s)
NODE_HW=$(slurmd -C 2>/dev/null | grep '^NodeName=' | head -1)
[ -n "$NODE_HW" ] || die "slurmd -C gave no NodeName line"
hw() { echo "$NODE_HW" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
CPUS=$(hw CPUs); BOARDS=$(hw Boards); SOCKETS=$(hw SocketsPerBoard); CORES=$(hw CoresPerSocket)
THREADS=$(hw ThreadsPerCore); MEM=$(hw RealMemory)
MEM=$(( MEM * 95 / 100 ))   # headroom: a node with less memory than configured gets drained
SLURM_USER=slurm; id slurm >/dev/null 2>&1 || SLURM_USER=root


CONF_CHANGED=0
if write_if_changed "$SLURM_CONF" root:root 0644 <<EOF
# generated by hepmva .ci/slurm/setup.sh - single-node localhost cluster for CI
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=$SLURM_USER
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# no cgroups needed (works in containers/VMs without a delegated cgroup tree)
ProctrackType=proctrack/linuxproc
TaskPlugin=$TASK_PLUGIN
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# keep finished jobs visible to 'squeue --states=all' for 5 min; the Snakemake
# slurm plugin's squeue status mode needs MinJobAge >= 3 * init-seconds-before-status-checks
MinJobAge=300
ReturnToService=2
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS Boards=$BOARDS SocketsPerBoard=$SOCKETS CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$MEM State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
then CONF_CHANGED=1; log "wrote $SLURM_CONF (node $HOST: $CPUS CPUs, ${MEM} MB)"; else log "$SLURM_CONF unchanged"; fi

install -d -o "$SLURM_USER" -g "$SLURM_USER" -m 0755 /run/slurm /var/log/slurm /var/lib/slurm /var/lib/slurm/slurmctld
install -d -o root -g root -m 0755 /var/lib/slurm/slurmd

if [ "$CONF_CHANGED" = 1 ]; then
  # restart only daemons we started ourselves; warn about foreign ones
  for d in slurmd slurmctld; do
    if running_pid "$d" "/run/slurm/$d.pid" >/dev/null; then
      if we_started "$d"; then stop_ours "$d"; else log "WARNING: $d runs with the old config and was not started by this script"; fi
    fi
  done
fi

# ---------------------------------------------------------------- 4. slurmctld + slurmd
start_daemon slurmctld /run/slurm/slurmctld.pid /var/log/slurm/slurmctld.log slurmctld
wait_for "slurmctld answers" scontrol ping || die "slurmctld not answering (see /var/log/slurm/slurmctld.log)"
start_daemon slurmd /run/slurm/slurmd.pid /var/log/slurm/slurmd.log slurmd

node_ready() { sinfo -h -n "$HOST" -o '%T' | grep -Eq '^(idle|mixed|allocated|completing)$'; }
if ! wait_for "node $HOST idle" node_ready; then
  log "node state: $(sinfo -h -n "$HOST" -o '%T %E')"
  scontrol update nodename="$HOST" state=resume 2>/dev/null || true
  wait_for "node $HOST idle" node_ready || die "node $HOST not usable: $(sinfo -h -n "$HOST" -o '%T %E')"
fi
log "cluster up: $(sinfo -h -o '%P %a %D %T %N' | tr '\n' ' ')"

if [ "$SMOKE" = 1 ]; then
  out=$(timeout "$TIMEOUT" srun -p "$PARTITION" -N1 -n1 -t 1 hostname) || die "srun smoke test failed"
  log "smoke test ok: srun hostname -> $out"
fi
log "accounting off: run Snakemake with --slurm-status-command squeue (sacct would fail and the workflow would hang)"
log "done"
