r"""Built-in toy collider-event generator with a known, exact likelihood ratio.

The default study needs no input files: this module writes signal and background ROOT ntuples
(uproot, TTree ``Events`` + NanoAOD-like TTree ``Runs``) whose probability densities are written
down below in closed form.  Every event carries the branch ``llr``, the exact log-likelihood ratio

.. math::

    \mathrm{llr}(x) = \log p_S(x) - \log p_B(x), \qquad
    p_B(x) = \sum_b \frac{\sigma_b}{\sum_{b'} \sigma_{b'}}\, p_b(x),

of the *stored* observables :math:`x` (the float32 values in the file; ``llr`` is computed from the
float32-rounded values), so ``llr`` is the Neyman-Pearson statistic of signal against the
cross-section-weighted total background.  It is the same function in every sample's file.  It is
never a feature: it is the truth the classifiers are compared with.

Processes (:data:`PROCESSES`; cross-sections are effective values after a generator-level filter)
-------------------------------------------------------------------------------------------------
``signal``  WH, H -> bb, W -> l nu (0.75 pb): mostly one lepton, two or three jets whose leading
            pair peaks at the Higgs mass in m_jj, harder MET.
``ttbar``   semi/di-leptonic top pairs (95 pb): many jets, a W -> jj mass peak in some events.
``wjets``   W + jets, NLO-like (310 pb): one lepton, few soft jets; 8 % of its events carry a
            negative generator weight.

Observables of one event
------------------------
``nlep``, ``lep_pt``, ``lep_eta``, ``lep_phi``  leptons, pT-ordered (descending), 0..3 per event
``njet``, ``jet_pt``, ``jet_eta``, ``jet_phi``  jets, pT-ordered (descending), 0..10 per event
``met``, ``met_phi``                            missing transverse momentum
``event`` (uint64, unique per sample), ``genWeight`` (float32), ``llr`` (float64)

Density of a process p (each factor is normalised; GeV and radians)
-------------------------------------------------------------------
``p(x) = P(nlep) * p(leptons | nlep) * P(njet) * p(jets | njet) * p(met) * p(met_phi)``

* ``P(nlep)``: categorical over {0, 1, 2, 3} (``ProcessParams.nlep_probs``).
* leptons, if nlep >= 1: leading ``pt1 - 20 ~ Gamma(lep_pt_shape, lep_pt_scale)``,
  ``eta1 ~ Normal(0, lep_eta_sigma)``.  Further leptons (process independent):
  ``u_i = (pt_i - 20) / (pt1 - 20)`` iid ``Beta(1, 2)`` then sorted descending (density
  ``(nlep-1)! * prod_i 2 (1 - u_i) / (pt1 - 20)``), ``eta_i ~ Normal(0, 1.2)``.  Every lepton
  ``phi ~ Uniform(-pi, pi)``.
* ``P(njet)``: Poisson(``njet_mean``) truncated to {0, ..., 10}.
* jets, if njet >= 1: leading ``pt1 - 25 ~ Gamma(jet_pt_shape, jet_pt_scale)``,
  ``eta1 ~ Normal(0, 1.6)``, ``phi1 ~ Uniform(-pi, pi)``.
* if njet >= 2, the second jet relative to the first:
  ``r = (pt2 - 25) / (pt1 - 25) ~ Beta(jet_r_a, jet_r_b)`` (Jacobian ``1 / (pt1 - 25)``),
  ``dphi = wrap(phi2 - phi1) ~ VonMises(pi, dphi_kappa)`` (back to back for large kappa),
  ``deta = eta2 - eta1`` from the mixture

  - with weight ``1 - res_fraction``: ``Normal(0, deta_sigma)``;
  - with weight ``res_fraction`` ("resonant"): the massless dijet mass
    ``m_jj^2 = 2 pt1 pt2 (cosh(deta) - cos(dphi))`` is ``Normal(res_mass, res_width)`` truncated to
    ``m_jj >= m_min = sqrt(2 pt1 pt2 (1 - cos(dphi)))`` (the value at deta = 0), the sign of deta
    is +/- with probability 1/2, so
    ``p(deta) = 1/2 * TruncNormal(m_jj) * pt1 pt2 sinh|deta| / m_jj``.
* further jets (process independent): ``u_i = (pt_i - 25) / (pt2 - 25)`` iid ``Beta(1, 1.5)``
  sorted descending (``(njet-2)!`` factor), ``eta_i ~ Normal(0, 1.6)``, ``phi_i ~ Uniform``.
* ``met ~ Gamma(met_shape, met_scale)``, ``met_phi ~ Uniform(-pi, pi)``.

The process-independent factors cancel in ``llr``: it depends only on nlep, njet, met, the leading
lepton (pt, |eta|) and the two leading jets (pt1, pt2, |dphi|, |deta|, equivalently m_jj).  These
are the features that reach the Neyman-Pearson limit (:data:`NP_FEATURES`).  Events outside the
support (more than 3 leptons or 10 jets, objects below the pT thresholds) have ``llr = nan``.

Generator weights: events are drawn from the process density; for a random fraction
``neg_weight_fraction`` of them, chosen independently of x, ``genWeight = -gen_weight`` instead of
``+gen_weight``.  The weighted density keeps the same shape, so ``llr`` stays exact;
``Runs.genEventSumw`` is the signed sum.  Event weights in a study are
``genWeight * xsec_pb * lumi / genEventSumw``.

Determinism: events are generated in blocks of :data:`BLOCK_SIZE`, block ``k`` of ``process``
drawing from ``np.random.SeedSequence(seed, spawn_key=(crc32(process), k))``, so the file content
depends only on (process, n_events, seed), not on ``step_size``.
"""

