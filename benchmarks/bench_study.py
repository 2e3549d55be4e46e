"""Where the default study's time goes: run it from a clean results directory and account for every second.

    PYTHONPATH=src python benchmarks/bench_study.py                      # copy of this checkout, --cores 2
    PYTHONPATH=src python benchmarks/bench_study.py --cores 2 --keep /tmp/study   # keep the run directory
    PYTHONPATH=src python benchmarks/bench_study.py --analyze /tmp/study          # only the tables of a run
    PYTHONPATH=src python benchmarks/bench_study.py --compare /tmp/before /tmp/after   # two runs, job by job

The study runs in a copy of this checkout (``Snakefile``, ``config/``, ``workflow/``, ``profiles/``; ``src`` on
``PYTHONPATH``) exactly as a user runs it. Each job's rule, threads, id and log come from a dry run of the same
DAG beforehand (``jobs.json``); its wall and CPU seconds from the ``job done:`` line :func:`hepmva.logs.log_to`
writes into every rule log. (The rules have no ``benchmark:`` directive: Snakemake samples a benchmarked job's
memory every 0.5 s for its first 15 s, parsing ``/proc/<pid>/smaps_rollup`` of its whole process tree, ~10 ms a
sample, which cost the default study ~10 CPU s of the Snakemake process.) Then:

- wall time of the whole run, load average before and after, and the CPU seconds of every process of the run
  (Snakemake and its jobs: ``RUSAGE_CHILDREN``);
- per rule: jobs, core-seconds **held** (threads x job wall) and **used** (CPU seconds of the job's processes,
  from the ``job done:`` line :func:`hepmva.logs.log_to` writes into every rule log), and of the used the
  **fixed** part (``job start-up``: interpreter, Snakemake's preamble, imports) against the work;
- the critical path (longest chain of the DAG, ``snakemake --d3dag``, weighted by each job's CPU seconds /
  threads: the wall time no number of cores could beat) and a 2-core estimate for a quiet machine (greedy
  scheduling of the DAG with those durations, longest remaining path first).

The run's Python caches bytecode as a user's does (``PYTHONDONTWRITEBYTECODE`` unset, ``src/hepmva`` compiled
first); ``--no-bytecode`` keeps the environment's setting.

On a shared machine the wall times mostly measure the other users; the CPU seconds do not, which is why the
estimate is built from them.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hepmva.logs import job_cost

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("Snakefile", "config", "workflow", "profiles")
#: speed-up of a job on 2 threads over 1 (xgboost, HGB, forests on the default study's 130k events), for the
#: quiet-machine estimate of :func:`compare`
PARALLEL_SPEEDUP = 1.6


@dataclass
class Job:
    rule: str
    name: str  # the rule log's path below results/logs, without .log
    jobid: int
    threads: int
    wall: float  # wall seconds of the job's Python (rule log), 0 when the job logged no end
    cpu: float | None  # CPU seconds of the job's processes (rule log), None when the job wrote none
    startup_cpu: float | None
    startup_wall: float | None

    @property
    def held(self) -> float:
        return self.threads * self.wall

    def duration(self, quiet_threads: float | None = None) -> float:
        """Estimated wall seconds on a quiet machine: CPU seconds spread over the job's threads."""
        if self.cpu is None:
            return self.wall
        return self.cpu / max(1.0, min(self.threads, quiet_threads or self.threads))


