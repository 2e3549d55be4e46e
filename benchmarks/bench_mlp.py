"""Training and predict throughput of hepmva.nn.MLPClassifier against its peers, at equal precision.

Training peers, all with identical settings (relu, Adam, learning rate 1e-3, L2 alpha 1e-4 on the
weights with scikit-learn's alpha/(2m) convention, Glorot-uniform weights (and zero biases, except scikit-learn, which draws them from the same uniform), batch
256, a fixed number of epochs with no early stopping and no tolerance stop, reshuffled every
epoch), on 100k training events of the built-in generator (signal against the
cross-section-weighted ttbar + W+jets mixture, 11 standardised features), test AUC on 100k more:

- ``hepmva (float32)``: :class:`hepmva.nn.MLPClassifier` with ``kernels="numba"`` (the compiled
  elementwise steps; what ``kernels="auto"`` picks for a training of >= 1 TFLOP of matrix products);
- ``hepmva numpy (float32)``: the same with ``kernels="numpy"`` (what ``"auto"`` picks for a short
  training, where starting numba would cost more than it saves);
- ``sklearn (float32)``: scikit-learn's MLPClassifier on float32 input (it then trains in float32);
- ``sklearn (float64)``: the same on float64 input (a second row, not the reference);
- ``torch (float32)``: the same network in PyTorch on the CPU, when torch is installed
  (not a dependency of hepmva; ``pip install torch``);
- ``plain numpy (float32)``: :class:`PlainNumpyMLP` below, the same algorithm written the obvious
  way (``a @ W + b``, ``np.maximum``, a new array per operation, textbook Adam).

Every peer runs with ONE BLAS / intra-op thread (threadpoolctl, ``torch.set_num_threads(1)``), and
the peers alternate in one process (hepmva, sklearn, ..., hepmva, sklearn, ...), repeat r using
seed r for every peer. Throughput = training events x epochs / seconds of ``fit``, in wall-clock
seconds and in CPU seconds of the process (``time.process_time``: all its threads; every peer is
single-threaded, so on a busy machine the CPU time is what a quiet machine's wall time would be,
and the ratios use it); the best repeat of each peer is reported. GFLOP/s counts the matrix products of one training step
(forward, weight gradient, back-propagated error; :func:`train_flops_per_event`), the same count
for every peer, against two 1-thread sgemm peaks measured between the rounds (best values reported):
the peak of a 1024 x 1024 x 1024 float32 ``np.matmul`` (:func:`sgemm_peak`, the conventional
one, which the issue's goal uses) and the peak of the step's own matrix products
(:func:`step_gemm_peak`: every product of one training step, with the shapes and memory layouts the
step runs them in, timed alone with warm caches; the counted FLOPs over the sum of those best
times: what the step would reach if everything between its matrix products were free).

Predict throughput (``--predict-events``, default 1M): the (64, 64) hepmva MLP against xgboost
(the default study's settings: 300 trees of depth 4, hist) trained on the same events, both on
one thread, events per second of ``predict_proba``.

    PYTHONPATH=src python benchmarks/bench_mlp.py --repeats 4                  # the full benchmark
    PYTHONPATH=src python benchmarks/bench_mlp.py --toy --repeats 1 --epochs 3 # quick look
    PYTHONPATH=src python benchmarks/bench_mlp.py --hidden 256,256 --repeats 3

``--toy`` replaces the generator by scikit-learn's ``make_classification`` (same shapes).
Ratios are printed, never asserted: only ratios measured in the same run mean anything.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier as SkMLP
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

from hepmva.nn import MLPClassifier

FEATURES = ["nlep", "njet", "met", "lep_pt1", "lep_eta1", "jet_pt1", "jet_pt2", "jet_eta1",
            "jet_eta2", "dphi_jj", "m_jj"]


# ------------------------------------------------------------------------------------------ data
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


# ------------------------------------------------------------------------------------- counting
def train_flops_per_event(n_features: int, hidden: Sequence[int]) -> int:
    """Matrix-product FLOPs of one training step per event (2 per multiply-add).

    Forward ``a W``, weight gradient ``a^T delta`` (every layer) and back-propagated error
    ``delta W^T`` (every layer but the first): ``2 (2 sum_l n_l n_{l+1} + sum_{l>=1} n_l n_{l+1})``.
    Biases and elementwise work are not counted (the same count is used for every peer).
    """
    sizes = [n_features, *hidden, 1]
    macs = [i * o for i, o in zip(sizes[:-1], sizes[1:])]
    return 2 * (2 * sum(macs) + sum(macs[1:]))


def step_gemm_peak(n_features: int, hidden: Sequence[int], batch: int = 256, repeats: int = 30) -> float:
    """GFLOP/s of one training step's own matrix products, each timed alone (best of ``repeats``, CPU time).

    The products of :meth:`hepmva.nn.MLPClassifier._forward_backward`, in its layouts: forward
    ``[a, 1] W_aug`` into the ``z`` view of the next activation buffer, weight gradient
    ``[a, 1]^T delta`` (``delta`` a view without the constant column), back-propagated error
    ``delta W^T`` (``W`` without the bias row, into a view); for the single output unit the two
    matrix-vector products and the outer product (numpy's ``einsum``). Rate = the counted FLOPs of
    :func:`train_flops_per_event` (x batch) over the sum of the best times (the bias rows the step
    also multiplies are not counted, as for every peer).
    """
    rng = np.random.default_rng(0)
    sizes = [n_features, *hidden, 1]
    L = len(sizes) - 1
    f32 = np.float32

    def buf(k: int) -> np.ndarray:  # an activation / error buffer with its constant column
        return rng.standard_normal((batch, k + 1), dtype=f32)

    acts = [buf(k) for k in sizes[:-1]] + [rng.standard_normal((batch, 1), dtype=f32)]
    deltas = [buf(k) for k in sizes[1:-1]] + [rng.standard_normal((batch, 1), dtype=f32)]
    W = [rng.standard_normal((i + 1, o), dtype=f32) for i, o in zip(sizes[:-1], sizes[1:])]
    G = [np.empty_like(w) for w in W]
    calls: list[Callable[[], object]] = []
    for l in range(L):
        z = acts[l + 1][:, :-1] if l < L - 1 else np.empty((batch, 1), dtype=f32)
        d = deltas[l][:, :-1] if l < L - 1 else deltas[l]
        calls.append(lambda a=acts[l], w=W[l], z=z: np.matmul(a, w, out=z))
        calls.append(lambda a=acts[l], d=d, g=G[l]: np.matmul(a.T, d, out=g))
        if l > 0:
            if sizes[l + 1] == 1:
                calls.append(lambda d=d, w=W[l], o=deltas[l - 1]:
                             np.einsum("i,j->ij", d.reshape(-1), w.reshape(-1), out=o))
            else:
                calls.append(lambda d=d, wt=W[l][:-1].T, o=deltas[l - 1][:, :-1]: np.matmul(d, wt, out=o))
    total = 0.0
    with threadpool_limits(limits=1, user_api="blas"):
        for call in calls:
            call()
            best = np.inf
            for _ in range(repeats):
                t0 = time.process_time()
                call()
                best = min(best, time.process_time() - t0)
            total += best
    return train_flops_per_event(n_features, hidden) * batch / total / 1e9


def sgemm_peak(n: int = 1024, repeats: int = 15) -> float:
    """Best 1-thread float32 ``np.matmul`` rate (GFLOP/s, CPU time) of an n x n product."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n), dtype=np.float32)
    B = rng.standard_normal((n, n), dtype=np.float32)
    C = np.empty_like(A)
    best = np.inf
    with threadpool_limits(limits=1, user_api="blas"):
        np.matmul(A, B, out=C)
        for _ in range(repeats):
            t0 = time.process_time()
            np.matmul(A, B, out=C)
            best = min(best, time.process_time() - t0)
    return 2.0 * n**3 / best / 1e9


# ---------------------------------------------------------------------------------------- peers
def glorot_uniform(n_in: int, n_out: int, rng: np.random.Generator, dtype) -> np.ndarray:
    """scikit-learn's relu initialisation: U(-b, b), ``b = sqrt(6 / (n_in + n_out))``."""
    bound = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-bound, bound, (n_in, n_out)).astype(dtype)


