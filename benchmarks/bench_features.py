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
features job is measured in a fresh process per file size (``--rss-events``) and chunk size (``--rss-steps``):
memory must be flat in the file size (bounded by the chunk). ``--codecs`` writes the part again with snappy,
lz4, zstd level 1 and none, with and without byte-stream-split floats (write time, size, read time).

    PYTHONPATH=src python benchmarks/bench_features.py                       # 1M events, 3 repeats
    PYTHONPATH=src python benchmarks/bench_features.py --events 3000000 --rss-events 1000000,5000000
    PYTHONPATH=src python benchmarks/bench_features.py --codecs --rss-steps "4 MB,50 MB"   # + codecs, two chunk sizes
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


def _rss_child(path: str, out: str, step_size: str) -> None:
    """Run one features job on ``path`` (chunks of ``step_size``) and print its peak RSS (MiB) and seconds as JSON."""
    sample, kwargs, spec = _study(path)
    kwargs["step_size"] = int(step_size) if step_size.isdigit() else step_size
    t0 = time.perf_counter()
    _build(sample, spec, kwargs, out)
    dt = time.perf_counter() - t0
    print(json.dumps({"rss_mib": _peak_rss_mib(), "seconds": dt}))


def _peak_rss_mib() -> float:
    """This process's peak RSS: VmHWM of /proc (ru_maxrss of a child started by a large parent reports the
    parent's peak at the fork: Linux carries it across exec, so the child's own peak would be hidden)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


#: the parquet options compared by ``--codecs`` (the part's own: lz4 with byte-stream-split floats)
CODECS = {
    "snappy": {"compression": "snappy"},
    "snappy + split floats": {"compression": "snappy", "split": True},
    "lz4": {"compression": "lz4"},
    "**lz4 + split floats** (parts)": {"compression": "lz4", "split": True},
    "zstd 1": {"compression": "zstd", "compression_level": 1},
    "zstd 1 + split floats": {"compression": "zstd", "compression_level": 1, "split": True},
    "none": {"compression": "none"},
}


def codec_rows(part: str, repeats: int) -> None:
    """Write the part's table with each of :data:`CODECS` (CPU s to write, MB, CPU s to read back), best of repeats."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(part)
    floats = [f.name for f in table.schema if pa.types.is_floating(f.type)]
    out = str(Path(part).with_name("codec.parquet"))
    print(f"\n{table.num_rows:,} rows x {table.num_columns} columns (the part above), no dictionary but the sample "
          f"name, no statistics, best of {repeats}:\n")
    print("| parquet options | write ms (CPU) | MB | read ms (CPU) |\n|---|---:|---:|---:|")
    for name, opts in CODECS.items():
        opts = dict(opts)
        split = floats if opts.pop("split", False) else False
        write = read = float("inf")
        for _ in range(repeats):
            c0 = time.process_time()
            with pq.ParquetWriter(out, table.schema, use_dictionary=["sample"], write_statistics=False,
                                  use_byte_stream_split=split, **opts) as w:
                w.write_table(table)
            write = min(write, time.process_time() - c0)
            c0 = time.process_time()
            pq.read_table(out)
            read = min(read, time.process_time() - c0)
        print(f"| {name} | {write * 1e3:.1f} | {os.path.getsize(out) / 1e6:.2f} | {read * 1e3:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the file of the throughput rows")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rss-events", default="10000,100000,1000000",
                        help="comma-separated file sizes for the peak-RSS rows ('' for none)")
    parser.add_argument("--rss-steps", default="",
                        help="comma-separated reading.step_size values of the peak-RSS rows (default: the config's)")
    parser.add_argument("--codecs", action="store_true", help="also the parquet codec table (write, size, read)")
    parser.add_argument("--rss-child", nargs=3, metavar=("ROOT_FILE", "OUT", "STEP"), help=argparse.SUPPRESS)
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
        if args.codecs:
            codec_rows(str(Path(tmp) / "part.parquet"), args.repeats)
        sizes = [int(s) for s in args.rss_events.split(",") if s.strip()]
        steps = [s.strip() for s in args.rss_steps.split(",") if s.strip()] or [str(step)]
        if sizes:
            print("\nPeak RSS of one features job in a fresh process (the study's imports and config included):\n")
            print("| events in the file | reading.step_size | peak RSS (MiB) | seconds |")
            print("|---:|---:|---:|---:|")
        for size in sizes:
            p = str(Path(tmp) / f"rss_{size}.root")
            write_sample(p, "ttbar", size, 2)
            for st in steps:
                proc = subprocess.run([sys.executable, __file__, "--rss-child", p, str(Path(tmp) / f"rss_{size}.parquet"),
                                       st], capture_output=True, text=True, check=True)
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                print(f"| {size:,} | {st} | {r['rss_mib']:.0f} | {r['seconds']:.2f} |")
            Path(p).unlink()

if __name__ == "__main__":
    main()
