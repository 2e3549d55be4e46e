"""Rectangular cuts optimised by the genetic algorithm (TMVA's "CutsGA").

For every target signal efficiency ``t_k`` (ascending) the classifier finds one window
``[low_j, high_j]`` per feature ``j`` that minimises the weighted background efficiency among
windows keeping at least ``t_k`` of the weighted signal:

    minimise  eps_B(window) + penalty * max(0, t_k - eps_S(window))

with :func:`hepmva.optim.minimize` (``method="ga"``, the population evaluated in one vectorised
call).  The windows are **nested**: the loosest target is optimised first with a free window
(seeded at "no cut"); every tighter target ``t_k`` then only chooses how far to move each edge of
the window of ``t_{k+1}`` inwards (a fraction of its width), so the window of ``t_k`` lies inside
the window of ``t_{k+1}``.  Each GA keeps an archive of the best *feasible* window it evaluated
(``eps_S >= t_k``), which is the one kept.

Genes live in *quantile space* of the pooled training sample, so the search is invariant to the
scale of each feature: a lower-edge gene ``u`` means the cut ``x_j >= Q_j(u)`` (``u = 0``: no
lower cut), an upper-edge gene ``v`` means ``x_j <= Q_j(v)`` (``v = 1``: no upper cut).

**Score.**  :meth:`CutsGAClassifier.decision_function` returns, per event,
``1 - t_k*`` where ``t_k*`` is the smallest target efficiency whose window the event passes
(0 if it passes none).  Because the windows are nested, "score >= 1 - t_k" is exactly "passes
window k", so the ROC curve of this score goes exactly through the working points
``(eps_S_k, eps_B_k)``: its ROC is the envelope of the optimised cut sets, and any threshold on
it is one of the cut sets.  Higher scores are more signal-like.

The chosen cuts are written out readably by :meth:`CutsGAClassifier.cuts_table`,
:meth:`~CutsGAClassifier.to_json` and :meth:`~CutsGAClassifier.to_text`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from hepmva.checks import subsample_index
from hepmva.estimator import (BaseEstimator, ClassifierMixin, check_is_fitted, check_sample_weight, target_type,
                              validate_data)

from hepmva.optim.minimize import minimize

__all__ = ["DEFAULT_TARGET_EFFICIENCIES", "CutsGAClassifier", "window_efficiencies"]

logger = logging.getLogger(__name__)

DEFAULT_TARGET_EFFICIENCIES = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def window_efficiencies(
    X: np.ndarray,
    signal: np.ndarray,
    sample_weight: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted signal and background efficiencies of a batch of rectangular windows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Events.
    signal : ndarray of shape (n_samples,) of bool
        True for signal events.
    sample_weight : ndarray of shape (n_samples,)
        Event weights.
    lower, upper : ndarray of shape (n_windows, n_features)
        Window edges (``-inf``/``+inf`` for no cut); an event passes if
        ``lower_j <= x_j <= upper_j`` for every ``j``.

    Returns
    -------
    eff_s, eff_b : ndarray of shape (n_windows,)
        Passing fraction of the signal and background weight.
    """
    w_s = np.where(signal, sample_weight, 0.0)
    w_b = np.where(signal, 0.0, sample_weight)
    eff_s = np.empty(lower.shape[0])
    eff_b = np.empty(lower.shape[0])
    for start in range(0, lower.shape[0], 64):  # bounded memory: 64 windows at a time
        sl = slice(start, start + 64)
        passed = _pass_matrix(X, lower[sl], upper[sl])
        eff_s[sl] = passed @ w_s / w_s.sum()
        eff_b[sl] = passed @ w_b / w_b.sum()
    return eff_s, eff_b