class PlainNumpyMLP:
    """The same MLP written the obvious way in numpy: the baseline an optimised one must beat.

    ``z = a @ W + b``, ``a = np.maximum(z, 0)``, sigmoid output, cross-entropy; backward
    ``delta = (p - y) / m``, ``dW = a^T delta + (alpha / m) W``, ``db = sum(delta)``,
    ``delta := (delta @ W^T) * (z > 0)``; textbook Adam (bias-corrected ``m_hat``, ``v_hat``) on
    every array, each operation making a new array.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int
    alpha, learning_rate_init, batch_size, max_iter, beta_1, beta_2, epsilon :
        As scikit-learn's MLPClassifier.
    shuffle : bool
        Reshuffle every epoch.
    random_state : int
    dtype : numpy dtype
    init : tuple (coefs, intercepts) or None
        Initial weights (otherwise Glorot uniform from ``random_state``).
    """

    def __init__(self, hidden_layer_sizes=(64, 64), *, alpha=1e-4, learning_rate_init=1e-3,
                 batch_size=256, max_iter=20, shuffle=True, random_state=0, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, dtype=np.float32, init=None, **_ignored) -> None:
        self.hidden_layer_sizes = tuple(hidden_layer_sizes)
        self.alpha, self.eta, self.batch_size = alpha, learning_rate_init, batch_size
        self.max_iter, self.shuffle, self.random_state = max_iter, shuffle, random_state
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.dtype, self.init = dtype, init

    def fit(self, X: np.ndarray, y: np.ndarray) -> PlainNumpyMLP:
        X = np.asarray(X, dtype=self.dtype)
        y = np.asarray(y, dtype=self.dtype).reshape(-1, 1)
        rng = np.random.default_rng(self.random_state)
        sizes = [X.shape[1], *self.hidden_layer_sizes, 1]
        if self.init is None:
            W = [glorot_uniform(i, o, rng, self.dtype) for i, o in zip(sizes[:-1], sizes[1:])]
            b = [np.zeros(o, dtype=self.dtype) for o in sizes[1:]]
        else:
            W = [np.array(w, dtype=self.dtype) for w in self.init[0]]
            b = [np.array(c, dtype=self.dtype) for c in self.init[1]]
        params = W + b
        m1 = [np.zeros_like(p) for p in params]
        m2 = [np.zeros_like(p) for p in params]
        t, n, L = 0, X.shape[0], len(W)
        for _ in range(self.max_iter):
            order = rng.permutation(n) if self.shuffle else np.arange(n)
            for start in range(0, n, self.batch_size):
                idx = order[start:start + self.batch_size]
                xb, yb, m = X[idx], y[idx], len(idx)
                acts, zs = [xb], []
                for l in range(L):
                    z = acts[-1] @ W[l] + b[l]
                    zs.append(z)
                    acts.append(np.maximum(z, 0) if l < L - 1 else 1.0 / (1.0 + np.exp(-z)))
                delta = (acts[-1] - yb) / m
                gW, gb = [None] * L, [None] * L
                for l in range(L - 1, -1, -1):
                    gW[l] = acts[l].T @ delta + (self.alpha / m) * W[l]
                    gb[l] = delta.sum(axis=0)
                    if l > 0:
                        delta = (delta @ W[l].T) * (zs[l - 1] > 0)
                t += 1
                for p, g, mm, vv in zip(params, gW + gb, m1, m2):
                    mm[...] = self.beta_1 * mm + (1 - self.beta_1) * g
                    vv[...] = self.beta_2 * vv + (1 - self.beta_2) * g * g
                    m_hat = mm / (1 - self.beta_1**t)
                    v_hat = vv / (1 - self.beta_2**t)
                    p -= self.eta * m_hat / (np.sqrt(v_hat) + self.epsilon)
        self.coefs_, self.intercepts_ = W, b
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        a = np.asarray(X, dtype=self.dtype)
        for l, (W, b) in enumerate(zip(self.coefs_, self.intercepts_)):
            a = a @ W + b
            if l < len(self.coefs_) - 1:
                a = np.maximum(a, 0)
        return a[:, 0].astype(np.float64)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])


