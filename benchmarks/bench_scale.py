"""Scale: the workflow on the built-in generator's samples in 100 files, at several total sizes (issue 13).

For every size (``--sizes``, events in total over the three samples, default 1M, 3M, 10M) the script
writes signal, ttbar and W+jets in 100 ROOT files (34 + 33 + 33, each file its own seed and event ids),
runs ``snakemake --cores 2`` on the default study with those files as inputs (each sample's
``weight``, ``xsec_pb`` and ``sum_weights`` from the files, as the generated samples have them) and a
reduced classifier set (``--classifiers``: xgboost with ``max_train_events`` and Fisher by default; the
optional studies off; ``evaluation.method: binned`` at every size, ``--evaluation-method``), then reads what every job cost from the last line of its log (``results/logs/<stage>/...``, ``job done: ...``
written by :func:`hepmva.logs.log_to`; a stage is the log's folder, e.g. ``features`` holds the features jobs and
their merge):

- peak RSS of every stage's jobs (max over its jobs) at each size, and its ratio to the smallest size
  (flat = within 20 %);
- CPU seconds per million events per stage (sum over its jobs) at each size;
- features events/s against a bare ``uproot.arrays`` of the same branches of the same file (one of the
  largest size's files), side by side in this process (``bench_features.py`` has the breakdown).

    PYTHONPATH=src python benchmarks/bench_scale.py                        # 1M, 3M, 10M events
    PYTHONPATH=src python benchmarks/bench_scale.py --sizes 1000000,3000000 --keep /tmp/scale
    PYTHONPATH=src python benchmarks/bench_scale.py --features-only 10000000 --repeats 10   # that line alone
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = (("signal", "signal", 34), ("ttbar", "background", 33), ("wjets", "background", 33))


def _write(args: tuple[str, str, int, int, int]) -> None:
    from hepmva.generate import write_sample

    path, process, n, seed, first = args
    write_sample(path, process, n, seed, first_event=first)


def write_files(data: Path, total: int) -> None:
    """The three processes in 100 files, ``total`` events in all (each file: its own seed and event ids)."""
    jobs = []
    per_file = total // 100
    for k, (process, _, n_files) in enumerate(SAMPLES):
        for i in range(n_files):
            jobs.append((str(data / f"{process}_{i:03d}.root"), process, per_file, 1000 * k + i, 1 + i * per_file))
    data.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_write, jobs))


def study_config(data: Path, classifiers: list[str], max_train: int, method: str = "binned") -> dict:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    by_name = {s["name"]: s for s in cfg["samples"]}
    cfg["samples"] = [
        {"name": name, "label": label, "files": [str(data / f"{name}_*.root")], "tree": "Events",
         "weight": "genWeight", "xsec_pb": {"tree": "Runs", "branch": "xsec_pb"},
         "sum_weights": {"tree": "Runs", "branch": "genEventSumw"}, "selection": by_name[name].get("selection")}
        for name, label, _ in SAMPLES
    ]
    kept = [dict(c) for c in cfg["classifiers"] if c["name"] in classifiers]
    for c in kept:
        c["max_train_events"] = max_train
    cfg["classifiers"] = kept
    # one evaluation path at every size: auto would judge 1M exactly (every score in memory) and 3M, 10M binned
    cfg["evaluation"]["method"] = method
    for key in ("training_methods", "optimizer_study", "apply"):
        cfg[key]["activate"] = False
    for study in ("clustering", "decomposition", "anomaly"):
        cfg["unsupervised"][study]["activate"] = False
    return cfg


def read_job_costs(results: Path) -> dict[str, list[dict]]:
    """Stage (the log's folder below ``results/logs``) -> each of its jobs' wall s, CPU s and peak RSS (MiB)."""
    from hepmva.logs import job_cost

    rows = defaultdict(list)
    logs = results / "logs"
    for log in logs.rglob("*.log"):
        cost = job_cost(log.read_text(errors="replace"))
        if cost.cpu is not None:
            stage = log.relative_to(logs).with_suffix("").parts[0]
            rows[stage].append({"wall": cost.wall, "cpu_time": cost.cpu, "max_rss": cost.peak_rss_mib})
    return rows


def features_vs_uproot(path: str, repeats: int = 3) -> tuple[float, float, float]:
    """(uproot.arrays CPU s, build_feature_part CPU s, events) on one file, alternating, best of ``repeats``."""
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_features as bf

    sample, kwargs, spec = bf._study(path)
    program = bf._program(sample, kwargs)
    best = [float("inf"), float("inf")]
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for k, run in enumerate((lambda: bf._arrays(path, program.branches, None),
                                     lambda: bf._build(sample, spec, kwargs, str(Path(tmp) / "p.parquet")))):
                c0 = time.process_time()
                run()
                best[k] = min(best[k], time.process_time() - c0)
    import uproot

    with uproot.open(path) as f:
        n = f["Events"].num_entries
    return best[0], best[1], n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,3000000,10000000", help="total events, comma-separated")
    parser.add_argument("--classifiers", default="xgboost,fisher", help="classifiers of the default study to keep")
    parser.add_argument("--max-train-events", type=int, default=200_000)
    parser.add_argument("--evaluation-method", default="binned", choices=("binned", "exact", "auto"),
                        help="evaluation.method at every size (default binned: the mergeable path whatever the size)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", help="work directory to keep (default: a temporary one, removed)")
    parser.add_argument("--features-only", type=int, metavar="EVENTS",
                        help="only the features-vs-uproot line, on the first ttbar file of a study of EVENTS in all "
                             "(EVENTS / 100 in the file), no workflow run")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the features-vs-uproot line (best of)")
    args = parser.parse_args()
    if args.features_only:
        features_only(args.features_only, args.repeats)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="hepmva-scale-"))
    table: dict[int, dict[str, list[dict]]] = {}
    walls: dict[int, float] = {}
    loads: dict[int, float] = {}
    try:
        for size in sizes:
            work = base / f"{size}"
            t0 = time.perf_counter()
            write_files(work / "data", size)
            gen = time.perf_counter() - t0
            cfg = study_config(work / "data", args.classifiers.split(","), args.max_train_events,
                               args.evaluation_method)
            (work / "config.yaml").write_text(yaml.safe_dump(cfg))
            cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
                   "--configfile", str(work / "config.yaml"), "--cores", str(args.cores)]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            walls[size], loads[size] = time.perf_counter() - t0, os.getloadavg()[0]
            if proc.returncode != 0:
                sys.exit(f"snakemake failed at {size} events:\n{proc.stderr[-4000:]}")
            table[size] = read_job_costs(work / "results")
            print(f"{size:,} events: files written in {gen:.0f} s, workflow {walls[size]:.0f} s wall "
                  f"(load average {loads[size]:.1f})", flush=True)
        arrays_s, build_s, n = features_vs_uproot(str(base / f"{sizes[-1]}" / "data" / "ttbar_000.root"),
                                                  args.repeats)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    rules = sorted(set().union(*(t.keys() for t in table.values())))
    print(f"\nclassifiers: {args.classifiers} (max_train_events {args.max_train_events}); optional studies off; "
          f"evaluation.method {args.evaluation_method}; --cores {args.cores}")
    print("\nPeak RSS per job (MiB, max over the stage's jobs) and its ratio to the smallest size:\n")
    print("| stage | jobs | " + " | ".join(f"{s / 1e6:g}M" for s in sizes) + f" | {sizes[-1] / 1e6:g}M / {sizes[0] / 1e6:g}M |")
    print("|---|---:|" + "---:|" * (len(sizes) + 1))
    for rule in rules:
        rss = [max((r["max_rss"] for r in table[s].get(rule, [])), default=float("nan")) for s in sizes]
        jobs = "/".join(str(len(table[s].get(rule, []))) for s in sizes)
        print(f"| {rule} | {jobs} | " + " | ".join(f"{v:.0f}" for v in rss) + f" | {rss[-1] / rss[0]:.2f} |")
    print("\nCPU seconds per million events (sum over the stage's jobs), and the marginal\n"
          f"cost per million events from {sizes[0] / 1e6:g}M to {sizes[-1] / 1e6:g}M (the per-job constant taken out):\n")
    print("| stage | " + " | ".join(f"{s / 1e6:g}M" for s in sizes) + " | marginal | CPU s per job |")
    print("|---|" + "---:|" * (len(sizes) + 2))
    for rule in rules + ["total"]:
        cpu, jobs = [], []
        for s in sizes:
            rows = [r for k, v in table[s].items() if rule in ("total", k) for r in v]
            cpu.append(sum(r["cpu_time"] for r in rows))
            jobs.append(len(rows))
        marginal = (cpu[-1] - cpu[0]) / ((sizes[-1] - sizes[0]) / 1e6) if len(sizes) > 1 else float("nan")
        print(f"| {rule} | " + " | ".join(f"{c / (s / 1e6):.2f}" for c, s in zip(cpu, sizes))
              + f" | {marginal:.2f} | {cpu[0] / max(jobs[0], 1):.2f} |")
    print("\n| size | workflow wall s | load average |\n|---:|---:|---:|")
    for s in sizes:
        print(f"| {s / 1e6:g}M | {walls[s]:.0f} | {loads[s]:.1f} |")
    print("\n" + _features_line(arrays_s, build_s, n, args.repeats))


def _features_line(arrays_s: float, build_s: float, n: int, repeats: int) -> str:
    return (f"features on one file ({n:,} events of ttbar): bare uproot.arrays {n / arrays_s / 1e6:.2f} M events/s, "
            f"build_feature_part {n / build_s / 1e6:.2f} M events/s (CPU time, best of {repeats}): "
            f"{arrays_s / build_s:.0%} of uproot; load average {os.getloadavg()[0]:.1f}")


def features_only(total: int, repeats: int) -> None:
    """The features-vs-uproot line on the file ``write_files`` writes first for ttbar at ``total`` events."""
    from hepmva.generate import write_sample

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "ttbar_000.root")
        write_sample(path, "ttbar", total // 100, 1000, first_event=1)  # write_files' (seed, first event) for it
        print(_features_line(*features_vs_uproot(path, repeats), repeats))


if __name__ == "__main__":
    main()