from __future__ import annotations

import logging
import math
import os
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from hepmva import io

# scipy.special and uproot are imported by the functions that compute or write: a config check reads
# PROCESSES only, before any job (the Snakefile's start, which nothing runs beside)

__all__ = [
    "BASKET_EVENTS",
    "BLOCK_SIZE",
    "EVENT_BRANCHES",
    "NP_FEATURES",
    "PROCESSES",
    "ProcessInfo",
    "ProcessParams",
    "RUNS_BRANCHES",
    "background_mixture",
    "generate_events",
    "log_density",
    "log_likelihood_ratio",
    "write_sample",
]

logger = logging.getLogger(__name__)

#: Events per independently seeded generation block.
BLOCK_SIZE = 65_536

LEP_PT_MIN = 20.0
JET_PT_MIN = 25.0
NLEP_MAX = 3
NJET_MAX = 10
LEP_ETA_SIGMA_OTHER = 1.2
JET_ETA_SIGMA = 1.6
LEP_U_BETA = 2.0  # further leptons: u ~ Beta(1, LEP_U_BETA)
JET_U_BETA = 1.5  # further jets: u ~ Beta(1, JET_U_BETA)
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class ProcessParams:
    """Parameters of one process density (see the module docstring for their meaning)."""

    nlep_probs: tuple[float, float, float, float]
    lep_pt_shape: float
    lep_pt_scale: float
    lep_eta_sigma: float
    njet_mean: float
    jet_pt_shape: float
    jet_pt_scale: float
    jet_r_a: float
    jet_r_b: float
    dphi_kappa: float
    deta_sigma: float
    res_fraction: float
    res_mass: float
    res_width: float
    met_shape: float
    met_scale: float


@dataclass(frozen=True)
class ProcessInfo:
    """A generated process.

    Attributes
    ----------
    label : {"signal", "background"}
    xsec_pb : float
        Effective cross-section in pb (written to ``Runs.xsec_pb``).
    neg_weight_fraction : float
        Fraction of events with a negative generator weight (independent of the kinematics).
    gen_weight : float
        Magnitude of the generator weight.
    title : str
        Human-readable description.
    params : ProcessParams
        Parameters of the density.
    """

    label: str
    xsec_pb: float
    neg_weight_fraction: float
    gen_weight: float
    title: str
    params: ProcessParams


