"""A train job's peak RSS in memory and out of core (``training.memory_budget_mb``), xgboost and the MLP.

Writes ``--parts`` feature tables of ``--events-per-part`` events x ``--features`` float64 features (a third
signal), then runs :func:`hepmva.stages.train.train_fold` on fold 0 in a fresh process per case, with a
large budget (the training set in memory) and with a tiny one (out of core: xgboost's external-memory
iterator, the MLP's streamed mini-batches). Printed per case: the fit mode, events trained on, the
process's peak RSS (``ru_maxrss``: libraries, one part, the scoring included), wall seconds and the
learning curve's last held-out AUC (xgboost).

    PYTHONPATH=src python benchmarks/bench_train_memory.py                      # 1M events, 20 features
    PYTHONPATH=src python benchmarks/bench_train_memory.py --parts 40           # 4M: the stream's peak stays
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

import numpy as np
import pandas as pd


def make_tables(directory: Path, parts: int, per_part: int, n_features: int) -> None:
    from hepmva import io

    rng = np.random.default_rng(0)
    for j in range(parts):
        label = int(j < max(parts // 3, 1))
        df = pd.DataFrame(rng.normal(0.3 * label, 1.0, (per_part, n_features)),
                          columns=[f"x{i}" for i in range(n_features)])
        df["sample"], df["label"], df["weight"] = f"s{j:04d}", label, rng.exponential(1.0, per_part)
        df["fold"] = rng.integers(0, 2, per_part).astype(np.int8)
        io.write_table(df, directory / f"s{j:04d}.parquet")


def one_case(directory: Path, kind: str, budget: float, n_features: int) -> dict:
    from hepmva.stages.train import train_fold

    params = {"xgboost": {"n_estimators": 20, "max_depth": 4},
              "mlp": {"hidden_layer_sizes": [16], "max_iter": 2, "batch_size": 256}}[kind]
    t0 = time.time()
    info = train_fold(sorted(directory.glob("s[0-9]*.parquet")), classifier={"name": "c", "kind": kind, "params": params},
                      fold=0, feature_names=[f"x{i}" for i in range(n_features)], training={"memory_budget_mb": budget},
                      seed=1, model_dir=directory / f"model_{kind}_{budget}",
                      scores_path=directory / f"scores_{kind}_{budget}.parquet")
    curve = (info["learning_curve"] or {}).get("test_auc") or [None]
    return {"kind": kind, "budget_mb": budget, "fit_mode": info["fit_mode"], "n_train": info["n_train"],
            "fit_memory_mb": info["fit_memory_mb"], "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "wall_s": round(time.time() - t0, 1), "test_auc": curve[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", type=int, default=10)
    ap.add_argument("--events-per-part", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--tiny-budget-mb", type=float, default=20.0)
    ap.add_argument("--case", nargs=3, metavar=("DIR", "KIND", "BUDGET"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(one_case(Path(args.case[0]), args.case[1], float(args.case[2]), args.features)))
        return
    print(f"load average {os.getloadavg()}; {args.parts} x {args.events_per_part} events x {args.features} features")
    with tempfile.TemporaryDirectory(prefix="hepmva-bench-train-") as tmp:
        make_tables(Path(tmp), args.parts, args.events_per_part, args.features)
        for kind in ("xgboost", "mlp"):
            for budget in (1e6, args.tiny_budget_mb):
                out = subprocess.run([sys.executable, __file__, "--features", str(args.features), "--case", tmp, kind,
                                      str(budget)], capture_output=True, text=True, check=True)
                print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
