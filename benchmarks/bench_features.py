"""Feature building (hepmva.stages.features.build_feature_part) against a bare uproot read of the same branches.

The default study's ttbar sample (its features, spectators, selections, generator weight and metadata
cross-section / sum of weights) on one file of the built-in generator. In one process, alternating,
``--repeats`` times each (best of the repeats):

- ``uproot.arrays``: ``tree.arrays(branches)`` of exactly the branches the features read, the whole
  file at once (the issue's reference);
- ``uproot.iterate``: the same branches in ``reading.step_size`` chunks (what the build reads);
- ``+ evaluate``: the chunks read and every expression evaluated (``evaluate_chunk``), nothing written;
- ``build_feature_part``: the whole job, parquet part with its footer written.

The differences of the last three rows are the cost of reading, evaluating and writing. Peak RSS of a
features job is measured in a fresh process per file size (``--rss-events``): memory must be flat in
the file size (bounded by the chunk).

    PYTHONPATH=src python benchmarks/bench_features.py                       # 1M events, 3 repeats
    PYTHONPATH=src python benchmarks/bench_features.py --events 3000000 --rss-events 1000000,5000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _study(path: str) -> tuple[dict, dict, dict]:
    """The default config's ttbar sample reading ``path``, the build's keywords, and its part spec."""
    from hepmva.config import load_config

    cfg = load_config(ROOT / "config" / "config.yaml")
    sample = dict(next(s for s in cfg["samples"] if s["name"] == "ttbar"))
    sample.pop("generate")
    sample.update(files=[path], tree="Events", weight="genWeight", xsec_pb={"tree": "Runs", "branch": "xsec_pb"},
                  sum_weights={"tree": "Runs", "branch": "genEventSumw"})
    kwargs = dict(features=cfg["features"], folds=cfg["folds"], event_id=cfg["event_id"], selection=cfg["selection"],
                  truth_llr=cfg["truth_llr"], spectators=cfg["spectators"], step_size=cfg["reading"]["step_size"],
                  define=cfg["define"], aliases=cfg["aliases"])
    return sample, kwargs, {"part": 0, "file": path, "file_index": 0}


def _program(sample, kwargs):
    from hepmva.feature_table import compile_program

    return compile_program(kwargs["features"], event_id=kwargs["event_id"],
                           selections=(kwargs["selection"], sample.get("selection")),
                           weights={"weight": sample.get("weight")}, spectators=kwargs["spectators"],
                           truth_llr=kwargs["truth_llr"], define=kwargs["define"], aliases=kwargs["aliases"])


def _arrays(path, branches, step_size):
    import uproot

    with uproot.open(path) as f:
        f["Events"].arrays(branches, library="ak")


def _iterate(path, branches, step_size):
    from hepmva import io

    for _ in io.iterate_tree(path, "Events", branches, step_size=step_size):
        pass


def _evaluate(path, program, step_size):
    from hepmva import io
    from hepmva.feature_table import evaluate_chunk

    for start, chunk in io.iterate_tree(path, "Events", program.branches, step_size=step_size):
        evaluate_chunk(program, chunk, path=path, entry_start=start)


def _build(sample, spec, kwargs, out):
    from hepmva.stages.features import build_feature_part

    build_feature_part(sample, spec, output=out, **kwargs)


def _rss_child(path: str, out: str) -> None:
    """Run one features job on ``path`` and print its peak RSS (MiB) and seconds as JSON."""
    sample, kwargs, spec = _study(path)
    t0 = time.perf_counter()
    _build(sample, spec, kwargs, out)
    dt = time.perf_counter() - t0
    print(json.dumps({"rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "seconds": dt}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the file of the throughput rows")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rss-events", default="1000000,3000000",
                        help="comma-separated file sizes for the peak-RSS rows ('' for none)")
    parser.add_argument("--rss-child", nargs=2, metavar=("ROOT_FILE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        _rss_child(*args.rss_child)
        return

    from hepmva.generate import write_sample

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "ttbar.root")
        write_sample(path, "ttbar", args.events, 1)
        sample, kwargs, spec = _study(path)
        program = _program(sample, kwargs)
        step = kwargs["step_size"]
        rows = {
            "uproot.arrays (whole file)": lambda: _arrays(path, program.branches, step),
            f"uproot.iterate ({step})": lambda: _iterate(path, program.branches, step),
            "  + evaluate (no write)": lambda: _evaluate(path, program, step),
            "build_feature_part": lambda: _build(sample, spec, kwargs, str(Path(tmp) / "part.parquet")),
        }
        best = {name: float("inf") for name in rows}
        cpu = {name: float("inf") for name in rows}
        for _ in range(args.repeats):  # alternating: every row sees the same machine load
            for name, run in rows.items():
                t0, c0 = time.perf_counter(), time.process_time()
                run()
                best[name] = min(best[name], time.perf_counter() - t0)
                cpu[name] = min(cpu[name], time.process_time() - c0)
        n = args.events
        print(f"{n} events of ttbar, {len(program.branches)} branches, step_size {step}, best of {args.repeats}; "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"| {'what':34s} | {'wall s':>7s} | {'M events/s (wall)':>17s} | {'CPU s':>6s} | "
              f"{'M events/s (CPU)':>16s} | {'vs uproot.arrays (CPU)':>22s} |")
        print("|" + "|".join("-" * w for w in (36, 9, 19, 8, 18, 24)) + "|")
        ref = cpu["uproot.arrays (whole file)"]
        for name in rows:
            print(f"| {name:34s} | {best[name]:7.2f} | {n / best[name] / 1e6:17.2f} | {cpu[name]:6.2f} | "
                  f"{n / cpu[name] / 1e6:16.2f} | {ref / cpu[name]:21.0%} |")
        sizes = [int(s) for s in args.rss_events.split(",") if s.strip()]
        if sizes:
            print("\n| events in the file | peak RSS of the features job (MiB) | seconds |")
            print("|---:|---:|---:|")
        for size in sizes:
            p = str(Path(tmp) / f"rss_{size}.root")
            write_sample(p, "ttbar", size, 2)
            proc = subprocess.run([sys.executable, __file__, "--rss-child", p, str(Path(tmp) / f"rss_{size}.parquet")],
                                  capture_output=True, text=True, check=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"| {size:,} | {r['rss_mib']:.0f} | {r['seconds']:.1f} |")
            Path(p).unlink()


if __name__ == "__main__":
    main()
