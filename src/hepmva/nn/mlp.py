"""The multi-layer perceptron classifier, trained by backpropagation (numpy, optional numba kernels).

Notation (the lecture's, column vectors): layer ``l = 1..L``, ``a^(1) = x``,
``z^(l+1) = W^(l) a^(l) + b^(l)`` and ``a^(l+1) = g(z^(l+1))``, with ``g`` the hidden activation and
the sigmoid on the single output unit. In the code events are rows, so the same line reads
``z^(l+1) = a^(l) (W^(l))^T + b^(l)``: ``coefs_[l]`` of shape (n_units_l, n_units_{l+1}) is the
lecture's ``(W^(l))^T`` (scikit-learn's convention) and every formula below names both forms.

Backpropagation (:meth:`MLPClassifier._forward_backward`):

1. forward pass storing ``z^(l)`` and ``a^(l)``;
2. output error ``delta^(L) = dJ/da^(L) * g'(z^(L))`` (from :mod:`hepmva.nn.losses`);
3. recursion ``delta^(l) = (W^(l))^T delta^(l+1) * g'(z^(l))`` (rows: ``delta^(l+1) coefs_[l]^T``);
4. gradients ``nabla_{W^(l)} J = delta^(l+1) (a^(l))^T`` (rows: ``nabla coefs_[l] = (a^(l))^T delta^(l+1)``)
   and ``nabla_{b^(l)} J = sum over events of delta^(l+1)``, plus ``(alpha / m) W^(l)`` from the L2
   penalty.

The cost of a set of events with weights ``w_i`` (negative ones allowed) is

    J(theta) = sum_i w_i L(y_i, a_i) / sum_i w_i  +  (alpha / 2m) sum_l ||W^(l)||^2

(biases are not penalised). For the full-batch solvers (BFGS, L-BFGS, Newton, GA:
:class:`hepmva.nn.objective.FlatObjective`) ``m = sum_i w_i``, so that integer weights are exactly
repeated events (scikit-learn's ``alpha / (2 sum w)``; the stage's training weights have mean 1, so
``m`` is the number of events there). For a mini-batch ``m`` is the batch size, as in scikit-learn;
the batch ``B`` estimates the first term without bias by ``sum_{i in B} w_i L_i / (|B| w_bar)`` with
``w_bar`` the mean weight of the whole training set, so a batch whose weights happen to sum to ~0
cannot blow the step up.

The bias is the lecture's ``x_0 = 1`` trick: every activation buffer carries a constant-1 last
column and layer ``l`` is stored as the augmented matrix ``W_aug^(l) = [W^(l); b^(l)]`` of shape
(n_units_l + 1, n_units_{l+1}), so ``z^(l+1) = [a^(l), 1] W_aug^(l)`` and the gradient of weights
and bias together is the single product ``[a^(l), 1]^T delta^(l+1)``.

All parameters live in one flat vector ``theta`` (float32 by default); ``coefs_`` and
``intercepts_`` are views into it, and the gradient is one flat vector laid out the same way, so
each update rule is a handful of in-place array operations on the whole network.

Speed (``benchmarks/bench_mlp.py``): a training step is its matrix products plus as few
elementwise passes as the algorithm allows, all into buffers preallocated per batch size, float32
end to end. ``z^(l)`` is written by the matrix product straight into the buffer of ``a^(l)``, and
``a = g(z)`` with ``g'(z)`` are computed in place over that whole contiguous buffer (relu fused:
the mask ``1[z > 0]`` is ``g'``, then ``a = z * mask``); the error buffers are as wide, so
``delta *= g'`` is one contiguous pass; the L2 gradient is one BLAS axpy a layer.

With ``kernels`` selecting them (``"numba"``, or ``"auto"`` for a long training), the elementwise
steps are compiled loops (:mod:`hepmva.jit`): relu in place over the buffer holding ``z`` (one
pass), ``delta *= g'(z)`` computed from the stored ``a`` in the same pass (no ``g'`` buffers), the
output unit's sigmoid, loss and error in one loop, Adam's update in one loop. Same algorithm, same
arithmetic; what is left between the matrix products is a handful of passes and calls.
"""

from __future__ import annotations

import logging
import math
import time
from numbers import Integral, Real
from typing import Any, Self

import numpy as np
from scipy.linalg.blas import get_blas_funcs
from scipy.special import expit
from threadpoolctl import threadpool_limits

from hepmva.errors import DivergenceError  # re-exported: hepmva.nn.DivergenceError
from hepmva.estimator import (BaseEstimator, ClassifierMixin, check_is_fitted, check_random_state, check_sample_weight,
                              target_type, validate_data)
from hepmva.jit import kernel, numba_available
from hepmva.nn.activations import get_activation
from hepmva.nn.init import default_init, get_initializer
from hepmva.nn.losses import get_loss
from hepmva.nn.objective import FlatObjective
from hepmva.optim.ga import weight_search_options
from hepmva.optim.minimize import minimize
from hepmva.optim.schedules import get_schedule
from hepmva.optim.updates import PolyakAverage, make_optimizer

__all__ = ["DIVERGENCE_FACTOR", "FIRST_ORDER_SOLVERS", "KERNELS", "KERNELS_AUTO_FLOPS", "DivergenceError",
           "MLPClassifier"]

logger = logging.getLogger(__name__)

#: Solvers trained here by mini-batch gradient descent with an update rule of hepmva.optim.updates.
FIRST_ORDER_SOLVERS = ("sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adam")
#: Solvers delegated to ``hepmva.optim.minimize`` on the flat parameter vector (full batch).
MINIMIZE_SOLVERS = ("bfgs", "lbfgs", "newton", "ga")
#: Training stops as diverged when an epoch's loss exceeds this multiple of the initial loss.
DIVERGENCE_FACTOR = 10.0
#: Events per forward pass at prediction time (bounds memory, and keeps a chunk's activations in
#: cache: 4096 rows of a 64-unit layer are 1 MiB; 65536 rows predicted 38 % fewer events/s).
_PREDICT_CHUNK = 4096
#: Events per forward + backward pass of the full-set gradient (:meth:`MLPClassifier._loss_grad`).
_GRADIENT_CHUNK = 65536
#: BLAS ``y += a x`` per compute dtype (for the L2 gradient; kept out of the estimator's state).
_AXPY = {np.dtype(t): get_blas_funcs("axpy", dtype=t) for t in (np.float32, np.float64)}
#: ``kernels="auto"`` compiles the kernels when the training's matrix products add up to at least
#: this many FLOPs (~1 TFLOP: 10-20 s on one core), against ~1.3 CPU s to start numba in a process
#: (and ~10 s the first time on a machine, while its cache fills): below it they do not pay.
KERNELS_AUTO_FLOPS = 1e12
#: Values of the ``kernels`` parameter.
KERNELS = ("auto", "numba", "numpy")