class TorchMLP:
    """The same MLP in PyTorch (CPU, one intra-op thread): ``nn.Linear`` + ReLU, BCE with logits.

    Given its fastest CPU settings: ``torch.optim.Adam(fused=True)``, batches sliced from one
    shuffled tensor per epoch.

    Glorot-uniform weights and zero biases (scikit-learn's choice), Adam with the L2 term
    ``alpha / m`` as weight decay on the weights only (= the gradient of ``(alpha/2m) ||W||^2``;
    torch's Adam adds ``weight_decay * W`` to the gradient).
    """

    def __init__(self, hidden_layer_sizes=(64, 64), *, alpha=1e-4, learning_rate_init=1e-3,
                 batch_size=256, max_iter=20, shuffle=True, random_state=0, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, dtype="float32", init=None, **_ignored) -> None:
        self.hidden_layer_sizes = tuple(hidden_layer_sizes)
        self.alpha, self.eta, self.batch_size = alpha, learning_rate_init, batch_size
        self.max_iter, self.shuffle, self.random_state = max_iter, shuffle, random_state
        self.betas, self.epsilon, self.dtype, self.init = (beta_1, beta_2), epsilon, dtype, init

    def fit(self, X: np.ndarray, y: np.ndarray) -> TorchMLP:
        import torch

        torch.set_num_threads(1)
        torch.manual_seed(self.random_state)
        tdtype = getattr(torch, self.dtype)
        sizes = [X.shape[1], *self.hidden_layer_sizes, 1]
        layers: list = []
        rng = np.random.default_rng(self.random_state)
        for l, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
            lin = torch.nn.Linear(i, o, dtype=tdtype)
            with torch.no_grad():
                w = glorot_uniform(i, o, rng, np.float64) if self.init is None else self.init[0][l]
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(np.asarray(w).T)))
                lin.bias.copy_(torch.from_numpy(np.zeros(o) if self.init is None
                                                else np.asarray(self.init[1][l], dtype=np.float64)))
            layers += [lin, torch.nn.ReLU()]
        self.model = model = torch.nn.Sequential(*layers[:-1])
        weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
        biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
        opt = torch.optim.Adam([{"params": weights, "weight_decay": self.alpha / self.batch_size},
                                {"params": biases, "weight_decay": 0.0}],
                               lr=self.eta, betas=self.betas, eps=self.epsilon,
                               fused=True)  # torch's fastest CPU Adam (one kernel per step)
        Xt = torch.from_numpy(np.ascontiguousarray(X)).to(tdtype)
        yt = torch.from_numpy(np.asarray(y, dtype=np.float64).reshape(-1, 1)).to(tdtype)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        n = Xt.shape[0]
        gen = torch.Generator().manual_seed(self.random_state)
        for _ in range(self.max_iter):
            order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
            Xs, ys = Xt[order], yt[order]
            for start in range(0, n, self.batch_size):
                xb, yb = Xs[start:start + self.batch_size], ys[start:start + self.batch_size]
                opt.zero_grad(set_to_none=True)
                loss_fn(model(xb), yb).backward()
                opt.step()
        return self

    @property
    def coefs_(self) -> list[np.ndarray]:
        return [m.weight.detach().numpy().T for m in self.model if hasattr(m, "weight")]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            z = self.model(torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)))
        p = torch.sigmoid(z).numpy()[:, 0].astype(np.float64)
        return np.column_stack([1 - p, p])


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------------------------ the runs
def peers(hidden: tuple[int, ...], epochs: int, batch: int, with_torch: bool,
          float64_row: bool) -> dict[str, tuple[Callable[[int], object], type]]:
    """name -> (make(seed), input dtype) for every peer."""
    common = dict(hidden_layer_sizes=hidden, activation="relu", solver="adam", alpha=1e-4,
                  batch_size=batch, learning_rate_init=1e-3, max_iter=epochs, tol=0.0,
                  n_iter_no_change=10**6, shuffle=True, early_stopping=False)
    out: dict = {
        "hepmva (float32)": (lambda s: MLPClassifier(**common, random_state=s, kernels="numba"), np.float32),
        "hepmva numpy (float32)": (lambda s: MLPClassifier(**common, random_state=s, kernels="numpy"),
                                   np.float32),
        "sklearn (float32)": (lambda s: SkMLP(**common, random_state=s), np.float32),
    }
    if float64_row:
        out["sklearn (float64)"] = (lambda s: SkMLP(**common, random_state=s), np.float64)
    if with_torch:
        out["torch (float32)"] = (lambda s: TorchMLP(**common, random_state=s), np.float32)
    out["plain numpy (float32)"] = (lambda s: PlainNumpyMLP(**common, random_state=s), np.float32)
    return out