def copy_study(workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, workdir / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.exists():
            shutil.copy2(src, workdir / name)


#: ``snakemake`` run in a Python that writes its own CPU seconds (``RUSAGE_SELF``: the scheduler, the scripts'
#: preambles; not its children) to the file given as the first argument
_LAUNCH = """
import atexit, json, resource, sys
out = sys.argv.pop(1)
def own():
    r = resource.getrusage(resource.RUSAGE_SELF)
    with open(out, "w") as f:
        json.dump({"cpu": r.ru_utime + r.ru_stime}, f)
atexit.register(own)
sys.argv[0] = "snakemake"
from snakemake.cli import main
main()
"""


def run_study(workdir: Path, cores: int, extra: list[str], *, bytecode: bool = True) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if bytecode:
        # as on a user's machine: Python caches the bytecode of hepmva's modules (src/hepmva/**/__pycache__) at the
        # first import. A sandbox or CI that sets PYTHONDONTWRITEBYTECODE makes every job compile them again
        # (~0.1-0.2 CPU s a job); --no-bytecode measures that case
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src" / "hepmva")], env=env, check=True)
    dag = subprocess.run(["snakemake", "--d3dag", "--nolock", "--cores", str(cores), *extra], cwd=workdir, env=env,
                         capture_output=True, text=True, check=True)
    (workdir / "dag.json").write_text(dag.stdout[dag.stdout.index("{"):])
    list_jobs(workdir, cores, extra, env)
    load0 = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(workdir / "snakemake.out", "w") as out:
        proc = subprocess.run([sys.executable, "-c", _LAUNCH, str(workdir / "snakemake_self.json"), "--cores",
                               str(cores), *extra], cwd=workdir, env=env, stdout=out,
                              stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        sys.exit(f"snakemake failed (exit {proc.returncode}); see {workdir / 'snakemake.out'}")
    run = {"wall": wall, "cores": cores, "load_before": load0, "load_after": os.getloadavg(),
           "cpu_all": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
           "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(time.time() - wall)), "bytecode": bytecode}
    own = workdir / "snakemake_self.json"
    if own.exists():  # the Snakemake process's own CPU seconds, apart from its children's
        run["cpu_snakemake"] = json.loads(own.read_text())["cpu"]
    (workdir / "run.json").write_text(json.dumps(run))
    return run


#: a job block of Snakemake's dry-run listing: ``rule NAME:`` (or ``localrule`` / ``checkpoint``), then its
#: indented ``key: value`` lines
_JOB_HEAD = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
_JOB_FIELD = re.compile(r"^\s+(\w+): (.*)$")


def list_jobs(workdir: Path, cores: int, extra: list[str], env: dict) -> list[dict]:
    """Every job of the run about to start, from a dry run of the same DAG: id, rule, threads and log (the ids
    are the ones ``--d3dag`` and the run give the same DAG); written to ``jobs.json``."""
    dry = subprocess.run(["snakemake", "-n", "--nolock", "--quiet", "host", "--cores", str(cores), *extra],
                         cwd=workdir, env=env, capture_output=True, text=True, check=True)
    jobs, job = [], None
    for line in dry.stdout.splitlines():
        if head := _JOB_HEAD.match(line):
            job = {"rule": head.group(1), "threads": 1, "log": None}
            jobs.append(job)
        elif job is not None and (field := _JOB_FIELD.match(line)):
            key, value = field.groups()
            if key == "jobid":
                job["jobid"] = int(value)
            elif key == "threads":
                job["threads"] = int(value)
            elif key == "log":
                job["log"] = value.split(", ")[0]
        elif not line.startswith(" "):
            job = None
    jobs = [j for j in jobs if "jobid" in j]
    (workdir / "jobs.json").write_text(json.dumps(jobs))
    return jobs


def read_jobs(workdir: Path) -> list[Job]:
    """The run's jobs that wrote a log, with the costs their ``job start-up`` / ``job done`` lines state."""
    logs = workdir / "results" / "logs"
    jobs = []
    for rec in json.loads((workdir / "jobs.json").read_text()):
        log = workdir / rec["log"] if rec["log"] else None
        if log is None or not log.exists():
            continue
        cost = job_cost(log.read_text(errors="replace"))
        jobs.append(Job(rule=rec["rule"], name=str(log.relative_to(logs).with_suffix("")), jobid=rec["jobid"],
                        threads=rec["threads"], wall=cost.wall or 0.0, cpu=cost.cpu, startup_cpu=cost.startup_cpu,
                        startup_wall=cost.startup_wall))
    return jobs


def read_dag(workdir: Path) -> tuple[dict[int, str], dict[int, list[int]]]:
    dag = json.loads((workdir / "dag.json").read_text())
    rules = {n["value"]["jobid"]: n["value"]["rule"] for n in dag["nodes"]}
    preds: dict[int, list[int]] = {j: [] for j in rules}
    for e in dag["edges"]:
        preds[e["v"]].append(e["u"])
    return rules, preds


def critical_path(durations: dict[int, float], preds: dict[int, list[int]]) -> tuple[float, list[int]]:
    finish: dict[int, float] = {}
    best: dict[int, int | None] = {}

    def visit(j: int) -> float:
        if j not in finish:
            p = max(preds[j], key=visit, default=None)
            best[j] = p
            finish[j] = (finish[p] if p is not None else 0.0) + durations.get(j, 0.0)
        return finish[j]

    sys.setrecursionlimit(10000)
    last = max(preds, key=visit)
    chain, j = [], last
    while j is not None:
        chain.append(j)
        j = best[j]
    return finish[last], chain[::-1]


def simulate(durations: dict[int, float], threads: dict[int, int], preds: dict[int, list[int]], cores: int) -> float:
    """Greedy list scheduling of the DAG on ``cores``: a ready job starts when its threads are free, the one with
    the longest remaining path first (what Snakemake's scheduler approximates)."""
    succs: dict[int, list[int]] = {j: [] for j in preds}
    for j, ps in preds.items():
        for p in ps:
            succs[p].append(j)
    tail: dict[int, float] = {}

    def remaining(j: int) -> float:
        if j not in tail:
            tail[j] = durations.get(j, 0.0) + max((remaining(s) for s in succs[j]), default=0.0)
        return tail[j]

    waiting = {j: len(ps) for j, ps in preds.items()}
    ready = [(-remaining(j), j) for j, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    running: list[tuple[float, int]] = []
    now, free = 0.0, cores
    while ready or running:
        started = True
        while started:
            started = False
            for k, (_, j) in enumerate(sorted(ready)):
                need = min(threads.get(j, 1), cores)
                if need <= free:
                    ready.remove((-remaining(j), j))
                    heapq.heapify(ready)
                    free -= need
                    heapq.heappush(running, (now + durations.get(j, 0.0), j))
                    started = True
                    break
        now, j = heapq.heappop(running)
        free += min(threads.get(j, 1), cores)
        for s in succs[j]:
            waiting[s] -= 1
            if waiting[s] == 0:
                heapq.heappush(ready, (-remaining(s), s))
    return now


def report(workdir: Path) -> str:
    jobs = read_jobs(workdir)
    run = json.loads((workdir / "run.json").read_text()) if (workdir / "run.json").exists() else {}
    cores = int(run.get("cores", 2))
    out = [f"# {workdir}: {len(jobs)} jobs"]
    if run:
        out.append(f"started {run['started']}, --cores {cores}: **{run['wall']:.1f} s wall**; load average "
                   f"{run['load_before'][0]:.1f} before, {run['load_after'][0]:.1f} after; CPU of every process of "
                   f"the run {run['cpu_all']:.1f} s")
    by_rule: dict[str, list[Job]] = {}
    for j in jobs:
        by_rule.setdefault(j.rule, []).append(j)
    out += ["", "| rule | jobs | threads | wall s (sum) | core-s held | CPU s used | used / held | start-up CPU s "
            "| work CPU s | mean start-up CPU s / job |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    total = {"wall": 0.0, "held": 0.0, "cpu": 0.0, "startup": 0.0}
    for rule, js in sorted(by_rule.items(), key=lambda kv: -sum(j.cpu or 0 for j in kv[1])):
        wall, held = sum(j.wall for j in js), sum(j.held for j in js)
        cpu = sum(j.cpu or 0.0 for j in js)
        startup = sum(j.startup_cpu or 0.0 for j in js)
        threads = "/".join(str(t) for t in sorted({j.threads for j in js}))
        total["wall"] += wall
        total["held"] += held
        total["cpu"] += cpu
        total["startup"] += startup
        out.append(f"| {rule} | {len(js)} | {threads} | {wall:.1f} | {held:.1f} | {cpu:.1f} | "
                   f"{cpu / held if held else 0:.2f} | {startup:.1f} | {cpu - startup:.1f} | {startup / len(js):.2f} |")
    out.append(f"| **all** | {len(jobs)} | | {total['wall']:.1f} | {total['held']:.1f} | {total['cpu']:.1f} | "
               f"{total['cpu'] / total['held'] if total['held'] else 0:.2f} | {total['startup']:.1f} | "
               f"{total['cpu'] - total['startup']:.1f} | |")
    if run:
        out.append(f"\nSnakemake itself (DAG, scheduling; CPU of the run minus the jobs'): "
                   f"{run['cpu_all'] - total['cpu']:.1f} s CPU")
        if "cpu_snakemake" in run:
            rest = run["cpu_all"] - total["cpu"] - run["cpu_snakemake"]
            out.append(f"of which the Snakemake process: {run['cpu_snakemake']:.1f} s (its scheduler and the "
                       f"scripts' preambles), the rest {rest:.1f} s outside both (the jobs' "
                       f"shells, each job's Python after its last log line: interpreter exit)")
    out += ["", "Most expensive jobs (CPU s used):", ""]
    for j in sorted(jobs, key=lambda j: -(j.cpu or 0))[:15]:
        out.append(f"- {j.name} ({j.threads} threads): {j.cpu or 0:.1f} s CPU, {j.wall:.1f} s wall, start-up "
                   f"{j.startup_cpu or 0:.2f} s CPU")
    if (workdir / "dag.json").exists():
        rules, preds = read_dag(workdir)
        by_id = {j.jobid: j for j in jobs}
        missing = [i for i, r in rules.items() if r != "all" and i not in by_id]
        if missing:
            out.append(f"\n(jobs of the DAG without a log: {len(missing)}; counted as 0 s)")
        thr = {i: j.threads for i, j in by_id.items()}
        for label, quiet in (("CPU s / threads (perfect threading)", None), ("CPU s (multi-threaded jobs on one core)", 1)):
            dur = {i: j.duration(quiet) for i, j in by_id.items()}
            length, chain = critical_path(dur, preds)
            est = simulate(dur, thr, preds, cores)
            out.append(f"\nDurations = {label}: critical path {length:.1f} s, {cores}-core schedule "
                       f"**{est:.1f} s** (quiet-machine estimate; CPU work / {cores} = "
                       f"{sum(dur[i] * min(thr[i], cores) for i in dur) / cores:.1f} s)")
            if quiet is None:
                out.append("critical path: " + " -> ".join(
                    f"{by_id[i].name} {dur[i]:.1f}" for i in chain if i in by_id))
    return "\n".join(out)


def _threads_of(workdir: Path, job_name: str, rule: str) -> int:
    """Threads a job of ``rule`` holds with this checkout's rules: the kind's record for train / importance, else 1."""
    if rule not in ("train", "importance"):
        return 1
    import yaml

    from hepmva.models import get_kind

    name = Path(job_name).name.rsplit("_fold", 1)[0]
    classifiers = yaml.safe_load((workdir / "config" / "config.yaml").read_text())["classifiers"]
    return get_kind(next(c["kind"] for c in classifiers if c["name"] == name)).threads


def compare(before: Path, after: Path, cores: int = 2) -> str:
    """Job by job (same log name): CPU seconds before and after, per rule; and a quiet-machine estimate of
    the after run's wall from its DAG, with the after CPU seconds where its job finished and the before ones
    (threads of the after rules) where it has not (an unfinished run on a busy machine)."""
    jb, ja = {j.name: j for j in read_jobs(before)}, {j.name: j for j in read_jobs(after)}
    both = sorted(set(jb) & set(ja))
    out = [f"# {before} -> {after}: {len(both)} jobs in both ({len(jb)} and {len(ja)} finished)", "",
           "| rule | jobs in both | threads before -> after | CPU s before | CPU s after | start-up CPU s before -> after "
           "| core-s held on a quiet machine before -> after |", "|---|---:|---|---:|---:|---|---|"]
    rules = sorted({jb[n].rule for n in both}, key=lambda r: -sum(jb[n].cpu or 0 for n in both if jb[n].rule == r))
    tot = [0.0] * 6
    for rule in rules:
        names = [n for n in both if jb[n].rule == rule]
        cb, ca = sum(jb[n].cpu or 0 for n in names), sum(ja[n].cpu or 0 for n in names)
        sb, sa = sum(jb[n].startup_cpu or 0 for n in names), sum(ja[n].startup_cpu or 0 for n in names)
        # a job holds its threads for (CPU / threads) seconds on a quiet machine: held = CPU for perfect threading,
        # and threads x CPU for a job that uses one core of those it holds
        hb = sum(jb[n].threads * jb[n].duration(1) for n in names)  # CPU x threads: one core used of those held
        ha = sum(ja[n].threads * ja[n].duration(1) for n in names)
        thr = f"{'/'.join(map(str, sorted({jb[n].threads for n in names})))} -> " \
              f"{'/'.join(map(str, sorted({ja[n].threads for n in names})))}"
        out.append(f"| {rule} | {len(names)} | {thr} | {cb:.1f} | {ca:.1f} | {sb:.1f} -> {sa:.1f} | {hb:.1f} -> {ha:.1f} |")
        for i, v in enumerate((cb, ca, sb, sa, hb, ha)):
            tot[i] += v
    out.append(f"| **all** | {len(both)} | | {tot[0]:.1f} | {tot[1]:.1f} | {tot[2]:.1f} -> {tot[3]:.1f} | "
               f"{tot[4]:.1f} -> {tot[5]:.1f} |")
    ratio = {}  # after / before CPU per rule, on the jobs finished in both
    for rule in rules:
        names = [n for n in both if jb[n].rule == rule]
        cb = sum(jb[n].cpu or 0 for n in names)
        ratio[rule] = sum(ja[n].cpu or 0 for n in names) / cb if cb else 1.0
    rules_of, preds = read_dag(before)
    by_id = {j.jobid: j for j in jb.values()}
    for label, projected in (("before", False), ("after (projected)", True)):
        dur, thr = {}, {}
        for i, rule in rules_of.items():
            j = by_id.get(i)
            if j is None:
                continue
            if projected and j.name in ja:
                j = ja[j.name]
                dur[i], thr[i] = _quiet_duration(j.cpu, j.threads, j.wall), j.threads
            elif projected:
                thr[i] = _threads_of(after, j.name, j.rule)
                cpu = None if j.cpu is None else j.cpu * ratio.get(j.rule, 1.0)
                dur[i] = _quiet_duration(cpu, thr[i], j.wall)
            else:  # a single-threaded learner on 2 threads (before) runs as on one, holding both
                dur[i], thr[i] = _quiet_duration(j.cpu, j.threads, j.wall,
                                                 _threads_of(after, j.name, j.rule) > 1), j.threads
        length, _ = critical_path(dur, preds)
        est = simulate(dur, thr, preds, cores)
        held = sum(dur[i] * min(thr[i], cores) for i in dur)
        out.append(f"\n{label}, on the before run's DAG ({len(dur)} jobs): quiet {cores}-core estimate **{est:.0f} s**, "
                   f"critical path {length:.0f} s, core-s held {held:.0f}")
    out.append("\n(after (projected): the after run's CPU seconds where its job finished, else the before job's times "
               "the rule's after/before CPU ratio, with the after rules' threads; a job on t > 1 threads is taken to "
               f"run {PARALLEL_SPEEDUP} x faster than on one)")
    return "\n".join(out)


def _quiet_duration(cpu: float | None, threads: int, wall: float, parallel: bool = True) -> float:
    """A job's wall seconds on a quiet machine: its CPU seconds, over :data:`PARALLEL_SPEEDUP` when it holds
    more than one thread and its learner runs in parallel (its wall where it logged no CPU)."""
    if cpu is None:
        return wall
    return cpu / (PARALLEL_SPEEDUP if threads > 1 and parallel else 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="run directory to create and keep (default: a temporary one)")
    ap.add_argument("--analyze", type=Path, help="only print the tables of an existing run directory")
    ap.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"),
                    help="compare two run directories job by job")
    ap.add_argument("--no-bytecode", action="store_true",
                    help="keep PYTHONDONTWRITEBYTECODE as the environment has it (default: unset, the cache written)")
    ap.add_argument("snakemake_args", nargs="*", help="more snakemake arguments (after --)")
    args = ap.parse_args()
    if args.compare:
        print(compare(*args.compare, cores=args.cores))
        return
    if args.analyze:
        print(report(args.analyze))
        return
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="hepmva-bench-study-"))
    if (workdir / "results").exists():
        sys.exit(f"{workdir / 'results'} exists: the benchmark starts from a clean results directory")
    copy_study(workdir)
    run_study(workdir, args.cores, args.snakemake_args, bytecode=not args.no_bytecode)
    print(report(workdir))
    if not args.keep:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
