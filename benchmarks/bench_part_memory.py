"""Peak RSS of one features, plot_inputs and writeback job alone, per events in a file (issue 13's memory criterion).

For every size (``--events``, events per input file, default 10k, 100k, 1M) the script writes one ttbar file
and at least 300k signal events in files of that size (more than the input plots' 200k-event subsample, so
that only the events per file change) of the built-in generator, builds both samples' features (the default
study's features and spectator, one part per file), writes a score table for each of 18 classifiers (the
default study has 18; every event's held-out score, a deterministic function of its row: the writeback reads
them as it reads a train job's), then runs each job in a
fresh process and prints its peak RSS (VmHWM, :func:`hepmva.logs.peak_rss_mib`) and wall seconds:

- ``features``: :func:`hepmva.stages.features.build_feature_part` of the ttbar file;
- ``plot_inputs``: :func:`hepmva.stages.inputs.plot_inputs` of both samples;
- ``writeback``: :func:`hepmva.stages.writeback.write_friend_trees` of the ttbar sample.

    PYTHONPATH=src python benchmarks/bench_part_memory.py --events 10000,100000,1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the default study's 18 classifiers: a writeback reads every one's score table alongside the others
CLASSIFIERS = tuple(f"clf{i}" for i in range(18))
JOBS = ("features", "plot_inputs", "writeback")
#: signal events at least (in files of ``events``): more than the input plots' 200k-event subsample at every size,
#: as in bench_scale, so that only the events per file change
SIGNAL_EVENTS = 300_000


def _config():
    from hepmva.config import load_config

    return load_config(ROOT / "config" / "config.yaml")


def _sample(cfg, name: str, path: Path) -> dict:
    sample = dict(next(s for s in cfg["samples"] if s["name"] == name))
    sample.pop("generate")
    sample.update(files=[str(path)], tree="Events", weight="genWeight", xsec_pb={"tree": "Runs", "branch": "xsec_pb"},
                  sum_weights={"tree": "Runs", "branch": "genEventSumw"})
    return sample


def _kwargs(cfg) -> dict:
    return dict(features=cfg["features"], folds=cfg["folds"], event_id=cfg["event_id"], selection=cfg["selection"],
                truth_llr=cfg["truth_llr"], spectators=cfg["spectators"], step_size=cfg["reading"]["step_size"],
                define=cfg["define"], aliases=cfg["aliases"])


def prepare(d: Path, events: int) -> None:
    """Input files, features datasets and score tables of one size in ``d``."""
    import numpy as np

    from hepmva.datasets import iter_feature_parts
    from hepmva.generate import write_sample
    from hepmva.score_parts import ScorePartWriter
    from hepmva.stages.features import build_features

    cfg = _config()
    write_sample(str(d / "ttbar.root"), "ttbar", events, 8)
    build_features(_sample(cfg, "ttbar", d / "ttbar.root"), [str(d / "ttbar.root")],
                   luminosity_pb=cfg["luminosity_pb"], output=d / "features" / "ttbar.json", **_kwargs(cfg))
    signal = [str(d / f"signal_{i}.root") for i in range(-(-SIGNAL_EVENTS // events))]
    for i, path in enumerate(signal):
        write_sample(path, "signal", events, 100 + i, first_event=1 + i * events)
    build_features(_sample(cfg, "signal", d / "signal_*.root"), signal, luminosity_pb=cfg["luminosity_pb"],
                   output=d / "features" / "signal.json", **_kwargs(cfg))
    for clf in CLASSIFIERS:
        with ScorePartWriter(d / f"scores_{clf}.parquet") as w:
            for sample, part, frame in iter_feature_parts([d / "features" / "ttbar.json"], columns=[]):
                row = frame["row"].to_numpy()
                w.write(sample=sample, part=part, role="test", fold=0, row=row, label=frame["label"].to_numpy(),
                        weight=frame["weight"].to_numpy(), score=np.sin(row * (1.0 + len(clf))))


def run_job(d: Path, job: str) -> None:
    """One job on the prepared directory ``d``."""
    cfg = _config()
    if job == "features":
        from hepmva.stages.features import build_feature_part

        build_feature_part(_sample(cfg, "ttbar", d / "ttbar.root"),
                           {"part": 0, "file": str(d / "ttbar.root"), "file_index": 0},
                           output=d / "job_features.parquet", **_kwargs(cfg))
    elif job == "plot_inputs":
        from hepmva.stages.inputs import plot_inputs

        plot_inputs([d / "features" / "signal.json", d / "features" / "ttbar.json"], cfg["features"],
                    luminosity_pb=cfg["luminosity_pb"], directory=d / "job_plots", plotting=cfg.get("plotting"))
    else:
        from hepmva.stages.writeback import write_friend_trees

        write_friend_trees([str(d / "ttbar.root")], d / "features" / "ttbar.json",
                           {c: [d / f"scores_{c}.parquet"] for c in CLASSIFIERS},
                           sample=_sample(cfg, "ttbar", d / "ttbar.root"), tree="hepmva",
                           directory=d / "job_friends", spectators=[s["name"] for s in cfg["spectators"]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", default="10000,100000,1000000", help="events per input file, comma-separated")
    parser.add_argument("--jobs", default=",".join(JOBS), help="which jobs, comma-separated")
    parser.add_argument("--child", nargs=2, metavar=("DIR", "JOB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        t0 = time.perf_counter()
        run_job(Path(args.child[0]), args.child[1])
        from hepmva.logs import peak_rss_mib

        print(json.dumps({"rss_mib": peak_rss_mib(), "seconds": time.perf_counter() - t0}))
        return
    jobs = [j.strip() for j in args.jobs.split(",") if j.strip()]
    print("| events per file | " + " | ".join(f"{j} MiB (s)" for j in jobs) + " |")
    print("|---:|" + "---:|" * len(jobs))
    with tempfile.TemporaryDirectory() as tmp:
        for events in [int(s) for s in args.events.split(",") if s.strip()]:
            d = Path(tmp) / str(events)
            d.mkdir()
            subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
                            f"import bench_part_memory as b; from pathlib import Path; b.prepare(Path({str(d)!r}), "
                            f"{events})"], check=True)
            cells = []
            for job in jobs:
                out = subprocess.run([sys.executable, __file__, "--child", str(d), job], check=True,
                                     capture_output=True, text=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                cells.append(f"{r['rss_mib']:.0f} ({r['seconds']:.1f})")
            print(f"| {events:,} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
