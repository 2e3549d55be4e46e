"""Shared test fixtures: small ROOT ntuples written with uproot in tmp_path."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
# with the htcondor extra installed (.ci/run installs it last), its bindings warn on import when the machine has
# no HTCondor configuration, i.e. in every snakemake run of the tests (Snakemake loads every executor plugin):
# two lines on the terminal that the one-line-error tests would count
os.environ.setdefault("CONDOR_CONFIG", "/dev/null")

from pathlib import Path  # noqa: E402

import awkward as ak  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import uproot  # noqa: E402

from hepmva.io import write_ttree  # noqa: E402


def write_ntuple(path: Path, n: int = 500, *, seed: int = 0, signal: bool = False, tree: str = "Events",
                 first_id: int = 0, runs: bool = True, negative_fraction: float = 0.0, jet_scale: float = 1.0) -> Path:
    """Write a small ntuple: jagged jets (some events with none), scalar met, uint64 event id, genWeight.

    Signal events have harder jets and more MET, so a classifier has something to learn. ``jet_scale``
    multiplies every jet pT (the same events otherwise: a jet-energy-scale variation).
    """
    rng = np.random.default_rng(seed)
    njet = rng.poisson(3.0 if signal else 1.5, n)
    total = int(njet.sum())
    scale = 60.0 if signal else 35.0
    jet_pt = np.sort(rng.exponential(scale, total) + 25.0) * jet_scale
    jets = ak.zip({
        "pt": ak.unflatten(rng.permutation(jet_pt).astype(np.float32), njet),
        "eta": ak.unflatten(rng.normal(0, 1.5, total).astype(np.float32), njet),
        "phi": ak.unflatten(rng.uniform(-np.pi, np.pi, total).astype(np.float32), njet),
    })
    jets = jets[ak.argsort(jets.pt, ascending=False)]
    gen_weight = np.ones(n, dtype=np.float32)
    gen_weight[rng.random(n) < negative_fraction] = -1.0
    data = {
        "jet": jets,
        "met": rng.exponential(50.0 if signal else 30.0, n).astype(np.float32),
        "event": np.arange(first_id, first_id + n, dtype=np.uint64),
        "genWeight": gen_weight,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with uproot.recreate(path) as f:
        write_ttree(f, tree, data)
        if runs:
            write_ttree(f, "Runs", {"genEventCount": np.array([n], dtype=np.int64),
                                    "genEventSumw": np.array([gen_weight.sum()], dtype=np.float64)})
    return path


@pytest.fixture
def ntuple_factory(tmp_path):
    """Call with a file name (and write_ntuple keywords) to get a fresh ROOT file in tmp_path."""

    def make(name: str = "sample.root", **kwargs) -> Path:
        return write_ntuple(tmp_path / name, **kwargs)

    return make


@pytest.fixture(scope="session")
def apply_study(tmp_path_factory):
    """A small trained study (two samples, xgboost + in-house MLP, two folds) and its model bundle."""
    from tests.apply_helpers import build_study

    return build_study(tmp_path_factory.mktemp("apply_study"))