def run_training(X_tr, y_tr, X_te, y_te, hidden, epochs, repeats, batch=256, with_torch=True,
                 float64_row=True, log=print) -> tuple[dict, float]:
    """Alternating runs: ({peer: [(ev x ep / wall s, ev x ep / CPU s, test AUC), ...]}, (sgemm peak,
    step GEMM peak))."""
    table = peers(hidden, epochs, batch, with_torch and torch_available(), float64_row)
    runs: dict[str, list[tuple[float, float, float]]] = {k: [] for k in table}
    peak = step_peak = 0.0
    for name, (make, dtype) in table.items():  # warm-up (imports, torch's lazy init), untimed
        est = make(0)
        est.max_iter = 1
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X_tr[:2048].astype(dtype), y_tr[:2048])
    for seed in range(repeats):
        peak = max(peak, sgemm_peak())
        step_peak = max(step_peak, step_gemm_peak(X_tr.shape[1], hidden, batch))
        for name, (make, dtype) in table.items():
            est = make(seed)
            Xtr, Xte = X_tr.astype(dtype), X_te.astype(dtype)
            with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
                warnings.simplefilter("ignore", ConvergenceWarning)
                t0, c0 = time.perf_counter(), time.process_time()
                est.fit(Xtr, y_tr)
                dt, dc = time.perf_counter() - t0, time.process_time() - c0
                auc = roc_auc_score(y_te, est.predict_proba(Xte)[:, 1])
            thr, thr_cpu = len(y_tr) * epochs / dt, len(y_tr) * epochs / dc
            runs[name].append((thr, thr_cpu, auc))
            log(f"  {hidden} seed {seed} {name:24s} {dt:7.2f} s wall {dc:7.2f} s CPU "
                f"{thr_cpu:12,.0f} ev*ep/CPU s  AUC {auc:.4f}")
    peak = max(peak, sgemm_peak())
    step_peak = max(step_peak, step_gemm_peak(X_tr.shape[1], hidden, batch))
    return runs, (peak, step_peak)