PROCESSES: dict[str, ProcessInfo] = {
    "signal": ProcessInfo(
        label="signal",
        xsec_pb=0.75,
        neg_weight_fraction=0.0,
        gen_weight=1.0,
        title="WH, H->bb, W->lnu",
        params=ProcessParams(
            nlep_probs=(0.08, 0.82, 0.08, 0.02),
            lep_pt_shape=2.2,
            lep_pt_scale=28.0,
            lep_eta_sigma=1.0,
            njet_mean=2.4,
            jet_pt_shape=2.5,
            jet_pt_scale=28.0,
            jet_r_a=2.0,
            jet_r_b=1.6,
            dphi_kappa=0.2,
            deta_sigma=1.5,
            res_fraction=0.8,
            res_mass=125.0,
            res_width=11.0,
            met_shape=3.0,
            met_scale=30.0,
        ),
    ),
    "ttbar": ProcessInfo(
        label="background",
        xsec_pb=95.0,
        neg_weight_fraction=0.0,
        gen_weight=1.0,
        title="ttbar, semi- and di-leptonic",
        params=ProcessParams(
            nlep_probs=(0.25, 0.52, 0.20, 0.03),
            lep_pt_shape=1.8,
            lep_pt_scale=26.0,
            lep_eta_sigma=1.1,
            njet_mean=4.0,
            jet_pt_shape=2.5,
            jet_pt_scale=34.0,
            jet_r_a=2.0,
            jet_r_b=1.5,
            dphi_kappa=0.6,
            deta_sigma=1.6,
            res_fraction=0.25,
            res_mass=80.4,
            res_width=10.0,
            met_shape=2.3,
            met_scale=27.0,
        ),
    ),
    "wjets": ProcessInfo(
        label="background",
        xsec_pb=310.0,
        neg_weight_fraction=0.08,
        gen_weight=1.0,
        title="W+jets, NLO-like (negative weights)",
        params=ProcessParams(
            nlep_probs=(0.06, 0.91, 0.025, 0.005),
            lep_pt_shape=1.5,
            lep_pt_scale=25.0,
            lep_eta_sigma=1.3,
            njet_mean=1.3,
            jet_pt_shape=1.5,
            jet_pt_scale=30.0,
            jet_r_a=1.5,
            jet_r_b=2.0,
            dphi_kappa=1.5,
            deta_sigma=1.8,
            res_fraction=0.0,
            res_mass=0.0,
            res_width=1.0,
            met_shape=2.0,
            met_scale=22.0,
        ),
    ),
}

#: Branches of the ``Events`` tree (counters ``nlep``/``njet`` are written by uproot).
EVENT_BRANCHES: tuple[str, ...] = (
    "nlep",
    "lep_pt",
    "lep_eta",
    "lep_phi",
    "njet",
    "jet_pt",
    "jet_eta",
    "jet_phi",
    "met",
    "met_phi",
    "event",
    "genWeight",
    "llr",
)
#: Branches of the ``Runs`` tree (one entry).
RUNS_BRANCHES: tuple[str, ...] = ("genEventCount", "genEventSumw", "xsec_pb")

#: Features (name -> (expression in the :mod:`hepmva.features` language, default for missing
#: objects)) on which ``llr`` depends; xgboost on these reaches the Neyman-Pearson limit.
NP_FEATURES: dict[str, tuple[str, float | None]] = {
    "nlep": ("nlep", None),
    "njet": ("njet", None),
    "met": ("met", None),
    "lep_pt0": ("lep_pt[0]", -1.0),
    "lep_eta0": ("lep_eta[0]", -9.0),
    "jet_pt0": ("jet_pt[0]", -1.0),
    "jet_pt1": ("jet_pt[1]", -1.0),
    "jet_eta0": ("jet_eta[0]", -9.0),
    "jet_eta1": ("jet_eta[1]", -9.0),
    "m_jj": ("inv_mass(jet_pt, jet_eta, jet_phi)", -1.0),
    "dphi_jj": ("abs(delta_phi(jet_phi[1], jet_phi[0]))", -1.0),
    "deta_jj": ("abs(jet_eta[1] - jet_eta[0])", -1.0),
}


def _check_process(process: str) -> ProcessInfo:
    if process not in PROCESSES:
        raise ValueError(f"unknown process {process!r}; known: {', '.join(PROCESSES)}")
    return PROCESSES[process]


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_first_event(first_event: Any, n_events: int) -> int:
    if (
        isinstance(first_event, bool)
        or not isinstance(first_event, (int, np.integer))
        or not 0 <= first_event <= 2**64 - n_events
    ):
        raise ValueError(
            f"first_event must be an integer in [0, 2**64 - n_events], got {first_event!r}"
        )
    return int(first_event)


def _check_n_events(n_events: Any) -> int:
    if isinstance(n_events, bool) or not isinstance(n_events, (int, np.integer)) or n_events < 1:
        raise ValueError(f"n_events must be a positive integer, got {n_events!r}")
    return int(n_events)


def background_mixture() -> dict[str, float]:
    """Mixture fractions ``sigma_b / sum sigma`` of the background processes in ``p_B``."""
    total = sum(info.xsec_pb for info in PROCESSES.values() if info.label == "background")
    return {
        name: info.xsec_pb / total for name, info in PROCESSES.items() if info.label == "background"
    }


def _njet_log_probs(mean: float) -> np.ndarray:
    from scipy.special import gammaln
    n = np.arange(NJET_MAX + 1)
    logp = n * math.log(mean) - mean - gammaln(n + 1.0)
    return logp - np.logaddexp.reduce(logp)


def _wrap(phi: np.ndarray) -> np.ndarray:
    """Wrap angles into [-pi, pi)."""
    return (phi + np.pi) % (2.0 * np.pi) - np.pi


