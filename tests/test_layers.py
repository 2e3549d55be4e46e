"""The layer rule of DESIGN.md, read from the source: nothing imports upward, nothing imports the stages.

    foundations < data model < learners < evaluation < stages < entry points

Every module of ``src/hepmva`` has a layer below (a new module must be given one); a module may import
its own layer and the layers below, never above; nothing in the package imports ``hepmva.stages`` (the
entry points aside), and one stage never imports another. Imports sit at module level: the only
function-level imports allowed are of the heavy optional libraries in ``LAZY`` (kept off the import
path of the modules that rarely need them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hepmva"

#: module (or package prefix, ending in ".") -> layer
LAYER_OF = {
    # foundations
    "hepmva": 0, "hepmva.errors": 0, "hepmva.logs": 0, "hepmva.io": 0, "hepmva.checks": 0,
    "hepmva.jit": 0,
    # data model
    "hepmva.config": 1, "hepmva.features": 1, "hepmva.samples": 1, "hepmva.generate": 1,
    "hepmva.preprocessing": 1, "hepmva.datasets": 1, "hepmva.feature_table": 1, "hepmva.score_parts": 1,
    "hepmva.training_set": 1,
    # learners
    "hepmva.estimator": 2, "hepmva.nn.": 2, "hepmva.optim.": 2, "hepmva.linear": 2, "hepmva.cuts": 2, "hepmva.peers": 2,
    "hepmva.models": 2, "hepmva.out_of_core": 2, "hepmva.persistence": 2, "hepmva.unsupervised.": 2, "hepmva.bundle": 2,
    # evaluation
    "hepmva.metrics": 3, "hepmva.kolmogorov": 3, "hepmva.binned_metrics": 3, "hepmva.learning_curves": 3, "hepmva.histograms": 3,
    "hepmva.plotting.": 3, "hepmva.studies.": 3,
    # stages
    "hepmva.stages.": 4,
    # entry points (command line)
    "hepmva.cli": 5, "hepmva.__main__": 5,
}
NAMES = ("foundations", "data model", "learners", "evaluation", "stages", "entry points")
STAGES = 4
#: heavy optional libraries that may be imported inside a function (lazily)
LAZY = ("matplotlib", "skops", "xgboost", "scipy.stats", "pyarrow",
        "scipy.special",  # only for a KS p-value of n > 100 000 events at a large distance (hepmva.kolmogorov)
        "joblib",      # only where a scikit-learn ensemble trains with progress lines (hepmva.models)
        "jsonschema",  # only where a config is validated, not where its defaults are read
        "vector",   # only when an expression computes the mass / pt / eta / phi of several objects
        "fsspec",   # only for remote (root://) inputs
        "numba",    # only when a compiled kernel is first used (hepmva.jit)
        "awkward", "uproot")  # only where ROOT files are read or written (hepmva.io): not by the parquet readers
#: function-level imports of a library allowed in one module only, exactly: module -> libraries. The in-house
#: estimators' base imports scikit-learn inside the methods only scikit-learn's tools call (tags), in ``score``
#: and where an input leaves its fast path (scikit-learn's own validation and errors), never at import.
LAZY_IN_MODULE = {"hepmva.estimator": ("sklearn",)}
#: function-level imports of hepmva modules allowed, exactly: (module, imported name). The config module is
#: imported by every job for its defaults; what only validating a config needs (the expression compiler, awkward;
#: the generator's processes, scipy) is imported when a config is checked, not by a train job.
LAZY_INTERNAL = {
    ("hepmva.config", "hepmva.features.compile_expression"),
    ("hepmva.config", "hepmva.features.make_definitions"),
    ("hepmva.config", "hepmva.generate.PROCESSES"),
    # scikit-learn's clustering and density models, imported by the two rules that fit them, not by PCA / LDA
    ("hepmva.stages.unsupervised", "hepmva.unsupervised.clustering.run_clustering"),
    ("hepmva.stages.unsupervised", "hepmva.studies.anomaly.run_anomaly"),
    # matplotlib, for the templates' and the sculpting plots, not for the per-part apply jobs
    ("hepmva.stages.apply", "hepmva.plotting.apply.plot_stack"),
    ("hepmva.stages.apply", "hepmva.plotting.apply.plot_spectator_sculpting"),
    # matplotlib and mplhep (0.5-0.8 s of a start) for the jobs that draw, not for the summaries (the run's last
    # jobs, alone on a core) nor the limit curve
    *(("hepmva.stages.evaluate", f"hepmva.plotting.{name}") for name in (
        "inputs.plot_distribution", "roc.plot_roc", "style.PlotLabel", "evaluation.plot_learning_curve",
        "evaluation.plot_importance")),
    *(("hepmva.studies.scores", f"hepmva.plotting.evaluation.{name}") for name in ("plot_overtraining",
                                                                                   "plot_cut_scan")),
    *(("hepmva.stages.unsupervised", f"hepmva.plotting.unsupervised.plot_{name}") for name in (
        "cluster_yields", "clusters_pca", "components_sb", "loadings", "projection_sb", "scree", "anomaly_scores",
        "anomaly_roc")),
}


def _lazy_ok(imported: str, module: str) -> bool:
    return any(imported == lib or imported.startswith(lib + ".") for lib in LAZY + LAZY_IN_MODULE.get(module, ()))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int | None:
    if module in LAYER_OF:
        return LAYER_OF[module]
    for prefix, layer in LAYER_OF.items():
        if prefix.endswith(".") and (module + ".").startswith(prefix):
            return layer
    return None


def _imports(path: Path):
    """(imported module, line, at module level?) for every import of ``path``; hepmva names resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top_level = {id(sub) for node in tree.body for sub in _walk_outside_defs(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if base == "hepmva":
                for alias in node.names:  # from hepmva import io -> hepmva.io
                    yield f"hepmva.{alias.name}", node.lineno, id(node) in top_level
            else:  # from scipy import stats -> scipy.stats (what LAZY names)
                for alias in node.names:
                    yield f"{base}.{alias.name}", node.lineno, id(node) in top_level


def _walk_outside_defs(node):
    """``node`` and its descendants, not entering function or class bodies."""
    yield node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
        return
    for child in ast.iter_child_nodes(node):
        yield from _walk_outside_defs(child)


FILES = sorted(SRC.rglob("*.py"))


def test_every_module_has_a_layer():
    missing = [_module_name(p) for p in FILES if _layer(_module_name(p)) is None]
    assert not missing, f"give these modules a layer in tests/test_layers.py LAYER_OF: {missing}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: _module_name(p))
def test_imports_follow_the_layers(path):
    module = _module_name(path)
    mine = _layer(module)
    problems = []
    for imported, line, top_level in _imports(path):
        if imported.split(".")[0] != "hepmva":
            if not top_level and not _lazy_ok(imported, module):
                problems.append(f"line {line}: function-level import of {imported} (move it to the top, or "
                                f"add a heavy optional library to LAZY)")
            continue
        if not top_level and (module, imported) not in LAZY_INTERNAL:
            problems.append(f"line {line}: function-level import of {imported} (move it to the top)")
        theirs = _layer(imported)
        if theirs is None and "." in imported:  # from hepmva.x import name: the module is hepmva.x
            theirs = _layer(imported.rpartition(".")[0])
        if theirs is None:
            continue  # reported by test_every_module_has_a_layer (or not a module: a name re-exported)
        if theirs > mine:
            problems.append(f"line {line}: {NAMES[mine]} module imports {imported} ({NAMES[theirs]})")
        if theirs == STAGES and mine == STAGES and imported != "hepmva.stages" and module != "hepmva.stages":
            problems.append(f"line {line}: one stage imports another ({imported}); move the shared code down")
    assert not problems, f"{module}:\n" + "\n".join(problems)


def test_the_rule_catches_an_upward_import(tmp_path, monkeypatch):
    """The checker itself: a learner importing a stage, and a function-level import, are found."""
    fake = SRC / "models.py"
    text = "from hepmva.stages.train import train_fold\n\ndef f():\n    import json\n"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: text if self == fake else _read(self))
    found = list(_imports(fake))
    assert ("hepmva.stages.train.train_fold", 1, True) in found and ("json", 4, False) in found
    with pytest.raises(AssertionError, match="learners module imports hepmva.stages.train"):
        test_imports_follow_the_layers(fake)


_read = Path.read_text