def run_predict(X_tr, y_tr, n_events: int, repeats: int, log=print) -> dict[str, float]:
    """Best events per CPU second of ``predict_proba`` on ``n_events`` events, one thread."""
    from xgboost import XGBClassifier

    mlp = MLPClassifier((64, 64), batch_size=256, max_iter=2, random_state=0).fit(
        X_tr.astype(np.float32), y_tr)
    xgb = XGBClassifier(n_estimators=300, max_depth=4, learning_rate=0.1, tree_method="hist",
                        n_jobs=1, random_state=0).fit(X_tr, y_tr)
    X = np.resize(X_tr, (n_events, X_tr.shape[1]))
    X32 = X.astype(np.float32)
    best = {"hepmva MLP (64, 64)": 0.0, "xgboost (300 trees, depth 4)": 0.0}
    for _ in range(repeats):
        for name, fn in (("hepmva MLP (64, 64)", lambda: mlp.predict_proba(X32)),
                         ("xgboost (300 trees, depth 4)", lambda: xgb.predict_proba(X))):
            with threadpool_limits(limits=1):
                t0, c0 = time.perf_counter(), time.process_time()
                fn()
                dt, dc = time.perf_counter() - t0, time.process_time() - c0
            best[name] = max(best[name], n_events / dc)
            log(f"  predict {name:28s} {n_events / dt:14,.0f} events/wall s {n_events / dc:14,.0f} events/CPU s")
    return best