# --------------------------------------------------------------------------------------------
# generation
# --------------------------------------------------------------------------------------------


def _categorical(rng: np.random.Generator, probs: np.ndarray, n: int) -> np.ndarray:
    cdf = np.cumsum(probs)
    cdf /= cdf[-1]
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int64)


def _sorted_extra(
    rng: np.random.Generator, counts: np.ndarray, beta: float
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``counts[i]`` iid Beta(1, beta) per event, sorted descending within the event.

    Returns the flat values and their event index, both of shape (counts.sum(),).
    """
    idx = np.repeat(np.arange(counts.size), counts)
    u = 1.0 - rng.random(idx.size) ** (1.0 / beta)
    order = np.lexsort((-u, idx))
    return u[order], idx


def _assemble(
    counts: np.ndarray, lead: np.ndarray, second: np.ndarray | None, extra: np.ndarray
) -> np.ndarray:
    """Flat per-object array from leading, second (or None) and further objects' values."""
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    out = np.empty(total, dtype=np.float64)
    has1 = counts >= 1
    out[starts[has1]] = lead[has1]
    first_extra = 1
    if second is not None:
        has2 = counts >= 2
        out[starts[has2] + 1] = second[has2]
        first_extra = 2
    pos = np.arange(total) - np.repeat(starts, counts)
    out[pos >= first_extra] = extra
    return out


def _jagged(counts: np.ndarray, flat: np.ndarray) -> ak.Array:
    return ak.unflatten(flat.astype(np.float32), counts)


def _generate_block(info: ProcessInfo, n: int, rng: np.random.Generator) -> dict[str, Any]:
    from scipy.special import log_ndtr, ndtri_exp
    p = info.params
    # ---- leptons
    nlep = _categorical(rng, np.asarray(p.nlep_probs), n)
    lpt1 = LEP_PT_MIN + rng.gamma(p.lep_pt_shape, p.lep_pt_scale, n)
    leta1 = rng.normal(0.0, p.lep_eta_sigma, n)
    n_extra = np.maximum(nlep - 1, 0)
    u, idx = _sorted_extra(rng, n_extra, LEP_U_BETA)
    lpt_extra = LEP_PT_MIN + (lpt1[idx] - LEP_PT_MIN) * u
    leta_extra = rng.normal(0.0, LEP_ETA_SIGMA_OTHER, idx.size)
    lep_pt = _assemble(nlep, lpt1, None, lpt_extra)
    lep_eta = _assemble(nlep, leta1, None, leta_extra)
    lep_phi = rng.uniform(-np.pi, np.pi, lep_pt.size)

    # ---- jets
    njet = _categorical(rng, np.exp(_njet_log_probs(p.njet_mean)), n)
    q = rng.gamma(p.jet_pt_shape, p.jet_pt_scale, n)
    jpt1 = JET_PT_MIN + q
    r = rng.beta(p.jet_r_a, p.jet_r_b, n)
    jpt2 = JET_PT_MIN + q * r
    jphi1 = rng.uniform(-np.pi, np.pi, n)
    dphi = rng.vonmises(np.pi, p.dphi_kappa, n)
    jphi2 = _wrap(jphi1 + dphi)
    jeta1 = rng.normal(0.0, JET_ETA_SIGMA, n)
    deta = rng.normal(0.0, p.deta_sigma, n)
    if p.res_fraction > 0.0:
        res = rng.random(n) < p.res_fraction
        k = int(res.sum())
        ptprod = jpt1[res] * jpt2[res]
        cdphi = np.cos(dphi[res])
        m_min = np.sqrt(2.0 * ptprod * (1.0 - cdphi))
        a = (m_min - p.res_mass) / p.res_width
        v = 1.0 - rng.random(k)  # in (0, 1]
        z = -ndtri_exp(np.log(v) + log_ndtr(-a))
        m = p.res_mass + p.res_width * np.maximum(z, a)
        c = np.maximum(m * m / (2.0 * ptprod) + cdphi, 1.0)
        sign = np.where(rng.random(k) < 0.5, -1.0, 1.0)
        deta[res] = sign * np.arccosh(c)
    jeta2 = jeta1 + deta
    n_extra = np.maximum(njet - 2, 0)
    u, idx = _sorted_extra(rng, n_extra, JET_U_BETA)
    jpt_extra = JET_PT_MIN + (jpt2[idx] - JET_PT_MIN) * u
    jeta_extra = rng.normal(0.0, JET_ETA_SIGMA, idx.size)
    jet_pt = _assemble(njet, jpt1, jpt2, jpt_extra)
    jet_eta = _assemble(njet, jeta1, jeta2, jeta_extra)
    jet_phi = _assemble(njet, jphi1, jphi2, rng.uniform(-np.pi, np.pi, idx.size))

    # ---- met and weights
    met = rng.gamma(p.met_shape, p.met_scale, n)
    met_phi = rng.uniform(-np.pi, np.pi, n)
    negative = rng.random(n) < info.neg_weight_fraction
    weight = np.where(negative, -info.gen_weight, info.gen_weight)
    return {
        "lep_pt": _jagged(nlep, lep_pt),
        "lep_eta": _jagged(nlep, lep_eta),
        "lep_phi": _jagged(nlep, lep_phi),
        "jet_pt": _jagged(njet, jet_pt),
        "jet_eta": _jagged(njet, jet_eta),
        "jet_phi": _jagged(njet, jet_phi),
        "met": met.astype(np.float32),
        "met_phi": met_phi.astype(np.float32),
        "genWeight": weight.astype(np.float32),
    }


def _block_rng(process: str, seed: int, block: int) -> np.random.Generator:
    key = zlib.crc32(process.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(key, block)))


