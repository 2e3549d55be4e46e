"""Exact (sort-based) vs binned (mergeable histogram) evaluation: CPU seconds and the differences.

    PYTHONPATH=src python3 benchmarks/bench_binned_evaluation.py [--events 1000000 4000000] [--bootstrap 100]

Scores: two overlapping logistic-margin distributions (a BDT-like probability piling up near 0 and 1),
weights uniform in [0.5, 1.5]; the same evaluate_scores call with method exact and binned. Also the cost
of filling one histogram per chunk of 10^6 events and merging them (what a per-file job would do).
"""

import argparse
import os
import time

import numpy as np

from hepmva import binned_metrics as bm
from hepmva.studies.scores import evaluate_scores


def _sample(n: int, rng: np.random.Generator):
    y = rng.integers(0, 2, n)
    s = 1.0 / (1.0 + np.exp(-rng.normal(np.where(y == 1, 3.0, -3.0), 2.5)))
    return y, s, rng.uniform(0.5, 1.5, n)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, nargs="+", default=[1_000_000, 4_000_000])
    ap.add_argument("--bootstrap", type=int, default=100)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()}; {args.bootstrap} bootstrap replicas; CPU seconds (process_time)")
    print("| events | exact s | binned s | fill+merge per 1M-chunk s | dAUC | max d eff_S | auc_err exact | binned |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.events:
        y, s, w = _sample(n, np.random.default_rng(n))
        out, cpu = {}, {}
        for method in ("exact", "binned"):
            t0 = time.process_time()
            out[method] = evaluate_scores(y, s, w, n_bootstrap=args.bootstrap, method=method)
            cpu[method] = time.process_time() - t0
        t0 = time.process_time()
        binning = bm.choose_binning(0.0, 1.0)
        bm.merge_histograms(bm.score_histogram(y[i:i + 10**6], s[i:i + 10**6], w[i:i + 10**6], binning=binning)
                            for i in range(0, n, 10**6))
        fill = time.process_time() - t0
        e, b = out["exact"], out["binned"]
        d_eff = max(abs(e["eff_s_at_eff_b"][k] - b["eff_s_at_eff_b"][k]) for k in e["eff_s_at_eff_b"])
        print(f"| {n:,} | {cpu['exact']:.1f} | {cpu['binned']:.1f} | {fill:.1f} | {abs(e['auc'] - b['auc']):.1e} "
              f"| {d_eff:.1e} | {e['auc_err']:.2e} | {b['auc_err']:.2e} |")


if __name__ == "__main__":
    main()
