"""The evaluate stage on score tables of growing size: peak RSS and CPU time, binned (per-part histograms) vs exact.

    PYTHONPATH=src python3 benchmarks/bench_evaluate_parts.py [--events 1000000 3000000 10000000] [--part 100000]

For each size, two fold score tables (hepmva.score_parts: one row group per part of ``--part`` events and
role, held-out and training rows) of BDT-like probabilities are written to a temporary directory; then
``hepmva.stages.evaluate.evaluate_classifier`` (metrics, ROC, score, overtraining and cut-scan plots) runs
in a fresh process per method, which reports its own peak RSS (``ru_maxrss``) and CPU seconds. The binned
path's memory is bounded by a part and its histograms, so it stays flat; the exact one holds every row.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hepmva import score_parts

FOLDS = 2


def write_tables(directory: Path, n: int, part: int) -> list[Path]:
    """Two fold score tables of ``n`` held-out events in all (and as many training rows)."""
    rng = np.random.default_rng(n)
    paths = []
    for fold in range(FOLDS):
        path = directory / f"scores_fold{fold}.parquet"
        with score_parts.ScorePartWriter(path) as writer:
            for i, start in enumerate(range(0, n // FOLDS, part)):
                k = min(part, n // FOLDS - start)
                for role, shift in (("test", 0.0), ("train", 0.05)):
                    y = rng.integers(0, 2, k)
                    s = 1.0 / (1.0 + np.exp(-rng.normal(np.where(y == 1, 3.0 + shift, -3.0 - shift), 2.5)))
                    writer.write(sample="s", part=i, role=role, fold=fold, row=np.arange(start, start + k), label=y,
                                 weight=rng.uniform(0.5, 1.5, k), score=s)
        paths.append(path)
    for fold in range(FOLDS):
        (directory / f"model{fold}.json").write_text(json.dumps({
            "kind": "xgboost", "fold": fold, "scaler": {}, "train_seconds": 1.0, "predict_seconds_per_event": 1e-6,
            "model_bytes": 1, "n_train": n // FOLDS}))
    return paths


def run_one(directory: Path, method: str, bootstrap: int) -> None:
    """In this process: evaluate the tables of ``directory`` and print peak RSS and CPU seconds as JSON."""
    from hepmva.stages.evaluate import evaluate_classifier

    t0 = time.process_time()
    out = evaluate_classifier(
        sorted(directory.glob("scores_fold*.parquet")), sorted(directory.glob("model*.json")), name="bench",
        eff_b=[0.01, 0.1, 0.3], n_bootstrap=bootstrap, seed=0, luminosity_pb=1000.0,
        metrics_path=directory / f"{method}.json", roc_path=directory / f"{method}_roc.png",
        score_plot_path=directory / f"{method}_score.png", overtraining_plot_path=directory / f"{method}_ot.png",
        cut_scan_plot_path=directory / f"{method}_cut.png",
        evaluation={"method": method, "roc_bootstrap": 20, "background_uncertainty": 0.1})
    print(json.dumps({"cpu": time.process_time() - t0, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "auc": out["auc"], "eff": out["eff_s_at_eff_b"], "z": out["cut_scan_best"]["z_asimov"],
                      "ks": out["overtraining_min_p"]["ks_p_signal"]}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    ap.add_argument("--part", type=int, default=100_000)
    ap.add_argument("--bootstrap", type=int, default=100)
    ap.add_argument("--exact-max", type=int, default=3_000_000, help="largest size also evaluated exactly")
    ap.add_argument("--one", nargs=2, metavar=("DIR", "METHOD"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        run_one(Path(args.one[0]), args.one[1], args.bootstrap)
        return
    print(f"load average {os.getloadavg()}; parts of {args.part} events; {args.bootstrap} bootstrap replicas")
    print("| held-out events | method | peak RSS MB | CPU s | AUC | Z_A best | min KS p (signal) |")
    print("|---|---|---|---|---|---|---|")
    for n in args.events:
        with tempfile.TemporaryDirectory() as tmp:
            write_tables(Path(tmp), n, args.part)
            for method in ("binned", "exact") if n <= args.exact_max else ("binned",):
                proc = subprocess.run([sys.executable, __file__, "--one", tmp, method, "--bootstrap",
                                       str(args.bootstrap)], capture_output=True, text=True, check=True)
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                print(f"| {n:,} | {method} | {r['rss_mb']:.0f} | {r['cpu']:.1f} | {r['auc']:.6f} | {r['z']:.3f} "
                      f"| {r['ks']:.3g} |", flush=True)


if __name__ == "__main__":
    main()