def _iter_blocks(
    process: str, n_events: int, seed: int, first_event: int = 1
) -> Iterator[dict[str, Any]]:
    info = PROCESSES[process]
    n_blocks = -(-n_events // BLOCK_SIZE)
    for k in range(n_blocks):
        start = k * BLOCK_SIZE
        n = min(BLOCK_SIZE, n_events - start)
        events = _generate_block(info, n, _block_rng(process, seed, k))
        events["event"] = np.arange(n, dtype=np.uint64) + np.uint64(first_event + start)
        events["llr"] = log_likelihood_ratio(events)
        yield events


def _concat(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    if len(chunks) == 1:
        return chunks[0]
    out: dict[str, Any] = {}
    for key, value in chunks[0].items():
        if isinstance(value, ak.Array):
            out[key] = ak.concatenate([c[key] for c in chunks])
        else:
            out[key] = np.concatenate([c[key] for c in chunks])
    return out


def generate_events(
    process: str, n_events: int, seed: int, *, first_event: int = 1
) -> dict[str, np.ndarray | ak.Array]:
    """Generate ``n_events`` events of ``process``.

    Parameters
    ----------
    process : str
        A key of :data:`PROCESSES`.
    n_events : int
        Number of events (>= 1).
    seed : int
        Seed of the ``np.random.SeedSequence``; same inputs give identical events.
    first_event : int
        Id of the first event; ids are ``first_event, first_event + 1, ...`` (give the files of
        one sample disjoint ranges to keep ids unique per sample).

    Returns
    -------
    events : dict
        ``lep_pt, lep_eta, lep_phi, jet_pt, jet_eta, jet_phi`` : ak.Array of shape
        (n_events, var) float32, pT-ordered; ``met, met_phi, genWeight`` : ndarray of shape
        (n_events,) float32; ``event`` : ndarray (n_events,) uint64 (consecutive ids);
        ``llr`` : ndarray (n_events,) float64, the exact log-likelihood ratio.
    """
    _check_process(process)
    n_events = _check_n_events(n_events)
    seed = _check_seed(seed)
    first_event = _check_first_event(first_event, n_events)
    return _concat(list(_iter_blocks(process, n_events, seed, first_event)))


# --------------------------------------------------------------------------------------------
# densities
# --------------------------------------------------------------------------------------------


@dataclass
class _Observables:
    """The stored observables that the process-dependent density factors use (float64)."""

    nlep: np.ndarray
    njet: np.ndarray
    lpt1: np.ndarray
    leta1: np.ndarray
    jpt1: np.ndarray
    jpt2: np.ndarray
    dphi: np.ndarray
    deta: np.ndarray
    met: np.ndarray
    events: Any


def _get(events: Any, name: str) -> Any:
    try:
        return events[name]
    except (KeyError, ValueError, ak.errors.FieldNotFoundError) as err:
        raise ValueError(f"events lack the branch {name!r}") from err


def _first(jagged: Any, i: int, counts: np.ndarray) -> np.ndarray:
    """Value of object ``i`` per event as float64, NaN where missing."""
    arr = ak.Array(jagged)
    flat = ak.to_numpy(ak.flatten(arr, axis=1)).astype(np.float64)
    starts = np.cumsum(counts) - counts
    out = np.full(counts.size, np.nan)
    has = counts > i
    out[has] = flat[starts[has] + i]
    return out


def _observables(events: Any) -> _Observables:
    nlep = ak.to_numpy(ak.num(_get(events, "lep_pt"), axis=1)).astype(np.int64)
    njet = ak.to_numpy(ak.num(_get(events, "jet_pt"), axis=1)).astype(np.int64)
    jphi = _get(events, "jet_phi")
    jeta = _get(events, "jet_eta")
    jpt = _get(events, "jet_pt")
    dphi = _wrap(_first(jphi, 1, njet) - _first(jphi, 0, njet))
    return _Observables(
        nlep=nlep,
        njet=njet,
        lpt1=_first(_get(events, "lep_pt"), 0, nlep),
        leta1=_first(_get(events, "lep_eta"), 0, nlep),
        jpt1=_first(jpt, 0, njet),
        jpt2=_first(jpt, 1, njet),
        dphi=dphi,
        deta=_first(jeta, 1, njet) - _first(jeta, 0, njet),
        met=np.asarray(_get(events, "met"), dtype=np.float64),
        events=events,
    )


def _log_gamma_pdf(x: np.ndarray, shape: float, scale: float) -> np.ndarray:
    from scipy.special import gammaln
    return (shape - 1.0) * np.log(x) - x / scale - gammaln(shape) - shape * math.log(scale)


def _log_normal_pdf(x: np.ndarray, sigma: float) -> np.ndarray:
    return -0.5 * (x / sigma) ** 2 - math.log(sigma) - 0.5 * _LOG_2PI


def _log_deta_density(obs: _Observables, p: ProcessParams, pair: np.ndarray) -> np.ndarray:
    """log p(deta | pt1, pt2, dphi) for events with two jets (boolean mask ``pair``)."""
    from scipy.special import log_ndtr
    deta = obs.deta[pair]
    nonres = _log_normal_pdf(deta, p.deta_sigma)
    if p.res_fraction <= 0.0:
        return nonres
    ptprod = obs.jpt1[pair] * obs.jpt2[pair]
    cdphi = np.cos(obs.dphi[pair])
    m_min = np.sqrt(2.0 * ptprod * (1.0 - cdphi))
    m = np.sqrt(2.0 * ptprod * (np.cosh(deta) - cdphi))
    z = (m - p.res_mass) / p.res_width
    res = (
        math.log(0.5)
        - 0.5 * z * z
        - 0.5 * _LOG_2PI
        - math.log(p.res_width)
        - log_ndtr((p.res_mass - m_min) / p.res_width)
        + np.log(ptprod * np.sinh(np.abs(deta)) / m)
    )
    return np.logaddexp(math.log1p(-p.res_fraction) + nonres, math.log(p.res_fraction) + res)


def _log_density_process(obs: _Observables, p: ProcessParams) -> np.ndarray:
    """Sum of the process-dependent log-density factors, shape (n_events,)."""
    from scipy.special import betaln, i0e
    out = np.log(np.asarray(p.nlep_probs))[np.minimum(obs.nlep, NLEP_MAX)]
    out = np.where(obs.nlep > NLEP_MAX, -np.inf, out)
    has_lep = obs.nlep >= 1
    out[has_lep] += _log_gamma_pdf(
        obs.lpt1[has_lep] - LEP_PT_MIN, p.lep_pt_shape, p.lep_pt_scale
    ) + _log_normal_pdf(obs.leta1[has_lep], p.lep_eta_sigma)

    out += _njet_log_probs(p.njet_mean)[np.minimum(obs.njet, NJET_MAX)]
    out[obs.njet > NJET_MAX] = -np.inf
    has_jet = obs.njet >= 1
    q = obs.jpt1[has_jet] - JET_PT_MIN
    out[has_jet] += _log_gamma_pdf(q, p.jet_pt_shape, p.jet_pt_scale)
    pair = obs.njet >= 2
    q = obs.jpt1[pair] - JET_PT_MIN
    r = (obs.jpt2[pair] - JET_PT_MIN) / q
    log_r = (
        (p.jet_r_a - 1.0) * np.log(r)
        + (p.jet_r_b - 1.0) * np.log1p(-r)
        - betaln(p.jet_r_a, p.jet_r_b)
        - np.log(q)
    )
    log_dphi = -p.dphi_kappa * np.cos(obs.dphi[pair]) - _LOG_2PI - math.log(i0e(p.dphi_kappa))
    # VonMises(pi, kappa): exp(kappa cos(dphi - pi)) / (2 pi I0(kappa)); i0e = I0 exp(-kappa)
    log_dphi -= p.dphi_kappa
    out[pair] += log_r + log_dphi + _log_deta_density(obs, p, pair)

    out += _log_gamma_pdf(obs.met, p.met_shape, p.met_scale)
    return out


def _log_density_common(obs: _Observables) -> np.ndarray:
    """Sum of the process-independent log-density factors, shape (n_events,)."""
    from scipy.special import gammaln
    events = obs.events
    n = obs.nlep.size
    out = np.zeros(n)
    # leptons: phi's, further leptons' pT (sorted Beta(1, 2) fractions) and eta
    lpt = ak.to_numpy(ak.flatten(ak.Array(_get(events, "lep_pt")), axis=1)).astype(np.float64)
    leta = ak.to_numpy(ak.flatten(ak.Array(_get(events, "lep_eta")), axis=1)).astype(np.float64)
    idx = np.repeat(np.arange(n), obs.nlep)
    pos = np.arange(idx.size) - np.repeat(np.cumsum(obs.nlep) - obs.nlep, obs.nlep)
    extra = pos >= 1
    scale = obs.lpt1[idx[extra]] - LEP_PT_MIN
    u = (lpt[extra] - LEP_PT_MIN) / scale
    term = (
        math.log(LEP_U_BETA)
        + (LEP_U_BETA - 1.0) * np.log1p(-u)
        - np.log(scale)
        + _log_normal_pdf(leta[extra], LEP_ETA_SIGMA_OTHER)
    )
    out += np.bincount(idx[extra], weights=term, minlength=n)
    out += gammaln(np.maximum(obs.nlep, 1)) - obs.nlep * _LOG_2PI  # (nlep-1)!, phi's
    # jets: phi1 and further jets' phi, pT (sorted Beta(1, 1.5) fractions relative to pt2), eta
    jpt = ak.to_numpy(ak.flatten(ak.Array(_get(events, "jet_pt")), axis=1)).astype(np.float64)
    jeta = ak.to_numpy(ak.flatten(ak.Array(_get(events, "jet_eta")), axis=1)).astype(np.float64)
    idx = np.repeat(np.arange(n), obs.njet)
    pos = np.arange(idx.size) - np.repeat(np.cumsum(obs.njet) - obs.njet, obs.njet)
    extra = pos >= 2
    scale = obs.jpt2[idx[extra]] - JET_PT_MIN
    u = (jpt[extra] - JET_PT_MIN) / scale
    term = (
        math.log(JET_U_BETA)
        + (JET_U_BETA - 1.0) * np.log1p(-u)
        - np.log(scale)
        + _log_normal_pdf(jeta[extra], JET_ETA_SIGMA)
        - _LOG_2PI
    )
    out += np.bincount(idx[extra], weights=term, minlength=n)
    out += gammaln(np.maximum(obs.njet - 1, 1))  # (njet-2)!
    has_jet = obs.njet >= 1
    jeta1 = _first(_get(events, "jet_eta"), 0, obs.njet)
    out[has_jet] += _log_normal_pdf(jeta1[has_jet], JET_ETA_SIGMA) - _LOG_2PI  # eta1, phi1
    out -= _LOG_2PI  # met_phi
    return out


def log_density(events: Any, process: str) -> np.ndarray:
    """Exact log-density of the stored observables under ``process``.

    Parameters
    ----------
    events : mapping or ak.Array of records
        Must provide ``lep_pt, lep_eta, jet_pt, jet_eta, jet_phi`` (jagged, pT-ordered) and
        ``met``.  Angles ``lep_phi``, ``met_phi`` enter only as uniform factors.
    process : str
        A key of :data:`PROCESSES`.

    Returns
    -------
    logp : ndarray of shape (n_events,)
        ``log p(x)`` with respect to the Lebesgue measure of the continuous observables times the
        counting measure of the multiplicities.
    """
    info = _check_process(process)
    obs = _observables(events)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _log_density_process(obs, info.params) + _log_density_common(obs)


def log_likelihood_ratio(events: Any) -> np.ndarray:
    """Exact ``log p_S(x) - log p_B(x)`` of the stored observables.

    ``p_B`` is the cross-section-weighted mixture of the background processes
    (:func:`background_mixture`); process-independent factors cancel and are not evaluated.

    Parameters
    ----------
    events : mapping or ak.Array of records
        Needs ``lep_pt, lep_eta, jet_pt, jet_eta, jet_phi`` (jagged, pT-ordered) and ``met``.

    Returns
    -------
    llr : ndarray of shape (n_events,), float64
    """
    obs = _observables(events)
    signal = [name for name, info in PROCESSES.items() if info.label == "signal"]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = _log_density_process(obs, PROCESSES[signal[0]].params)
        terms = [
            math.log(frac) + _log_density_process(obs, PROCESSES[name].params)
            for name, frac in background_mixture().items()
        ]
        log_b = np.logaddexp.reduce(np.stack(terms), axis=0)
    return log_s - log_b


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------


def _tree_data(events: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "lep": ak.zip(
            {"pt": events["lep_pt"], "eta": events["lep_eta"], "phi": events["lep_phi"]}
        ),
        "jet": ak.zip(
            {"pt": events["jet_pt"], "eta": events["jet_eta"], "phi": events["jet_phi"]}
        ),
        "met": events["met"],
        "met_phi": events["met_phi"],
        "event": events["event"],
        "genWeight": events["genWeight"],
        "llr": events["llr"],
    }


#: events per basket of a written file: a reader's chunk holds whole baskets, so baskets of 16k events
#: (~64 kB per float branch, ROOT's own files have ~32 kB) let a 4 MB ``reading.step_size`` bound a job's
#: memory; 262k-event baskets (the default until 2026-12) made a features job on a 1M-event file peak at
#: ~290 MiB whatever the step size (benchmarks/README.md)
BASKET_EVENTS = 16_384


def write_sample(
    path: str | os.PathLike[str],
    process: str,
    n_events: int,
    seed: int,
    tree: str = "Events",
    step_size: int = BASKET_EVENTS,
    *,
    first_event: int = 1,
) -> dict[str, Any]:
    """Generate ``n_events`` of ``process`` and write them to a ROOT file with uproot.

    The file holds the TTree ``tree`` (see :data:`EVENT_BRANCHES`) and the TTree ``Runs`` with
    one entry (``genEventCount`` int64, ``genEventSumw`` float64, ``xsec_pb`` float64).  The
    content depends only on (process, n_events, seed).

    Parameters
    ----------
    path : path-like
        Output ROOT file (overwritten; parent directories are created).
    process : str
        A key of :data:`PROCESSES`.
    n_events : int
        Number of events (>= 1).
    seed : int
        Random seed.
    tree : str
        Name of the events tree; a ``dir/name`` path creates the TDirectory.
    step_size : int
        Events per ``TTree.extend`` call (basket size; default :data:`BASKET_EVENTS`); memory is bounded by it.
        The events and ``Runs`` do not depend on it (the generation blocks are re-sliced; every process's
        weights are +-1, so their sum is exact in any order).
    first_event : int
        Id of the first event (see :func:`generate_events`).

    Returns
    -------
    metadata : dict
        ``process, label, xsec_pb, genEventCount, genEventSumw, path, tree``.
    """
    info = _check_process(process)
    import uproot

    n_events = _check_n_events(n_events)
    seed = _check_seed(seed)
    first_event = _check_first_event(first_event, n_events)
    if isinstance(step_size, bool) or not isinstance(step_size, (int, np.integer)) or step_size < 1:
        raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
    path = Path(path)
    sumw = 0.0
    written = 0
    with io.atomic_path(path) as tmp:
        with uproot.recreate(tmp) as file:
            out = None
            for chunk in _iter_chunks(process, n_events, seed, step_size, first_event):
                sumw += float(np.sum(chunk["genWeight"], dtype=np.float64))
                data = _tree_data(chunk)
                if out is None:
                    out = file.mktree(tree, {k: _branch_type(v) for k, v in data.items()})
                out.extend(data)
                written += len(chunk["event"])
                logger.info("%s: wrote %d / %d events to %s", process, written, n_events, path)
            runs = {
                "genEventCount": np.array([n_events], dtype=np.int64),
                "genEventSumw": np.array([sumw], dtype=np.float64),
                "xsec_pb": np.array([info.xsec_pb], dtype=np.float64),
            }
            file.mktree("Runs", {k: v.dtype for k, v in runs.items()}).extend(runs)
    return {
        "process": process,
        "label": info.label,
        "xsec_pb": info.xsec_pb,
        "genEventCount": n_events,
        "genEventSumw": sumw,
        "path": str(path),
        "tree": tree,
    }


def _branch_type(value: Any) -> Any:
    return value.type if isinstance(value, ak.Array) else value.dtype


def _iter_chunks(
    process: str, n_events: int, seed: int, step_size: int, first_event: int
) -> Iterator[dict[str, Any]]:
    """Re-slice the generation blocks into chunks of ``step_size`` events."""
    buffer: list[dict[str, Any]] = []
    buffered = 0
    for block in _iter_blocks(process, n_events, seed, first_event):
        buffer.append(block)
        buffered += len(block["event"])
        while buffered >= step_size:
            merged = _concat(buffer)
            yield {k: v[:step_size] for k, v in merged.items()}
            buffered -= step_size
            buffer = [{k: v[step_size:] for k, v in merged.items()}] if buffered else []
    if buffered:
        yield _concat(buffer)