def _pass_matrix(X: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Float matrix of shape (n_windows, n_samples): 1 where the event passes the window."""
    passed = np.ones((lower.shape[0], X.shape[0]), dtype=bool)
    for j in range(X.shape[1]):
        x = X[:, j][None, :]
        passed &= (x >= lower[:, j, None]) & (x <= upper[:, j, None])
    return passed.astype(np.float64)


class CutsGAClassifier(ClassifierMixin, BaseEstimator):
    """Rectangular-cut classifier, one nested window per target signal efficiency (CutsGA).

    Parameters
    ----------
    target_efficiencies : sequence of float or None
        Target signal efficiencies in (0, 1]; default :data:`DEFAULT_TARGET_EFFICIENCIES`.
    pop_size : int, default 30
        GA population per target.
    n_generations : int, default 30
        GA generations per target (three times as many for the loosest, free window).
    penalty : float, default 100.0
        Weight of the signal-efficiency shortfall in the fitness.
    max_events : int or None, default 10000
        Optimise on at most this many (randomly chosen) training events for speed; the
        targets are met on this subsample, the reported efficiencies ``eff_s_``/``eff_b_`` use
        all training events.
    working_point : float, default 0.5
        Target efficiency used by :meth:`predict` (the nearest target).
    random_state : int or None
        Seed of the subsample and the GA.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        Labels; ``classes_[1]`` is signal.
    targets_ : ndarray of shape (n_targets,)
        Sorted target efficiencies.
    lower_, upper_ : ndarray of shape (n_targets, n_features)
        Window edges (``-inf``/``+inf`` where there is no cut).
    eff_s_, eff_b_ : ndarray of shape (n_targets,)
        Weighted signal/background efficiency of each window on the training events.
    n_features_in_ : int
        Number of features.
    """

    def __init__(
        self,
        target_efficiencies: Sequence[float] | None = None,
        pop_size: int = 30,
        n_generations: int = 30,
        penalty: float = 100.0,
        max_events: int | None = 10000,
        working_point: float = 0.5,
        random_state: int | None = None,
    ) -> None:
        self.target_efficiencies = target_efficiencies
        self.pop_size = pop_size
        self.n_generations = n_generations
        self.penalty = penalty
        self.max_events = max_events
        self.working_point = working_point
        self.random_state = random_state

    def _targets(self) -> np.ndarray:
        t = np.asarray(
            DEFAULT_TARGET_EFFICIENCIES if self.target_efficiencies is None
            else self.target_efficiencies,
            dtype=np.float64,
        ).ravel()
        if t.size == 0 or not np.all((t > 0) & (t <= 1)):
            raise ValueError(
                f"target_efficiencies must be values in (0, 1], got {self.target_efficiencies!r}"
            )
        return np.unique(t)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        """Optimise one nested window per target efficiency with the GA.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        y : array-like of shape (n_samples,)
            Two classes; ``classes_[1]`` (the larger label) is signal.
        sample_weight : array-like of shape (n_samples,), optional
            Event weights (negative allowed; each class must have a positive sum).

        Returns
        -------
        self : CutsGAClassifier
            The fitted classifier.
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        target_type(y)  # scikit-learn's check_classification_targets
        self.classes_ = np.unique(y)
        if self.classes_.size != 2:
            raise ValueError(
                f"CutsGAClassifier needs exactly 2 classes in y, got {self.classes_.size}"
            )
        w = check_sample_weight(sample_weight, X, dtype=np.float64)
        signal = y == self.classes_[1]
        for name, mask in (("signal", signal), ("background", ~signal)):
            if not w[mask].sum() > 0:
                raise ValueError(f"sample_weight of the {name} class must have a positive sum")
        for name, value in (("pop_size", self.pop_size), ("n_generations", self.n_generations)):
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value!r}")
        if not self.penalty > 0:
            raise ValueError(f"penalty must be > 0, got {self.penalty!r}")
        targets = self._targets()
        rng = np.random.default_rng(self.random_state)

        # optimisation subsample (keeps class balance on average)
        idx = subsample_index(X.shape[0], self.max_events, rng)
        Xo, so, wo = X[idx], signal[idx], w[idx]
        if not (wo[so].sum() > 0 and wo[~so].sum() > 0):
            Xo, so, wo = X, signal, w
        n_features = X.shape[1]
        # Quantile grid of every feature; gene u -> grid index, so "x >= grid[i]" is the
        # integer test "rank_right(x) > i" (and "x <= grid[i]" is "rank_left(x) <= i"):
        # the GA compares small integers, and the exported cut values are grid values.
        m = 1001
        grid = np.quantile(Xo, np.linspace(0.0, 1.0, m), axis=0)  # (m, n_features)
        r_lo = np.empty((n_features, Xo.shape[0]), dtype=np.int16)
        r_hi = np.empty((n_features, Xo.shape[0]), dtype=np.int16)
        for j in range(n_features):
            r_lo[j] = np.searchsorted(grid[:, j], Xo[:, j], side="right")
            r_hi[j] = np.searchsorted(grid[:, j], Xo[:, j], side="left")
        w_s = (np.where(so, wo, 0.0) / wo[so].sum()).astype(np.float32)
        w_b = (np.where(so, 0.0, wo) / wo[~so].sum()).astype(np.float32)

        def indices(u_lo: np.ndarray, u_hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """Grid indices of the edges: -1 = no lower cut, m = no upper cut."""
            i_lo = np.clip(np.floor(u_lo * (m + 1)) - 1, -1, m - 1).astype(np.int16)
            i_hi = np.clip(m - np.floor((1.0 - u_hi) * (m + 1)), -1, m).astype(np.int16)
            return i_lo, i_hi

        def values(i_lo: np.ndarray, i_hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            cols = np.arange(n_features)
            lo = np.where(i_lo >= 0, grid[np.clip(i_lo, 0, m - 1), cols], -np.inf)
            hi = np.where(i_hi <= m - 1, grid[np.clip(i_hi, 0, m - 1), cols], np.inf)
            return lo, hi

        # Loosest target first: its window is free (seeded at "no cut"); every tighter target
        # then only shrinks the previous window, edge by edge, so the windows are nested.
        u_lo_prev = np.zeros(n_features)
        u_hi_prev = np.ones(n_features)
        lower = np.empty((targets.size, n_features))
        upper = np.empty((targets.size, n_features))
        for k in range(targets.size - 1, -1, -1):
            t = float(targets[k])
            first = k == targets.size - 1

            def genes_to_quantiles(G: np.ndarray, first: bool = first, lo0=u_lo_prev, hi0=u_hi_prev):
                if first:  # lower-edge genes as they are, upper-edge genes counted from the top
                    return G[:, :n_features], 1.0 - G[:, n_features:]
                # move each edge of the previous window inwards by a fraction of its width
                width = hi0 - lo0
                return lo0 + width * G[:, :n_features], hi0 - width * G[:, n_features:]

            best: dict[str, Any] = {"eff_b": np.inf}

            def fitness(G: np.ndarray, t: float = t, best: dict = best,
                        to_q=genes_to_quantiles) -> np.ndarray:
                u_lo, u_hi = to_q(G)
                i_lo, i_hi = indices(u_lo, u_hi)
                passed = np.ones((G.shape[0], Xo.shape[0]), dtype=bool)
                for j in range(n_features):
                    passed &= r_lo[j][None, :] > i_lo[:, j, None]
                    passed &= r_hi[j][None, :] <= i_hi[:, j, None]
                passed = passed.astype(np.float32)
                eff_s = (passed @ w_s).astype(np.float64)
                eff_b = (passed @ w_b).astype(np.float64)
                ok = eff_s >= t
                if ok.any():  # archive: best feasible window ever evaluated for this target
                    i = int(np.argmin(np.where(ok, eff_b, np.inf)))
                    if eff_b[i] < best["eff_b"]:
                        best.update(eff_b=float(eff_b[i]), u_lo=u_lo[i].copy(), u_hi=u_hi[i].copy())
                return eff_b + self.penalty * np.maximum(0.0, t - eff_s)

            # genes 0 = "keep the previous edge" (first: no cut), a feasible seed; the first
            # population is concentrated near it (small moves of the edges)
            n_genes = 2 * n_features
            population = np.abs(rng.normal(0.0, 0.1, size=(int(self.pop_size), n_genes)))
            population[0] = 0.0
            res = minimize(
                fitness, np.zeros(n_genes), method="ga", bounds=[(0.0, 1.0)] * n_genes,
                random_state=rng, maxiter=int(self.n_generations) * (3 if first else 1),
                pop_size=int(self.pop_size), initial_population=np.clip(population, 0.0, 1.0),
                vectorized=True, log_every=10**9,
                mutation_scale=0.1, mutation_scale_final=1e-3, mutation_prob=0.3,
            )
            if "u_lo" not in best:  # cannot happen: the seed keeps the previous window
                raise RuntimeError(f"no window reached the target efficiency {t}")
            u_lo_prev, u_hi_prev = best["u_lo"], best["u_hi"]
            lower[k], upper[k] = values(*indices(u_lo_prev, u_hi_prev))
            logger.info(
                "CutsGA target eff_S %.3f: eff_B %.4g (GA best fitness %.4g, %d evaluations)",
                t, best["eff_b"], res.fun, res.nfev,
            )
        self.targets_ = targets
        self.lower_ = lower
        self.upper_ = upper
        self.eff_s_, self.eff_b_ = window_efficiencies(X, signal, w, lower, upper)
        return self

    # -- scoring ---------------------------------------------------------------------------
    def passes(self, X: Any) -> np.ndarray:
        """Which windows every event passes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Events.

        Returns
        -------
        ndarray of shape (n_samples, n_targets) of bool
            Column ``k``: the event passes the window of ``targets_[k]``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return _pass_matrix(X, self.lower_, self.upper_).T.astype(bool)

    def decision_function(self, X: Any) -> np.ndarray:
        """Score ``1 - t*`` with ``t*`` the tightest target whose window the event passes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Events.

        Returns
        -------
        ndarray of shape (n_samples,)
            In ``[0, 1)``; 0 for events outside every window.  Thresholding at
            ``1 - targets_[k]`` selects exactly window ``k`` (the windows are nested).
        """
        P = self.passes(X)
        any_pass = P.any(axis=1)
        first = np.argmax(P, axis=1)
        return np.where(any_pass, 1.0 - self.targets_[first], 0.0)

    def predict(self, X: Any) -> np.ndarray:
        """Signal (``classes_[1]``) inside the window of the target nearest ``working_point``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Events.

        Returns
        -------
        ndarray of shape (n_samples,)
            Predicted labels.
        """
        P = self.passes(X)
        k = int(np.argmin(np.abs(self.targets_ - float(self.working_point))))
        return self.classes_[P[:, k].astype(np.intp)]

    # -- readable output ------------------------------------------------------------------
    def _feature_names(self) -> list[str]:
        if hasattr(self, "feature_names_in_"):
            return [str(f) for f in self.feature_names_in_]
        return [f"x{j}" for j in range(self.n_features_in_)]

    def cuts_table(
        self,
        feature_names: Sequence[str] | None = None,
        *,
        offset: np.ndarray | None = None,
        scale: np.ndarray | None = None,
    ) -> list[dict[str, Any]]:
        """The chosen cuts, one record per target efficiency (JSON-able).

        Parameters
        ----------
        feature_names : sequence of str, optional
            Names for the features (default: ``feature_names_in_`` or ``x0, x1, ...``).
        offset, scale : ndarray of shape (n_features,), optional
            If the classifier was trained on ``(x - offset) / scale`` (a preprocessing scaler,
            ``scale > 0``), the cuts are reported in the original units ``offset + scale * cut``.

        Returns
        -------
        list of dict
            ``{"target_efficiency", "signal_efficiency", "background_efficiency",
            "cuts": {feature: {"min": float | None, "max": float | None}}}`` with None for
            "no cut"; features without any cut are omitted.
        """
        check_is_fitted(self)
        names = list(feature_names) if feature_names is not None else self._feature_names()
        if len(names) != self.n_features_in_:
            raise ValueError(f"feature_names has {len(names)} names for {self.n_features_in_} features")
        lower, upper = self.lower_, self.upper_
        if offset is not None or scale is not None:
            a = np.zeros(self.n_features_in_) if offset is None else np.asarray(offset, float)
            b = np.ones(self.n_features_in_) if scale is None else np.asarray(scale, float)
            if a.shape != (self.n_features_in_,) or b.shape != (self.n_features_in_,):
                raise ValueError(f"offset and scale must have shape ({self.n_features_in_},)")
            if not np.all(b > 0):
                raise ValueError("scale must be > 0 for every feature (cuts keep their direction)")
            lower, upper = a + b * lower, a + b * upper
        table = []
        for k, t in enumerate(self.targets_):
            cuts = {}
            for j, name in enumerate(names):
                lo, hi = lower[k, j], upper[k, j]
                if np.isfinite(lo) or np.isfinite(hi):
                    cuts[name] = {"min": float(lo) if np.isfinite(lo) else None,
                                  "max": float(hi) if np.isfinite(hi) else None}
            table.append({
                "target_efficiency": float(t),
                "signal_efficiency": float(self.eff_s_[k]),
                "background_efficiency": float(self.eff_b_[k]),
                "cuts": cuts,
            })
        return table

    def to_json(self, feature_names: Sequence[str] | None = None, **units: Any) -> str:
        """:meth:`cuts_table` as an indented JSON string (``units``: ``offset``, ``scale``)."""
        return json.dumps(self.cuts_table(feature_names, **units), indent=2)

    def to_text(self, feature_names: Sequence[str] | None = None, **units: Any) -> str:
        """Human-readable table of the cuts (one block per target efficiency).

        Parameters
        ----------
        feature_names : sequence of str, optional
            Names for the features.
        **units
            ``offset``, ``scale`` as in :meth:`cuts_table`.

        Returns
        -------
        str
            For example ``target 0.50: eps_S = 0.503, eps_B = 0.0612`` followed by lines like
            ``  -0.83 <= mjj <= 1.2``.
        """
        lines = ["# Rectangular cuts optimised by the genetic algorithm (CutsGA)",
                 "# windows are nested: each contains the tighter ones; efficiencies are weighted"]
        for row in self.cuts_table(feature_names, **units):
            lines.append(
                f"target {row['target_efficiency']:.3f}: eps_S = {row['signal_efficiency']:.4f},"
                f" eps_B = {row['background_efficiency']:.4g}"
            )
            if not row["cuts"]:
                lines.append("  (no cut)")
            for name, c in row["cuts"].items():
                lo = "" if c["min"] is None else f"{c['min']:.6g} <= "
                hi = "" if c["max"] is None else f" <= {c['max']:.6g}"
                lines.append(f"  {lo}{name}{hi}")
        return "\n".join(lines) + "\n"

    def write_cuts(
        self,
        directory: str | Path,
        feature_names: Sequence[str] | None = None,
        **units: Any,
    ) -> list[Path]:
        """Write ``cuts.txt`` and ``cuts.json`` (readable cuts) into ``directory``.

        Parameters
        ----------
        directory : path
            Existing or new directory (a model directory of the pipeline).
        feature_names : sequence of str, optional
            Names for the features.
        **units
            ``offset``, ``scale`` of the preprocessing, to write the cuts in original units.

        Returns
        -------
        list of Path
            The two files written.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        text, js = directory / "cuts.txt", directory / "cuts.json"
        text.write_text(self.to_text(feature_names, **units))
        js.write_text(self.to_json(feature_names, **units) + "\n")
        return [text, js]

    # -- persistence ------------------------------------------------------------------------
    def export_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """Return ``(meta, arrays)`` for the no-pickle model files.

        Returns
        -------
        meta : dict
            Class name, constructor parameters, feature names and the readable cuts table.
        arrays : dict of str to ndarray
            ``targets``, ``lower``, ``upper`` (with +-inf), ``eff_s``, ``eff_b``, ``classes``.
        """
        check_is_fitted(self)
        params = self.get_params()
        if params["target_efficiencies"] is not None:
            params["target_efficiencies"] = [float(t) for t in params["target_efficiencies"]]
        meta = {"class": "CutsGAClassifier", "params": params,
                "n_features_in": int(self.n_features_in_), "cuts": self.cuts_table()}
        if hasattr(self, "feature_names_in_"):
            meta["feature_names_in"] = [str(f) for f in self.feature_names_in_]
        classes = self.classes_.astype(str) if self.classes_.dtype == object else self.classes_
        arrays = {"targets": self.targets_, "lower": self.lower_, "upper": self.upper_,
                  "eff_s": self.eff_s_, "eff_b": self.eff_b_, "classes": np.asarray(classes)}
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> Self:
        """Rebuild a fitted classifier from :meth:`export_state` output.

        Parameters
        ----------
        meta : dict
            As written by :meth:`export_state`.
        arrays : dict of str to ndarray
            As written by :meth:`export_state`.

        Returns
        -------
        CutsGAClassifier
            Fitted classifier with identical outputs.
        """
        for key in ("targets", "lower", "upper", "eff_s", "eff_b", "classes"):
            if key not in arrays:
                raise ValueError(f"CutsGAClassifier state is missing array {key!r}")
        est = cls(**meta.get("params", {}))
        est.targets_ = np.asarray(arrays["targets"], dtype=np.float64)
        est.lower_ = np.asarray(arrays["lower"], dtype=np.float64)
        est.upper_ = np.asarray(arrays["upper"], dtype=np.float64)
        est.eff_s_ = np.asarray(arrays["eff_s"], dtype=np.float64)
        est.eff_b_ = np.asarray(arrays["eff_b"], dtype=np.float64)
        est.classes_ = np.asarray(arrays["classes"])
        est.n_features_in_ = int(meta.get("n_features_in", est.lower_.shape[1]))
        if "feature_names_in" in meta:
            est.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
        return est