def format_training_table(hidden, runs, peaks, n_features) -> str:
    """Markdown table: best throughputs, GFLOP/s, % of both sgemm peaks, mean AUC, ratios (CPU time)."""
    peak, step_peak = peaks
    flops = train_flops_per_event(n_features, hidden)
    wall = {k: max(r[0] for r in v) for k, v in runs.items()}
    best = {k: max(r[1] for r in v) for k, v in runs.items()}
    auc = {k: float(np.mean([r[2] for r in v])) for k, v in runs.items()}
    ref, ref_auc = best["hepmva (float32)"], auc["hepmva (float32)"]
    lines = [f"hidden {hidden}: {flops:,} matrix FLOPs per event and step; 1-thread sgemm peak "
             f"{peak:.1f} GFLOP/s (1024^3), step GEMM peak {step_peak:.1f} GFLOP/s (the step's own "
             "products alone)", "",
             "| implementation | best ev x ep / wall s | best ev x ep / CPU s | GFLOP/s | % of sgemm peak "
             "| % of step GEMM peak | mean test AUC | hepmva AUC - this | hepmva / this |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for k in runs:
        gf = best[k] * flops / 1e9
        lines.append(f"| {k} | {wall[k]:,.0f} | {best[k]:,.0f} | {gf:.1f} | {100 * gf / peak:.1f} % "
                     f"| {100 * gf / step_peak:.1f} % | {auc[k]:.4f} | {ref_auc - auc[k]:+.4f} | {ref / best[k]:.2f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=100_000)
    parser.add_argument("--n-test", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs per implementation")
    parser.add_argument("--hidden", nargs="+", default=["64,64", "256,256"],
                        help="hidden layer sizes, one comma-separated spec per network")
    parser.add_argument("--toy", action="store_true", help="make_classification instead of the generator")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if installed")
    parser.add_argument("--no-float64", action="store_true", help="leave the float64 scikit-learn row out")
    parser.add_argument("--predict-events", type=int, default=1_000_000, help="0: skip predict")
    args = parser.parse_args(argv)

    load = tuple(round(v, 2) for v in os.getloadavg())
    blas = [(d["internal_api"], d["num_threads"]) for d in threadpool_info()]
    X_tr, y_tr, X_te, y_te = (toy_data if args.toy else generator_data)(args.n_train, args.n_test)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    tables = []
    for spec in args.hidden:
        hidden = tuple(int(v) for v in spec.split(","))
        runs, peaks = run_training(X_tr, y_tr, X_te, y_te, hidden, args.epochs, args.repeats,
                                  args.batch_size, not args.no_torch, not args.no_float64)
        tables.append(format_training_table(hidden, runs, peaks, X_tr.shape[1]))
    if args.predict_events:
        best = run_predict(X_tr, y_tr, args.predict_events, max(args.repeats, 2))
        ref = best["hepmva MLP (64, 64)"]
        tables.append("| predict_proba, 1 thread | best events / CPU s | hepmva / this |\n|---|---:|---:|\n"
                      + "\n".join(f"| {k} | {v:,.0f} | {ref / v:.2f} |" for k, v in best.items()))
    print(f"\ndata: {'toy' if args.toy else 'hepmva.generate'}; train {len(y_tr):,}, test {len(y_te):,}, "
          f"{X_tr.shape[1]} features; {args.epochs} epochs, batch {args.batch_size}; {args.repeats} "
          f"alternating repeats; BLAS {blas}; torch {'yes' if torch_available() and not args.no_torch else 'no'}; "
          f"load average at start {load}, at end {tuple(round(v, 2) for v in os.getloadavg())}\n")
    print("\n\n".join(tables))


if __name__ == "__main__":
    main()