@kernel
def _outer(d: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
    """``out = d w^T`` (columns ``d`` of shape (m, 1), ``w`` (k, 1); ``out`` (m, k); compiled kernel)."""
    for i in range(out.shape[0]):
        di = d[i, 0]
        for j in range(out.shape[1]):
            out[i, j] = di * w[j, 0]


def _as_tuple_sizes(hidden_layer_sizes: Any) -> tuple[int, ...]:
    if isinstance(hidden_layer_sizes, Integral):
        sizes: tuple = (hidden_layer_sizes,)
    else:
        try:
            sizes = tuple(hidden_layer_sizes)
        except TypeError:
            raise ValueError(
                f"hidden_layer_sizes={hidden_layer_sizes!r} must be an int or a sequence of ints"
            ) from None
    if not all(isinstance(s, Integral) and s > 0 for s in sizes):
        raise ValueError(f"hidden_layer_sizes={hidden_layer_sizes!r} must contain positive ints")
    return tuple(int(s) for s in sizes)


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """Binary multi-layer perceptron trained by backpropagation and first-order updates.

    Parameter names follow :class:`sklearn.neural_network.MLPClassifier` where the concept is
    the same.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Units per hidden layer (any number of layers).
    activation : {"relu", "tanh", "sigmoid", "linear"}, default="relu"
        Hidden activation (``"logistic"``/``"identity"`` accepted as aliases). Output: sigmoid.
    solver : str, default="adam"
        First-order: ``"sgd"`` (scikit-learn semantics: uses ``momentum`` and
        ``nesterovs_momentum``; plain gradient descent when ``momentum=0``), ``"momentum"``
        (lecture's momentum), ``"nesterov"``, ``"rmsprop"``, ``"adagrad"``, ``"adam"``.
        Full-batch minimisers on the flat parameter vector (``"bfgs"``, ``"lbfgs"``, ``"newton"``,
        ``"ga"``) are dispatched to ``hepmva.optim.minimize`` (see :meth:`_fit_minimize`).
    alpha : float, default=1e-4
        L2 penalty ``(alpha / 2m) sum ||W||^2`` on a set (or batch) of m events, weights only
        (scikit-learn's convention).
    batch_size : int, "auto" or "full", default="auto"
        Events per update: ``"auto"`` = min(200, n). ``1`` is stochastic gradient descent (one
        shuffled event per step), ``"full"`` (or any int >= n_samples) is batch gradient descent.
    learning_rate : str, default="constant"
        Schedule of :mod:`hepmva.optim.schedules`, applied per epoch: ``"constant"``,
        ``"inverse_time"`` (alias ``"invscaling"``), ``"step"``, ``"exponential"``, ``"cosine"``.
    learning_rate_init : float, default=1e-3
        ``eta_0``.
    power_t : float, default=0.5
        Exponent of the inverse-time schedule.
    lr_decay : float, default=0.5
        ``gamma`` of the step / exponential schedules.
    lr_step_size : int, default=10
        Epochs between decays of the step schedule.
    max_iter : int, default=200
        Maximum number of epochs (passes over the training set).
    shuffle : bool, default=True
        Reshuffle the events every epoch.
    random_state : int, RandomState, Generator or None, default=None
        Seeds the initial weights, the shuffling and the validation split.
    tol : float, default=1e-4
        An epoch "improves" when the monitored loss drops by more than ``tol``.
    early_stopping : bool, default=False
        Monitor the validation loss (split off with ``validation_fraction``, or the
        ``validation_data`` passed to :meth:`fit`), stop after ``n_iter_no_change`` epochs
        without improvement and keep the best weights. Otherwise the training loss is
        monitored the same way.
    validation_fraction : float, default=0.1
        Fraction held out when ``early_stopping`` and no ``validation_data`` is given.
    n_iter_no_change : int, default=10
        Patience in epochs.
    momentum : float, default=0.9
        ``alpha`` of the momentum / Nesterov updates.
    nesterovs_momentum : bool, default=True
        With ``solver="sgd"`` and ``momentum > 0``: Nesterov (True) or plain momentum (False).
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's moment decays and safety term (``epsilon`` also for RMSProp / AdaGrad).
    rho : float, default=0.9
        RMSProp's decay of the mean squared gradient.
    loss : {"cross_entropy", "mse"}, default="cross_entropy"
        Per-event loss (``"log_loss"``/``"squared_error"`` accepted as aliases).
    init : str, default="glorot"
        Weight initialiser of :mod:`hepmva.nn.init` (``"zero"``, ``"uniform"``, ``"normal"``,
        ``"glorot"``, ``"he"``, ...); ``"auto"`` = He for relu, Glorot otherwise. The default is
        scikit-learn's choice (Glorot uniform for every activation); with relu it also gave a
        higher test AUC than He in the benchmark (0.892 vs 0.888).
    averaging : bool, default=False
        Polyak averaging: the final weights are the running mean of the iterates (every
        update step) over the second half of the epoch budget ("tail averaging": the early,
        far-from-optimal iterates are left out); the validation loss is evaluated on the mean.
    dtype : {"float32", "float64"}, default="float32"
        Compute precision (float64 for gradient checks and second-order solvers).
    kernels : {"auto", "numba", "numpy"}, default="auto"
        How the elementwise steps between the matrix products run: ``"numpy"``, numpy operations;
        ``"numba"``, compiled loops (:mod:`hepmva.jit`; relu, ``delta *= g'``, the output unit,
        Adam: ~13 % faster at (256, 256), ~27 % at (64, 64)), which cost ~1.3 CPU s to start in a
        process; ``"auto"``, numba when it is installed and the training's matrix products add up to
        :data:`KERNELS_AUTO_FLOPS` or more (a choice made from the data size, the architecture and
        ``max_iter`` only, so a given configuration always trains the same way). The results agree
        to float rounding.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two class labels; ``classes_[1]`` is the positive (signal) class.
    n_features_in_ : int
    coefs_ : list of ndarray
        ``coefs_[l]`` of shape (n_units_l, n_units_{l+1}); views into the flat parameters.
    intercepts_ : list of ndarray
        ``intercepts_[l]`` of shape (n_units_{l+1},); views into the flat parameters.
    n_iter_ : int
        Epochs run.
    t_ : int
        Update steps taken.
    loss_curve_ : list of float
        Training cost per epoch (mean of the mini-batch costs, penalty included, during the
        epoch, as scikit-learn's).
    validation_loss_curve_ : list of float
        Validation loss per epoch: weighted mean per-event loss, without the penalty (empty
        without validation data).
    validation_scores_ : list of float
        Weighted validation accuracy per epoch (empty without validation data).
    time_curve_ : list of float
        Wall-clock seconds since the start of training at the end of each epoch.
    best_loss_ : float
        Best monitored loss (validation loss when early stopping, else training loss).
    diverged_ : bool
        True when training stopped on divergence (then :class:`DivergenceError` was raised).

    Notes
    -----
    **Divergence.** After every mini-batch the loss is checked: a non-finite value, or an
    epoch loss above ``DIVERGENCE_FACTOR`` times the initial loss, stops training, sets
    ``diverged_ = True`` (``loss_curve_`` keeps the history) and raises :class:`DivergenceError`
    naming the learning rate. A diverged model refuses to predict, so a NaN model is never used
    silently. The learning-rate scan of :mod:`hepmva.studies.optimizers` catches the error and
    records the run as diverged.

    **Flat-parameter interface** (for second-order and gradient-free minimisers):

    - :meth:`_pack` returns a copy of the flat parameter vector ``theta`` of shape (n_params,),
      layout ``[W^(1).ravel(), b^(1), W^(2).ravel(), b^(2), ...]``;
    - :meth:`_unpack` copies a ``theta`` into the network (``coefs_``/``intercepts_`` follow);
    - :meth:`_loss_grad` returns ``(J(theta), nabla J(theta))`` on given ``(X, y01,
      sample_weight)`` over the whole set (labels already 0/1);
    - :meth:`_init_params` creates the network (from ``init`` and ``random_state``) without
      training; :meth:`_fit_minimize` is the dispatch point that calls
      ``hepmva.optim.minimize(fun, x0, method=solver, jac=True, **self._minimize_kwargs(rng))``.
    """

    def __init__(
        self,
        hidden_layer_sizes: int | tuple[int, ...] = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 1e-4,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 1e-3,
        power_t: float = 0.5,
        lr_decay: float = 0.5,
        lr_step_size: int = 10,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        rho: float = 0.9,
        loss: str = "cross_entropy",
        init: str = "glorot",
        averaging: bool = False,
        dtype: str = "float32",
        kernels: str = "auto",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.lr_decay = lr_decay
        self.lr_step_size = lr_step_size
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.rho = rho
        self.loss = loss
        self.init = init
        self.averaging = averaging
        self.dtype = dtype
        self.kernels = kernels

    # ------------------------------------------------------------------ parameter checks
    def _check_params(self) -> None:
        def positive(name: str, value: Any, integral: bool = False, zero_ok: bool = False) -> None:
            kind = Integral if integral else Real
            ok = isinstance(value, kind) and not isinstance(value, bool)
            if not ok or not (value >= 0 if zero_ok else value > 0) or not math.isfinite(value):
                raise ValueError(f"{name}={value!r} must be a {'non-negative' if zero_ok else 'positive'} "
                                 f"{'int' if integral else 'number'}")

        _as_tuple_sizes(self.hidden_layer_sizes)
        get_activation(self.activation)
        get_loss(self.loss)
        get_schedule(self.learning_rate)
        if self.init != "auto":
            get_initializer(self.init)
        if self.solver not in FIRST_ORDER_SOLVERS + MINIMIZE_SOLVERS:
            raise ValueError(
                f"solver={self.solver!r} is not one of {list(FIRST_ORDER_SOLVERS + MINIMIZE_SOLVERS)}"
            )
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype={self.dtype!r} must be 'float32' or 'float64'")
        if self.kernels not in KERNELS:
            raise ValueError(f"kernels={self.kernels!r} must be one of {list(KERNELS)}")
        if self.kernels == "numba" and not numba_available():
            raise ValueError("kernels='numba' needs numba, which is not installed: pip install numba "
                             "(or use kernels='numpy')")
        if not (self.batch_size in ("auto", "full") or (isinstance(self.batch_size, Integral)
                                                        and not isinstance(self.batch_size, bool)
                                                        and self.batch_size > 0)):
            raise ValueError(f"batch_size={self.batch_size!r} must be a positive int, 'auto' or 'full'")
        positive("alpha", self.alpha, zero_ok=True)
        positive("learning_rate_init", self.learning_rate_init)
        positive("power_t", self.power_t, zero_ok=True)
        positive("lr_decay", self.lr_decay)
        positive("lr_step_size", self.lr_step_size, integral=True)
        positive("max_iter", self.max_iter, integral=True)
        positive("tol", self.tol, zero_ok=True)
        positive("n_iter_no_change", self.n_iter_no_change, integral=True)
        positive("epsilon", self.epsilon)
        for name in ("momentum", "beta_1", "beta_2", "rho"):
            v = getattr(self, name)
            if not isinstance(v, Real) or not 0.0 <= v < 1.0:
                raise ValueError(f"{name}={v!r} must be in [0, 1)")
        if not isinstance(self.validation_fraction, Real) or not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction={self.validation_fraction!r} must be in (0, 1)")

    @property
    def loss_curve_unit(self) -> str:
        """What one entry of ``loss_curve_`` is: ``"epoch"``, ``"iteration"`` (full batch) or ``"generation"`` (GA)."""
        if self.solver in MINIMIZE_SOLVERS:
            return "generation" if self.solver == "ga" else "iteration"
        return "epoch"

    def _update_rule(self) -> str:
        """Name of the :mod:`hepmva.optim.updates` rule implementing ``solver``."""
        if self.solver == "sgd":
            if self.momentum == 0:
                return "sgd"
            return "nesterov" if self.nesterovs_momentum else "momentum"
        return self.solver

    # ------------------------------------------------------------------ parameters
    def _layer_sizes(self) -> list[int]:
        return [self.n_features_in_, *_as_tuple_sizes(self.hidden_layer_sizes), 1]

    def _bind_views(self) -> None:
        """Make ``coefs_``/``intercepts_`` (and the gradient's twins) views into the flat vectors.

        Layer ``l`` occupies ``theta[pos : pos + (n_in + 1) n_out]``, seen as the augmented matrix
        ``W_aug^(l)`` of shape (n_in + 1, n_out) whose last row is the bias (the lecture's
        ``x_0 = 1`` trick, with the constant unit last): ``coefs_[l] = W_aug[:-1]``,
        ``intercepts_[l] = W_aug[-1]``.
        """
        sizes = self._layer_sizes()
        self._W_aug, self._grad_aug = [], []
        if not hasattr(self, "_grad") or self._grad.shape != self._theta.shape:
            self._grad = np.zeros_like(self._theta)
        l2_mask = np.zeros_like(self._theta)
        segments = []  # [lo, hi) of each layer's weights in theta: what the L2 penalty covers
        pos = 0
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            size = (n_in + 1) * n_out
            self._W_aug.append(self._theta[pos : pos + size].reshape(n_in + 1, n_out))
            self._grad_aug.append(self._grad[pos : pos + size].reshape(n_in + 1, n_out))
            l2_mask[pos : pos + n_in * n_out] = 1.0
            segments.append((pos, pos + n_in * n_out))
            pos += size
        self.coefs_ = [W[:-1] for W in self._W_aug]
        self.intercepts_ = [W[-1] for W in self._W_aug]
        self._l2_mask = l2_mask
        self._l2_segments = np.array(segments, dtype=np.int64)

    def _init_params(self, n_features: int, rng: np.random.Generator) -> None:
        """Allocate ``theta`` and draw the initial weights (biases 0)."""
        self.n_features_in_ = n_features
        dtype = np.dtype(self.dtype)
        sizes = self._layer_sizes()
        n_params = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))
        self._theta = np.zeros(n_params, dtype=dtype)
        self._grad = np.zeros(n_params, dtype=dtype)
        self._bind_views()
        init = get_initializer(default_init(self.activation) if self.init == "auto" else self.init)
        for W in self.coefs_:
            W[...] = init(W.shape[0], W.shape[1], rng, dtype)

    def _pack(self) -> np.ndarray:
        """Copy of the flat parameter vector ``theta`` of shape (n_params,)."""
        return self._theta.copy()

    def _unpack(self, theta: np.ndarray) -> None:
        """Copy ``theta`` of shape (n_params,) into the network (views follow)."""
        theta = np.asarray(theta)
        if theta.shape != self._theta.shape:
            raise ValueError(f"theta has shape {theta.shape}, expected {self._theta.shape}")
        self._theta[...] = theta

    def __setstate__(self, state: dict) -> None:
        # Pickle/deepcopy store views as copies: rebuild them on the flat vector, and drop the
        # work buffers and their cached views (rebuilt by the next fit / _loss_grad).
        self.__dict__.update(state)
        self._release_buffers()
        if "_theta" in state:
            self._bind_views()

    # ------------------------------------------------------------------ forward / backward
    def _make_buffers(self, m: int, dtype: Any = None, gprime: bool = True) -> dict[str, list[np.ndarray]]:
        """Buffers for batches of up to ``m`` events (the compute dtype unless ``dtype``; C-contiguous).

        ``a``: the activations ``a^(l)`` with a constant-1 column appended (``a[0]`` is the input
        ``x``, ``a[L-1]`` the output unit, no extra column); ``z``: pre-activations ``z^(l)``: for
        a hidden layer a view of ``a^(l)`` without its constant column (the forward pass computes
        ``z`` there and overwrites it with ``g(z)`` in place), for the output unit its own
        (m, 1) buffer; ``gprime``: ``g'(z^(l))`` (only with ``gprime``: the compiled kernels
        compute ``g'`` from ``a`` in the backward pass) and ``delta``: errors ``delta^(l)``, both as
        wide as ``a^(l)`` (the constant column's entries are never used; ``delta``'s stay 0) so
        that every elementwise pass runs over one contiguous block.
        """
        dtype = self._theta.dtype if dtype is None else np.dtype(dtype)
        sizes = self._layer_sizes()
        L = len(sizes) - 1
        a = []
        for l, k in enumerate(sizes):
            if l == L:
                a.append(np.empty((m, 1), dtype=dtype))
            else:
                buf = np.empty((m, k + 1), dtype=dtype)
                buf[:, -1] = 1.0
                a.append(buf)
        return {
            "a": a,
            "z": [b[:, :-1] for b in a[1:-1]] + [np.empty((m, 1), dtype=dtype)],
            "gprime": [np.empty((m, k + 1), dtype=dtype) for k in sizes[1:-1]] if gprime else [],
            "delta": [np.zeros((m, k + 1), dtype=dtype) for k in sizes[1:-1]]
                     + [np.zeros((m, 1), dtype=dtype)],
        }

    def _alloc_buffers(self, m: int) -> None:
        """Preallocate the training buffers (see :meth:`_make_buffers`) for batches of ``m``."""
        self._buf = self._make_buffers(m, gprime=not getattr(self, "_kernels_on", False))
        self._buf_rows = m
        self._views: dict[int, tuple] = {}

    def _batch_views(self, m: int) -> tuple[list, ...]:
        """The first ``m`` rows of every buffer: lists ``(a, z, gprime, delta, d, a_flat, delta_flat)``.

        ``d[l]``: ``delta^(l+1)`` without the constant column (what the products read and write);
        ``a_flat`` / ``delta_flat``: 1-D views of the hidden layers' whole buffers, for the compiled
        kernels (cached per m, so a step builds no view).
        """
        views = self._views.get(m)
        if views is None:
            buf = self._buf
            a, z, gp, delta = ([b[:m] for b in buf[key]] for key in ("a", "z", "gprime", "delta"))
            d = [b[:, :-1] for b in delta[:-1]] + [delta[-1]]
            a_flat = [None] + [b.reshape(-1) for b in a[1:-1]]
            delta_flat = [b.reshape(-1) for b in delta[:-1]]
            views = (a, z, gp, delta, d, a_flat, delta_flat)
            if len(self._views) > 4:  # a full batch, a last one, a validation chunk: keep few
                self._views.clear()
            self._views[m] = views
        return views

    def _forward(self, Xa: np.ndarray, a: list, z: list, gp: list | None, W_aug: list | None = None,
                 a_flat: list | None = None) -> None:
        """Forward pass into preallocated buffers, storing ``g'(z)`` for the backward pass.

        ``z^(l+1) = [a^(l), 1] W_aug^(l)`` (= ``a^(l) coefs_[l] + b^(l)``, the lecture's
        ``W^(l) a^(l) + b^(l)``) is written into the
        buffer of ``a^(l+1)``; then ``a^(l+1) = g(z^(l+1))`` and ``g'(z^(l+1))`` (into ``gp``) in
        place over that whole contiguous buffer, and the constant-1 column is restored where
        ``g(1) != 1``; sigmoid on the output unit. ``Xa`` of shape (m, n_features + 1) is the
        input with its constant-1 column; it may be ``a[0]`` itself. ``W_aug`` (default: the
        network's own) lets prediction run with float64 copies of float32 weights.
        ``gp=None`` (the compiled kernels): ``a = g(z)`` only, in place (``a_flat``: 1-D views of
        the hidden buffers), and the output unit is left to the loss's kernel.
        """
        act = self._activation_fn
        W_aug = self._W_aug if W_aug is None else W_aug
        last = len(W_aug) - 1
        a_prev = Xa
        for l, W in enumerate(W_aug):
            np.matmul(a_prev, W, out=z[l])
            if l < last:
                if gp is None:
                    self._forward_inplace(a_flat[l + 1], a[l + 1])
                else:
                    act.forward_derivative(a[l + 1], a[l + 1], gp[l])
                if self._restore_ones:
                    a[l + 1][:, -1] = 1.0
            elif gp is not None:
                expit(z[l], out=a[l + 1])  # sigmoid output unit
            a_prev = a[l + 1]

    def _forward_backward(
        self, Xa: np.ndarray, y: np.ndarray, w: np.ndarray, scale: float, penalty: bool = True
    ) -> float:
        """One forward + backward pass; fills the flat gradient ``self._grad``.

        Parameters
        ----------
        Xa : ndarray of shape (m, n_features + 1)
            Input events with a constant-1 last column (see :meth:`_augment`).
        y : ndarray of shape (m, 1)
            Labels in {0, 1}.
        w : ndarray of shape (m, 1)
            Event weights.
        scale : float
            Normalisation of the data term: ``J = scale * sum_i w_i L_i + (alpha/2m) ||W||^2``.
        penalty : bool, default=True
            Add the L2 term's gradient ``(alpha/m) W``.

        Returns
        -------
        float
            ``scale * sum_i w_i L_i`` (the data term of J, without the penalty).
        """
        m = Xa.shape[0]
        a, z, gp, delta, d, a_flat, delta_flat = self._batch_views(m)
        a = [Xa, *a[1:]]
        kernels = self._kernels_on
        # 1. forward pass storing z^(l), a^(l) (and g'(z^(l)) without the kernels)
        self._forward(Xa, a, z, None if kernels else gp, a_flat=a_flat)
        # 2. output error delta^(L) = dJ/da g'(z) (per event, times w_i * scale)
        if kernels:  # sigmoid, loss and error in one compiled loop
            data_term = self._output_kernel(y, z[-1], w, self._scalar(scale), a[-1], delta[-1])
        else:
            loss = self._loss_fn
            data_term = scale * loss.value(y, z[-1], a[-1], w)
            loss.delta(y, z[-1], a[-1], w, out=delta[-1])
            delta[-1] *= scale
        W_aug, G_aug, W_T = self._W_aug, self._grad_aug, self._coefs_T
        last = len(W_aug) - 1
        for l in range(last, -1, -1):
            # 4. gradient [nabla_W; nabla_b] = [a^(l), 1]^T delta^(l+1): weights and bias at once
            #    (d[l] = delta^(l+1) of shape (m, n_out))
            np.matmul(a[l].T, d[l], out=G_aug[l])
            if l > 0:
                # 3. delta^(l) = (W^(l))^T delta^(l+1) * g'(z^(l))   (rows: delta coefs_[l]^T; the
                #    constant column of delta^(l) is not needed and stays 0)
                if l == last and W_T[l].shape[0] == 1:  # single output unit: an outer product
                    if kernels:
                        self._outer(d[l], W_aug[l], delta[l - 1])
                    else:  # (einsum's is numpy's fastest)
                        np.einsum("i,j->ij", d[l].reshape(-1), W_aug[l].reshape(-1), out=delta[l - 1])
                else:
                    np.matmul(d[l], W_T[l], out=d[l - 1])
                if not kernels:
                    delta[l - 1] *= gp[l - 1]
                elif self._backprop is not None:  # delta *= g'(z), g' from a^(l), one pass
                    self._backprop(delta_flat[l - 1], a_flat[l])
        if penalty and self.alpha:
            # L2 penalty: nabla (alpha/2m)||W||^2 = (alpha/m) W  (weights only), one axpy a layer
            c = self.alpha / m
            axpy = _AXPY[self._theta.dtype]
            for W_flat, g_flat in self._l2_pairs:
                axpy(W_flat, g_flat, a=c)
        return data_term

    @staticmethod
    def _augment(X: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``[X, 1]``: the input with a constant-1 last column, shape (m, n_features + 1)."""
        if out is None:
            out = np.empty((X.shape[0], X.shape[1] + 1), dtype=X.dtype)
        out[:, :-1] = X
        out[:, -1] = 1.0
        return out

    def _penalty(self, m: float) -> float:
        """L2 term ``(alpha / 2m) sum ||W||^2`` (``m``: batch size, or sum of weights of a full set)."""
        return 0.5 * self.alpha / m * float(sum(np.vdot(W, W) for W in self.coefs_))

    def _prepare_forward(self) -> None:
        """The hidden activation, and whether ``g(1) != 1`` (then the constant column is reset)."""
        self._activation_fn = act = get_activation(self.activation)
        one = np.ones(1, dtype=self._theta.dtype)
        self._restore_ones = bool(act.forward(one, out=one)[0] != 1.0)

    def _training_flops(self, n_events: int) -> float:
        """Matrix-product FLOPs of a training: forward, weight gradient, back-propagated error."""
        sizes = self._layer_sizes()
        macs = [i * o for i, o in zip(sizes[:-1], sizes[1:])]
        return 2.0 * (2 * sum(macs) + sum(macs[1:])) * n_events * self.max_iter

    def _prepare_math(self, n_events: int | None = None) -> None:
        """Activation, loss and L2 views; with ``n_events`` (a training's size) also decide ``kernels``.

        Without ``n_events`` the last decision stands; before any, ``kernels="numba"`` means the
        kernels and ``"auto"`` / ``"numpy"`` numpy (``"auto"`` needs the training's size).
        """
        self._prepare_forward()
        self._loss_fn = get_loss(self.loss)
        # (weights, gradient) of each layer as flat contiguous views (the bias row excluded)
        self._l2_pairs = [(W[:-1].reshape(-1), G[:-1].reshape(-1))
                          for W, G in zip(self._W_aug, self._grad_aug)]
        # (W^(l))^T without the bias row: the back-propagated error's product (no copy, no bias column)
        self._coefs_T = [W[:-1].T for W in self._W_aug]
        if n_events is not None:
            choice = getattr(self, "kernels", "auto")
            self._kernels_on = choice == "numba" or (
                choice == "auto" and numba_available()
                and self._training_flops(n_events) >= KERNELS_AUTO_FLOPS)
            if self._kernels_on:
                logger.info("elementwise steps compiled by numba (kernels=%r)", choice)
        elif not hasattr(self, "_kernels_on"):
            self._kernels_on = getattr(self, "kernels", "auto") == "numba"
        if self._kernels_on:
            self._bind_kernels(getattr(self, "kernels", "auto"))

    def _bind_kernels(self, choice: str) -> None:
        """Compile (or load from numba's cache) the kernels of this network's activation and loss.

        If numba is installed but does not import, ``kernels="auto"`` falls back to numpy with a
        warning; ``kernels="numba"`` stops with one line naming the cause.
        """
        try:
            act = self._activation_fn
            relu_like = act.forward_inplace
            if relu_like is not None:
                compiled = relu_like.compiled()
                self._forward_inplace = lambda flat, buf: compiled(flat)
            else:
                forward = act.forward
                self._forward_inplace = lambda flat, buf: forward(buf, out=buf)
            self._backprop = None if act.backprop is None else act.backprop.compiled()
            self._output_kernel = self._loss_fn.output.compiled()
            self._outer = _outer.compiled()
            self._scalar = self._theta.dtype.type
        except ImportError as exc:
            if choice != "auto":
                raise ValueError(f"kernels={choice!r}: numba does not import ({exc}); "
                                 "use kernels='numpy' or repair the numba installation") from None
            logger.warning("numba does not import (%s): the elementwise steps run in numpy", exc)
            self._kernels_on = False

    def _loss_grad(
        self,
        theta: np.ndarray,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> tuple[float, np.ndarray]:
        """Full-set cost and gradient at ``theta`` (for minimisers on the flat vector).

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
            Copied into the network (the network keeps it afterwards).
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Labels in {0, 1}.
        sample_weight : ndarray of shape (n_samples,) or None

        Returns
        -------
        J : float
            ``sum_i w_i L_i / sum_i w_i + (alpha / 2 sum_i w_i) sum ||W||^2``.
        grad : ndarray of shape (n_params,)
            ``nabla_theta J`` (a new array, float64).
        """
        dtype = self._theta.dtype
        self._unpack(theta)
        self._prepare_math()
        X = np.ascontiguousarray(X, dtype=dtype)
        y = np.asarray(y, dtype=dtype).reshape(-1, 1)
        w = (np.ones_like(y) if sample_weight is None
             else np.asarray(sample_weight, dtype=dtype).reshape(-1, 1))
        n = X.shape[0]
        chunk = min(n, _GRADIENT_CHUNK)
        if getattr(self, "_buf_rows", 0) < chunk:
            self._alloc_buffers(chunk)
        Xa_buf = self._buf["a"][0]
        w_sum = float(np.sum(w, dtype=np.float64))
        scale = 1.0 / w_sum
        total = np.zeros(self._theta.shape, dtype=np.float64)
        J = 0.0
        for start in range(0, n, chunk):
            sl = slice(start, min(start + chunk, n))
            Xa = Xa_buf[: sl.stop - start]
            Xa[:, :-1] = X[sl]
            J += self._forward_backward(Xa, y[sl], w[sl], scale, penalty=False)
            total += self._grad
        total += (self.alpha / w_sum) * self._l2_mask * self._theta  # alpha / (2 sum w): frequency-consistent
        return J + self._penalty(w_sum), total

    # ------------------------------------------------------------------ fit
    def _rng(self) -> np.random.Generator:
        rs = self.random_state
        if isinstance(rs, np.random.Generator):
            return rs
        if rs is None or isinstance(rs, Integral):
            return np.random.default_rng(rs)
        return np.random.default_rng(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _start_training(self, n_features: int, rng: np.random.Generator, n_events: int) -> None:
        """Initial weights and empty training records (shared by :meth:`fit` and :meth:`fit_stream`);
        ``n_events`` (the training events) decides ``kernels="auto"``."""
        self._init_params(n_features, rng)
        self._prepare_math(n_events=n_events)
        self.loss_curve_: list[float] = []
        self.validation_loss_curve_: list[float] = []
        self.validation_scores_: list[float] = []
        self.time_curve_: list[float] = []
        self.n_iter_ = 0
        self.t_ = 0
        self.diverged_ = False
        self.best_loss_ = np.inf

    def fit_stream(self, source: Any, *, buffer_events: int, validation_data: tuple | None = None) -> Self:
        """Train by mini-batches streamed from ``source``, holding at most ``buffer_events`` events (out of core).

        One epoch is one pass over the source: its buffers (of about ``buffer_events`` events, all
        classes mixed in each) are shuffled one at a time and cut into mini-batches; the partial batch
        left at the end of a buffer is carried into the next one. The updates are the in-memory
        :meth:`fit`'s (the same loop, fed a different batch stream); with ``buffer_events`` at least the
        number of events the training is identical to ``fit`` on the events in the source's order.
        First-order solvers only (the full-batch minimisers need the whole set at every step).

        Parameters
        ----------
        source : object with ``n_events``, ``n_features``, ``weight_mean`` and ``buffers(size)``
            yielding chunks with ``X`` (n, n_features), ``y`` (n,) in {0, 1} and ``w`` (n,), in the same
            order on every call (e.g. :class:`hepmva.training_set.TrainingSet`).
        buffer_events : int
            Events held (and shuffled together) at a time.
        validation_data : tuple (X_val, y_val[, w_val]), optional
            As in :meth:`fit`; needed for ``early_stopping`` (no internal split of a stream).
        """
        self._check_params()
        if self.solver not in FIRST_ORDER_SOLVERS:
            raise ValueError(f"solver={self.solver!r} trains on the whole set at every step and cannot stream; "
                             f"streaming needs one of {list(FIRST_ORDER_SOLVERS)}")
        if self.early_stopping and validation_data is None:
            raise ValueError("early_stopping on a stream needs validation_data (a stream has no internal split)")
        n, buffer_events = int(source.n_events), max(int(buffer_events), 1)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = int(source.n_features)
        dtype = np.dtype(self.dtype)
        X_val = y_val = w_val = None
        if validation_data is not None:
            X_val, y_val, w_val = self._check_validation_data(validation_data)
        rng = self._rng()
        self._start_training(self.n_features_in_, rng, n)
        b = self._batch_rows(n)
        w_mean = float(source.weight_mean)

        def batches(epoch: int):
            carry = None
            for chunk in source.buffers(buffer_events):
                Xa = self._augment(np.asarray(chunk.X, dtype=dtype))
                y_col = np.asarray(chunk.y, dtype=dtype).reshape(-1, 1)
                w_col = (np.asarray(chunk.w, dtype=np.float64) / w_mean).astype(dtype).reshape(-1, 1)
                if carry is not None:
                    Xa, y_col, w_col = (np.concatenate([c, x]) for c, x in zip(carry, (Xa, y_col, w_col)))
                if self.shuffle:
                    perm = rng.permutation(len(y_col))
                    Xa, y_col, w_col = Xa[perm], y_col[perm], w_col[perm]
                full = len(y_col) - len(y_col) % b
                for start in range(0, full, b):
                    yield Xa[start:start + b], y_col[start:start + b], w_col[start:start + b]
                carry = (Xa[full:], y_col[full:], w_col[full:]) if full < len(y_col) else None
            if carry is not None:
                yield carry

        with threadpool_limits(limits=1, user_api="blas"):
            self._train_epochs(n, b, batches, X_val, y_val, w_val)
        self._release_buffers()
        return self

    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        validation_data: tuple | None = None,
    ) -> Self:
        """Train the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Two classes; ``classes_[1]`` (the larger label after sorting) is the positive one.
        sample_weight : array-like of shape (n_samples,), default=None
            Event weights (negative allowed; their sum must be positive).
        validation_data : tuple (X_val, y_val) or (X_val, y_val, w_val), default=None
            Evaluated every epoch (``validation_loss_curve_``); used for early stopping instead
            of an internal split.

        Returns
        -------
        self
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        y_type = target_type(y)
        if y_type != "binary":
            raise ValueError(
                f"Only binary classification is supported. The type of the target is {y_type}."
            )
        classes = np.unique(y)
        if classes.size != 2:
            raise ValueError(
                f"MLPClassifier needs 2 classes in y, got {classes.size} class: {classes.tolist()}"
            )
        self.classes_ = classes
        dtype = np.dtype(self.dtype)
        sw = check_sample_weight(sample_weight, X, dtype=np.float64)
        if not np.all(np.isfinite(sw)):
            raise ValueError("sample_weight contains NaN or inf")
        if sw.sum() <= 0:
            raise ValueError(f"sample_weight must have a positive sum, got {sw.sum()!r}")
        y01 = (y == classes[1]).astype(dtype)
        X = np.ascontiguousarray(X, dtype=dtype)
        rng = self._rng()
        # validation set
        X_val = y_val = w_val = None
        if validation_data is not None:
            X_val, y_val, w_val = self._check_validation_data(validation_data)
        elif self.early_stopping:
            n_val = int(round(self.validation_fraction * X.shape[0]))
            if n_val < 1 or X.shape[0] - n_val < 1:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction} leaves no validation or "
                    f"training events with n_samples={X.shape[0]}"
                )
            perm = rng.permutation(X.shape[0])
            iv, it = perm[:n_val], perm[n_val:]
            X_val, y_val, w_val = X[iv], y01[iv], sw[iv].astype(dtype)
            X, y01, sw = X[it], y01[it], sw[it]
            if sw.sum() <= 0:
                raise ValueError("sample_weight of the training part has a non-positive sum")

        self._start_training(X.shape[1], rng, X.shape[0])

        # Mini-batch matrices (~hundreds x tens) are too small for BLAS threads to pay off (and
        # spinning threads hurt badly on a busy node): one BLAS thread; parallelism comes from
        # running (classifier, fold) jobs side by side.
        with threadpool_limits(limits=1, user_api="blas"):
            if self.solver in FIRST_ORDER_SOLVERS:
                self._fit_first_order(X, y01, sw.astype(dtype), rng, X_val, y_val, w_val)
            else:
                self._fit_minimize(X, y01, sw.astype(dtype), rng, X_val, y_val, w_val)
        self._release_buffers()
        return self

    def _check_validation_data(self, validation_data: tuple) -> tuple:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a tuple (X_val, y_val) or (X_val, y_val, w_val)")
        Xv, yv = validation_data[0], np.asarray(validation_data[1])
        Xv = validate_data(self, Xv, reset=False, dtype=[np.float64, np.float32])
        unknown = np.setdiff1d(np.unique(yv), self.classes_)
        if unknown.size:
            raise ValueError(f"validation_data labels {unknown.tolist()} not among classes {self.classes_.tolist()}")
        wv = validation_data[2] if len(validation_data) == 3 else None
        wv = check_sample_weight(wv, Xv, dtype=np.float64)
        if not wv.sum() > 0:
            raise ValueError(f"validation_data weights must have a positive sum, got {wv.sum()!r}")
        dtype = np.dtype(self.dtype)
        return (np.ascontiguousarray(Xv, dtype=dtype), (yv == self.classes_[1]).astype(dtype),
                wv.astype(dtype))

    def _release_buffers(self) -> None:
        for name in ("_buf", "_buf_rows", "_views", "_l2_pairs", "_coefs_T", "_forward_inplace",
                     "_backprop", "_output_kernel", "_outer", "_scalar"):
            self.__dict__.pop(name, None)

    def _full_loss(self, X: np.ndarray, y01: np.ndarray, w: np.ndarray) -> tuple[float, float]:
        """Weighted mean per-event loss (no penalty) and weighted accuracy on a whole set."""
        z = self._decision(X)
        zz = z.astype(np.float64)
        y = y01.astype(np.float64)
        w = w.astype(np.float64)
        wsum = w.sum()
        J = self._loss_fn.value(y, zz, expit(zz), w) / wsum  # the loss registry's weighted sum
        acc = float(np.dot(w, (zz > 0) == (y > 0.5)) / wsum)
        return J, acc

    def _batch_rows(self, n: int) -> int:
        """Events per mini-batch for a training set of ``n`` events."""
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size == "full":
            return n
        return min(int(self.batch_size), n)

    def _fit_first_order(self, X, y01, sw, rng, X_val, y_val, w_val) -> None:
        n = X.shape[0]
        b = self._batch_rows(n)
        dtype = np.dtype(self.dtype)
        w_norm = (sw / np.mean(sw, dtype=np.float64)).astype(dtype).reshape(-1, 1)
        y_col = y01.reshape(-1, 1)
        Xa = self._augment(X)
        if self.shuffle:
            Xs, ys, ws = np.empty_like(Xa), np.empty_like(y_col), np.empty_like(w_norm)
        else:
            Xs, ys, ws = Xa, y_col, w_norm

        def batches(epoch: int):
            if self.shuffle:
                perm = rng.permutation(n)
                np.take(Xa, perm, axis=0, out=Xs)
                np.take(y_col, perm, axis=0, out=ys)
                np.take(w_norm, perm, axis=0, out=ws)
            for start in range(0, n, b):
                yield Xs[start:start + b], ys[start:start + b], ws[start:start + b]

        self._train_epochs(n, b, batches, X_val, y_val, w_val)

    def _train_epochs(self, n: int, b: int, batches, X_val, y_val, w_val) -> None:
        """The first-order epoch loop: ``batches(epoch)`` yields the epoch's ``(Xa, y, w)`` mini-batches
        (augmented inputs, columns), ``n`` events in all, at most ``b`` per batch."""
        self._alloc_buffers(b)
        theta, grad = self._theta, self._grad
        opt = make_optimizer(
            self._update_rule(), theta, momentum=self.momentum, rho=self.rho,
            beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon, kernels=self._kernels_on,
            l2_segments=self._l2_segments,
        )
        # the L2 gradient (alpha/m) W in the update's own pass when the rule can (Adam's kernel),
        # else one axpy a layer in the backward pass
        l2_in_step = bool(self.alpha) and opt.fuses_l2
        schedule = get_schedule(self.learning_rate)
        sched_kw = dict(power=self.power_t, gamma=self.lr_decay, step_size=self.lr_step_size,
                        T=self.max_iter)
        avg: PolyakAverage | None = None
        monitor_val = self.early_stopping and X_val is not None
        best_theta = theta.copy() if monitor_val else None
        no_improve = 0
        initial_loss: float | None = None
        t_start = time.perf_counter()
        for epoch in range(self.max_iter):
            t_epoch = time.perf_counter()
            eta = schedule(self.learning_rate_init, epoch, **sched_kw)
            total = 0.0
            finite = True
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                for Xb, yb, wb in batches(epoch):
                    m = len(yb)
                    J_b = self._forward_backward(Xb, yb, wb, 1.0 / m, penalty=not l2_in_step)
                    if not math.isfinite(J_b):
                        finite = False
                        total = J_b * n
                        break
                    if initial_loss is None:
                        initial_loss = J_b + self._penalty(m)
                    total += J_b * m
                    if l2_in_step:
                        opt.step(theta, grad, eta, l2=self.alpha / m)
                    else:
                        opt.step(theta, grad, eta)
                    if avg is not None:
                        avg.update(theta)
                if self.averaging and avg is None and epoch + 1 >= self.max_iter // 2:
                    avg = PolyakAverage(theta)  # tail averaging: the second half of the budget
                # as scikit-learn: mean over batches of (data + alpha/2m ||W||^2)
                epoch_loss = total / n + math.ceil(n / b) * self._penalty(n)
            self.t_ = opt.t
            self.n_iter_ = epoch + 1
            self.loss_curve_.append(float(epoch_loss))
            self.time_curve_.append(time.perf_counter() - t_start)
            finite = finite and math.isfinite(epoch_loss) and bool(np.isfinite(theta).all())
            if not finite or epoch_loss > DIVERGENCE_FACTOR * max(initial_loss or 0.0, 1e-3):
                self._diverge(epoch, epoch_loss, initial_loss)
            # validation (on the averaged weights when averaging)
            val_loss = None
            if X_val is not None:
                if avg is not None:
                    current = theta.copy()
                    theta[...] = avg.theta_bar
                val_loss, val_acc = self._full_loss(X_val, y_val, w_val)
                if avg is not None:
                    theta[...] = current
                self.validation_loss_curve_.append(val_loss)
                self.validation_scores_.append(val_acc)
            logger.info(
                "epoch %d/%d  loss %.6g  val_loss %s  eta %.3g  %.2f s",
                epoch + 1, self.max_iter, epoch_loss,
                "-" if val_loss is None else f"{val_loss:.6g}", eta, time.perf_counter() - t_epoch,
            )
            monitored = val_loss if monitor_val else epoch_loss
            if monitored > self.best_loss_ - self.tol:
                no_improve += 1
            else:
                no_improve = 0
            if monitored < self.best_loss_:
                self.best_loss_ = float(monitored)
                if monitor_val:
                    best_theta[...] = avg.theta_bar if avg is not None else theta
            if no_improve >= self.n_iter_no_change:
                logger.info(
                    "%s loss did not improve by more than tol=%g for %d epochs: stopping at epoch %d",
                    "validation" if monitor_val else "training", self.tol, self.n_iter_no_change,
                    epoch + 1,
                )
                break
        else:
            logger.info("reached max_iter=%d epochs without converging (tol=%g)", self.max_iter, self.tol)
        if monitor_val:
            theta[...] = best_theta
        elif avg is not None:
            theta[...] = avg.theta_bar

    def _diverge(self, epoch: int, loss: float, initial_loss: float | None) -> None:
        self.diverged_ = True
        msg = (
            f"MLPClassifier diverged at epoch {epoch + 1}: loss {loss:.4g} (initial "
            f"{initial_loss if initial_loss is None else f'{initial_loss:.4g}'}); "
            f"learning_rate_init={self.learning_rate_init} is too large for solver={self.solver!r}"
        )
        logger.error(msg)
        self._release_buffers()
        raise DivergenceError(msg)

    def _minimize_kwargs(self, rng: np.random.Generator) -> dict[str, Any]:
        """Extra keyword arguments for ``hepmva.optim.minimize`` (per solver; extend here).

        ``bfgs``/``lbfgs``/``newton``: ``max_iter`` iterations, ``tol`` is the gradient
        tolerance (as scikit-learn's lbfgs). ``ga``: ``max_iter`` generations of 50 networks
        around the initial weights (:func:`hepmva.optim.ga.weight_search_options`).
        """
        kwargs: dict[str, Any] = {"random_state": rng, "maxiter": self.max_iter}
        if self.solver == "ga":
            kwargs.update(weight_search_options(self._pack(), rng))
        else:
            kwargs["tol"] = self.tol
        return kwargs

    def _fit_minimize(self, X, y01, sw, rng, X_val, y_val, w_val) -> None:
        """Dispatch point for full-batch minimisers on the flat parameter vector.

        Calls ``hepmva.optim.minimize.minimize(fun, x0, method=self.solver, jac=True, ...)``
        with ``fun(theta) -> (J(theta), nabla J(theta))`` from :meth:`_loss_grad` (float64
        gradient) and ``x0 = self._pack()``. The result's ``x`` becomes the network's weights,
        ``history.fun`` / ``history.time`` become ``loss_curve_`` / ``time_curve_``.
        """
        objective = FlatObjective(self, X, y01, sw)
        if self.solver == "ga":  # no gradient needed: one forward pass per individual
            res = minimize(objective.value, objective.theta0, method="ga", **self._minimize_kwargs(rng))
        else:
            res = minimize(objective.value_and_grad, objective.theta0, method=self.solver, jac=True,
                           **self._minimize_kwargs(rng))
        if not np.all(np.isfinite(res.x)) or not math.isfinite(res.fun):
            self._diverge(int(res.nit), float(res.fun), None)
        self._unpack(np.asarray(res.x, dtype=self._theta.dtype))
        history = getattr(res, "history", None)
        if history is not None and len(history.fun):
            self.loss_curve_ = [float(v) for v in history.fun]
            self.time_curve_ = [float(v) for v in history.time]
        else:
            self.loss_curve_, self.time_curve_ = [float(res.fun)], [0.0]
        self.n_iter_ = int(res.nit)
        self.t_ = int(res.nit)
        self.best_loss_ = float(res.fun)
        if X_val is not None:
            val_loss, val_acc = self._full_loss(X_val, y_val, w_val)
            self.validation_loss_curve_.append(val_loss)
            self.validation_scores_.append(val_acc)
        logger.info("%s: %s after %d iterations, loss %.6g", self.solver, res.message, res.nit, res.fun)

    # ------------------------------------------------------------------ predict
    def _check_predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "coefs_")
        if getattr(self, "diverged_", False):
            raise DivergenceError("this MLPClassifier diverged during training and cannot predict")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return np.ascontiguousarray(X, dtype=self._theta.dtype)

    def _decision(self, X: np.ndarray, dtype: Any = None) -> np.ndarray:
        """Output pre-activation ``z^(L)`` of shape (n_samples,), chunked.

        Computed in the compute dtype by default (training: validation loss, GA fitness); with
        ``dtype=float64`` a float32 network is evaluated with its weights in float64, so that an
        event's score does not depend on the batch it is scored in (float32 BLAS kernels round
        differently for different batch sizes).
        """
        dtype = self._theta.dtype if dtype is None else np.dtype(dtype)
        W_aug = self._W_aug if dtype == self._theta.dtype else [W.astype(dtype) for W in self._W_aug]
        n = X.shape[0]
        out = np.empty(n, dtype=dtype)
        chunk = max(1, min(n, _PREDICT_CHUNK))
        buf = self._make_buffers(chunk, dtype)
        self._prepare_forward()
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            for start in range(0, n, chunk):
                stop = min(start + chunk, n)
                m = stop - start
                a, z, gp = ([b[:m] for b in buf[key]] for key in ("a", "z", "gprime"))
                a[0][:, :-1] = X[start:stop]
                self._forward(a[0], a, z, gp, W_aug)
                out[start:stop] = z[-1][:, 0]
        return out

    def decision_function(self, X: Any) -> np.ndarray:
        """Log-odds ``z^(L)`` of the positive class (evaluated in float64 whatever the compute dtype).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._decision(self._check_predict(X), np.float64)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``[1 - a, a]`` with ``a = sigmoid(z^(L))`` (in float64).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, 2)
        """
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels, shape (n_samples,)."""
        z = self.decision_function(X)
        return self.classes_[(z > 0).astype(int)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    # ------------------------------------------------------------------ persistence
    def export_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """Architecture, parameters and training history as (JSON-able meta, arrays).

        Returns
        -------
        meta : dict
            ``params`` (constructor arguments), ``layer_sizes``, ``n_features_in_``,
            ``feature_names_in_`` (if any) and the training history.
        arrays : dict of str to ndarray
            ``theta`` (flat parameters, shape (n_params,)) and ``classes``.
        """
        check_is_fitted(self, "coefs_")
        params = self.get_params(deep=False)
        params["hidden_layer_sizes"] = list(_as_tuple_sizes(params["hidden_layer_sizes"]))
        rs = params["random_state"]
        if rs is not None and not isinstance(rs, Integral):
            params["random_state"] = None  # a generator object is not persistable
        elif rs is not None:
            params["random_state"] = int(rs)
        meta = {
            "estimator": "hepmva.nn.MLPClassifier",
            "params": params,
            "layer_sizes": self._layer_sizes(),
            "n_features_in_": int(self.n_features_in_),
            "n_iter_": int(self.n_iter_),
            "t_": int(self.t_),
            "best_loss_": float(self.best_loss_),
            "diverged_": bool(self.diverged_),
            "loss_curve_": [float(v) for v in self.loss_curve_],
            "validation_loss_curve_": [float(v) for v in self.validation_loss_curve_],
            "validation_scores_": [float(v) for v in self.validation_scores_],
            "time_curve_": [float(v) for v in self.time_curve_],
        }
        if hasattr(self, "feature_names_in_"):
            meta["feature_names_in_"] = [str(f) for f in self.feature_names_in_]
        classes = self.classes_
        if classes.dtype == object:
            classes = classes.astype(str)
        return meta, {"theta": self._theta.copy(), "classes": classes}

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> Self:
        """Rebuild a fitted classifier from :meth:`export_state` output (no pickle involved)."""
        params = dict(meta["params"])
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        est = cls(**params)
        est._check_params()
        est.n_features_in_ = int(meta["n_features_in_"])
        if "feature_names_in_" in meta:
            est.feature_names_in_ = np.asarray(meta["feature_names_in_"], dtype=object)
        theta = np.asarray(arrays["theta"], dtype=np.dtype(est.dtype))
        est._theta = theta.copy()
        est._grad = np.zeros_like(est._theta)
        est._bind_views()
        if est._theta.size != sum(W.size + b.size for W, b in zip(est.coefs_, est.intercepts_)):
            raise ValueError("model file: theta size does not match layer_sizes")
        est.classes_ = np.asarray(arrays["classes"])
        for key in ("n_iter_", "t_", "best_loss_", "diverged_", "loss_curve_",
                    "validation_loss_curve_", "validation_scores_", "time_curve_"):
            setattr(est, key, meta[key])
        return est
