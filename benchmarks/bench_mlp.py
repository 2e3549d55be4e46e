"""Training throughput of hepmva.nn.MLPClassifier against scikit-learn's MLPClassifier.

Identical settings: hidden (64, 64), relu, adam, learning rate 1e-3, batch 256, 20 epochs,
100k training events of the built-in generator (signal vs the cross-section-weighted
ttbar + W+jets mixture, 11 standardised features), no early stopping, no tolerance stop.
Runs alternate in one process (hepmva, sklearn, hepmva, sklearn, ...). scikit-learn is timed with
1 BLAS thread (and, with ``--sklearn-blas-default``, also with its default threading: 2 threads
here, which is far slower for these small matrices when the node is busy); the fastest scikit-learn
variant is the reference, so the ratio is conservative. hepmva uses 1 BLAS thread internally. Throughput = events x epochs / training seconds.

    PYTHONPATH=src python benchmarks/bench_mlp.py                 # the full benchmark
    PYTHONPATH=src python benchmarks/bench_mlp.py --toy --repeats 1 --epochs 3   # quick look

``--toy`` replaces the generator by scikit-learn's ``make_classification`` (same shapes).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier as SkMLP
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

from hepmva.nn import MLPClassifier

FEATURES = ["nlep", "njet", "met", "lep_pt1", "lep_eta1", "jet_pt1", "jet_pt2", "jet_eta1",
            "jet_eta2", "dphi_jj", "m_jj"]


def _features(events: dict) -> np.ndarray:
    """Flat feature matrix (n_events, 11) from generator output; missing objects -> 0."""
    import awkward as ak

    def first(arr, i):
        return ak.to_numpy(ak.fill_none(ak.pad_none(arr, i + 1, clip=True)[:, i], 0.0)).astype(float)

    lep_pt, jet_pt = events["lep_pt"], events["jet_pt"]
    pt1, pt2 = first(jet_pt, 0), first(jet_pt, 1)
    eta1, eta2 = first(events["jet_eta"], 0), first(events["jet_eta"], 1)
    phi1, phi2 = first(events["jet_phi"], 0), first(events["jet_phi"], 1)
    dphi = np.angle(np.exp(1j * (phi1 - phi2)))
    mjj = np.sqrt(np.maximum(2 * pt1 * pt2 * (np.cosh(eta1 - eta2) - np.cos(dphi)), 0.0))
    return np.column_stack([
        ak.to_numpy(ak.num(lep_pt)), ak.to_numpy(ak.num(jet_pt)), np.asarray(events["met"]),
        first(lep_pt, 0), first(events["lep_eta"], 0), pt1, pt2, eta1, eta2, np.abs(dphi), mjj,
    ]).astype(np.float64)


def generator_data(n_train: int, n_test: int, seed: int = 1) -> tuple:
    from hepmva.generate import background_mixture, generate_events

    n_half = (n_train + n_test) // 2
    parts, labels = [_features(generate_events("signal", n_half, seed))], [np.ones(n_half)]
    n_ttbar = int(round(background_mixture()["ttbar"] * n_half))
    for k, (proc, n) in enumerate([("ttbar", n_ttbar), ("wjets", n_half - n_ttbar)]):
        parts.append(_features(generate_events(proc, n, seed + 1 + k)))
        labels.append(np.zeros(n))
    X, y = np.vstack(parts), np.concatenate(labels).astype(int)
    perm = np.random.default_rng(seed).permutation(len(y))
    X, y = X[perm], y[perm]
    return X[:n_train], y[:n_train], X[n_train:n_train + n_test], y[n_train:n_train + n_test]


def toy_data(n_train: int, n_test: int, seed: int = 1) -> tuple:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_train + n_test, n_features=11, n_informative=8, random_state=seed)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=100_000)
    parser.add_argument("--n-test", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs per implementation")
    parser.add_argument("--toy", action="store_true", help="make_classification instead of the generator")
    parser.add_argument("--sklearn-blas-default", action="store_true",
                        help="also time scikit-learn with its default BLAS threading (slow on a busy node)")
    args = parser.parse_args()

    load = tuple(round(v, 2) for v in __import__("os").getloadavg())
    blas = [(d["internal_api"], d["num_threads"]) for d in threadpool_info()]
    X_tr, y_tr, X_te, y_te = (toy_data if args.toy else generator_data)(args.n_train, args.n_test)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    common = dict(hidden_layer_sizes=(64, 64), activation="relu", solver="adam", alpha=1e-4,
                  batch_size=256, learning_rate_init=1e-3, max_iter=args.epochs, tol=0.0,
                  n_iter_no_change=10**6, shuffle=True, early_stopping=False)
    runs: dict[str, list[tuple[float, float]]] = {}

    def run(name: str, make, threads: int | None) -> None:
        est = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if threads is None:
                t0 = time.perf_counter()
                est.fit(X_tr, y_tr)
                dt = time.perf_counter() - t0
            else:
                with threadpool_limits(limits=threads, user_api="blas"):
                    t0 = time.perf_counter()
                    est.fit(X_tr, y_tr)
                    dt = time.perf_counter() - t0
        auc = roc_auc_score(y_te, est.predict_proba(X_te)[:, 1])
        runs.setdefault(name, []).append((len(y_tr) * args.epochs / dt, auc))
        print(f"  {name:28s} {dt:7.2f} s  {len(y_tr) * args.epochs / dt:12,.0f} ev*ep/s  AUC {auc:.4f}",
              flush=True)

    for r in range(args.repeats):
        seed = r
        run("hepmva (float32)", lambda: MLPClassifier(**common, random_state=seed), None)
        if args.sklearn_blas_default:
            run("sklearn (BLAS default)", lambda: SkMLP(**common, random_state=seed), None)
        run("sklearn (1 BLAS thread)", lambda: SkMLP(**common, random_state=seed), 1)

    best = {k: (max(t for t, _ in v), float(np.mean([a for _, a in v]))) for k, v in runs.items()}
    sk_name = max((k for k in best if k.startswith("sklearn")), key=lambda k: best[k][0])
    ref = best[sk_name][0]
    print(f"\ndata: {'toy' if args.toy else 'hepmva.generate'}; train {len(y_tr):,}, test {len(y_te):,}, "
          f"{X_tr.shape[1]} features; {args.epochs} epochs; {args.repeats} alternating repeats; "
          f"BLAS {blas}; load average at start {load}")
    print(f"\n| implementation | best events x epochs / s | mean test AUC | throughput ratio vs {sk_name} |")
    print("|---|---:|---:|---:|")
    for k, (thr, auc) in best.items():
        print(f"| {k} | {thr:,.0f} | {auc:.4f} | {thr / ref:.2f} |")


if __name__ == "__main__":
    main()
