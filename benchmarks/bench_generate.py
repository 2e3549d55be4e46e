"""Throughput of the built-in generator, including the ROOT write (hepmva.generate.write_sample).

Writes ``--events`` events of every process to a temporary directory and reports events per
minute (wall clock, generation + llr + uproot write) and the file size.

    PYTHONPATH=src python benchmarks/bench_generate.py                 # 1M events per process
    PYTHONPATH=src python benchmarks/bench_generate.py --events 200000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hepmva.generate import PROCESSES, write_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events per process")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    total_events, total_time = 0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for process in PROCESSES:
            path = Path(tmp) / f"{process}.root"
            t0 = time.perf_counter()
            write_sample(path, process, args.events, args.seed)
            dt = time.perf_counter() - t0
            total_events += args.events
            total_time += dt
            print(
                f"{process:8s} {args.events:>9d} events  {dt:6.2f} s  "
                f"{args.events / dt * 60 / 1e6:5.2f} M events/min  "
                f"{path.stat().st_size / 1e6:6.1f} MB"
            )
    print(f"{'total':8s} {total_events:>9d} events  {total_time:6.2f} s  "
          f"{total_events / total_time * 60 / 1e6:5.2f} M events/min")


if __name__ == "__main__":
    main()
