"""Apply throughput on one core: xgboost and the in-house MLP scoring a file they never saw.

A small study of the default configuration (its features, spectator and selection; signal against
ttbar from the built-in generator, two folds) is trained with the default study's xgboost
(300 trees, depth 4) and mlp-adam ((64, 64) relu); then a new file (W+jets and signal, mixed by
generation, never seen in training) is scored with each classifier separately through
:func:`hepmva.stages.apply.apply_files` (read + select + features + both fold models' mean +
friend tree written), OMP/BLAS limited to one thread. Printed per classifier:

- ``apply``: events of the input file per wall second of the whole apply (what a user waits for);
- ``score``: events per second of :meth:`ModelBundle.score_features` alone on the feature matrix.

    PYTHONPATH=src python benchmarks/bench_apply.py                       # 200k events to apply
    PYTHONPATH=src python benchmarks/bench_apply.py --n-apply 50000 --n-train 20000   # quick look
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy / xgboost load their thread pools

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from hepmva.bundle import load_bundle  # noqa: E402
from hepmva.feature_table import evaluate_chunk  # noqa: E402
from hepmva.generate import write_sample  # noqa: E402
from hepmva.io import iterate_tree  # noqa: E402
from hepmva.stages.features import build_features
from hepmva.stages.train import collect_scores, train_fold  # noqa: E402
from hepmva.stages.apply import apply_files, write_bundles, write_study_bundle  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _study(work: Path, n_train: int) -> Path:
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    classifiers = [c for c in cfg["classifiers"] if c["name"] in ("xgboost", "mlp-adam")]
    samples = []
    for name, process, seed in (("signal", "signal", 1), ("ttbar", "ttbar", 2)):
        write_sample(work / f"{name}.root", process, n_train, seed)
        samples.append({"name": name, "label": "signal" if process == "signal" else "background", "tree": "Events",
                        "weight": "genWeight", "xsec_pb": {"tree": "Runs", "branch": "xsec_pb"},
                        "sum_weights": {"tree": "Runs", "branch": "genEventSumw"}, "selection": None,
                        "files": [str(work / f"{name}.root")]})
    tables = []
    for s in samples:
        out = work / "features" / f"{s['name']}.json"
        build_features(s, s["files"], features=cfg["features"], spectators=cfg["spectators"],
                       luminosity_pb=cfg["luminosity_pb"], folds=cfg["folds"], selection=cfg["selection"],
                       event_id=cfg["event_id"], output=out)
        tables.append(out)
    study = {"features": cfg["features"], "spectators": cfg["spectators"], "selection": cfg["selection"],
             "samples": samples, "event_id": cfg["event_id"], "folds": cfg["folds"], "training": cfg["training"],
             "luminosity_pb": cfg["luminosity_pb"]}
    models = work / "models"
    bundles = []
    for c in classifiers:
        folds = range(cfg["folds"])
        for k in folds:
            train_fold(tables, classifier=c, fold=k, feature_names=[f["name"] for f in cfg["features"]],
                       training=cfg["training"], seed=cfg["seed"], threads=1, model_dir=models / c["name"] / f"fold{k}",
                       scores_path=models / c["name"] / f"scores_fold{k}.parquet")
        scores = work / "scores" / f"{c['name']}.parquet"
        collect_scores([models / c["name"] / f"scores_fold{k}.parquet" for k in folds], tables, scores)
        bundles.append(models / c["name"] / "bundle.json")
        write_bundles([models / c["name"] / f"fold{k}" for k in folds], scores, classifier=c, study=study,
                      output=bundles[-1])
    write_study_bundle(bundles, study=study, output=models / "bundle.json")
    return models


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=50_000, help="generated events per training sample")
    ap.add_argument("--n-apply", type=int, default=200_000, help="events of the file to apply to")
    ap.add_argument("--step-size", default="50 MB", help="apply chunk size")
    args = ap.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=1):
        work = Path(tmp)
        t0 = time.perf_counter()
        models = _study(work, args.n_train)
        print(f"study trained in {time.perf_counter() - t0:.0f} s ({args.n_train} events per sample)")
        new = work / "new.root"
        write_sample(new, "wjets", args.n_apply, 99, first_event=10_000_000)
        print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores); "
              f"{args.n_apply} events to apply, fold mode mean (both fold models per event)")
        print(f"{'classifier':<10} {'apply events/s':>15} {'score events/s':>15} {'selected':>9}")
        for name in ("xgboost", "mlp-adam"):
            bundle = load_bundle(models, [name])
            for est in bundle.classifiers[name].estimators:
                if hasattr(est, "get_params") and "n_jobs" in est.get_params():
                    est.set_params(n_jobs=1)
            t0 = time.perf_counter()
            rec = apply_files(bundle, [str(new)], work / "out" / name, fold_mode="mean", step_size=args.step_size)
            apply_rate = rec[0]["entries"] / (time.perf_counter() - t0)
            program = bundle.program()
            blocks = [evaluate_chunk(program, c, path=str(new), entry_start=s)
                      for s, c in iterate_tree(str(new), "Events", program.branches)]
            X = np.concatenate([np.column_stack([b[f] for f in bundle.feature_names]) for b in blocks])
            t0 = time.perf_counter()
            bundle.score_features(X, fold_mode="mean")
            score_rate = len(X) / (time.perf_counter() - t0)
            print(f"{name:<10} {apply_rate:>15,.0f} {score_rate:>15,.0f} {rec[0]['selected']:>9}")


if __name__ == "__main__":
    main()
