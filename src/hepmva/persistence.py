"""Model files: every save and load of a fitted estimator, without pickle and without running code.

A model directory holds ``estimator.json`` (``{"kind", "format", "hepmva", "meta"}``) and the files of
one of three formats, chosen by the classifier kind (:data:`FORMAT_OF_KIND`):

=========  =====================================  =============================================================
format     files                                  how loading stays safe
=========  =====================================  =============================================================
state      ``estimator.json`` + ``estimator.npz``  in-house estimators: ``export_state() -> (meta, arrays)``;
                                                  plain JSON and ``np.load(allow_pickle=False)``, rebuilt with
                                                  ``cls.from_state(meta, arrays)``
xgboost    ``estimator.ubj``                      xgboost's own UBJSON (data, never code); checked to be UBJSON
                                                  before xgboost parses it
skops      ``estimator.skops``                    scikit-learn estimators via :mod:`skops.io`; every node of the
                                                  file's schema is audited *before* skops builds anything: its
                                                  type must be on the kind's exact allow-list
                                                  (:data:`SKOPS_TRUSTED`) and its node kind on
                                                  :data:`SKOPS_LOADERS` (no FunctionNode, MethodNode,
                                                  PartialNode, ReduceNode, ConstructorFromReduceNode ...)
=========  =====================================  =============================================================

The allow-lists are exact type names, derived from what :func:`save_estimator` really writes for each kind
(``tests/test_persistence.py`` fits every skops kind, saves it and checks that its file's types are exactly
covered). Never prefixes, never modules: ``sklearn.utils._testing.check_output`` is ``subprocess.check_output``
under another name, and it is on no list.

Every refusal is one :class:`~hepmva.errors.ModelFileError` line naming the file. The functions here take
the estimator class from the caller (``hepmva.models`` resolves a kind to its class), so this module does not
import the registry.
"""

from __future__ import annotations

import json
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hepmva import __version__
from hepmva.errors import ModelFileError

__all__ = [
    "FORMATS",
    "FORMAT_OF_KIND",
    "SKOPS_LOADERS",
    "SKOPS_TRUSTED",
    "ModelFormat",
    "save_estimator",
    "load_estimator",
    "save_skops",
    "load_skops",
    "audit_skops",
    "skops_types",
    "read_model_info",
]

META_FILE = "estimator.json"
_NOT_OURS = "is not a model file this version of hepmva wrote"

# ------------------------------------------------------------------------------------------------------
# skops allow-lists (data: one exact set of type names per kind)
# ------------------------------------------------------------------------------------------------------
#: skops node kinds our files use. Function-like nodes (FunctionNode, MethodNode, PartialNode,
#: ReduceNode, ConstructorFromReduceNode, OperatorFuncNode) call something named in the file: no kind
#: writes them, so they are refused whatever type they name.
SKOPS_LOADERS: frozenset[str] = frozenset({
    "ObjectNode", "DictNode", "ListNode", "TupleNode", "JsonNode", "TypeNode", "NdArrayNode", "CachedNode",
    "TreeNode", "LossNode", "RandomStateNode", "RandomGeneratorNode",
})

#: Containers and array types every skops file holds (numpy scalars are stored with allow_pickle=False).
_DATA = frozenset({
    "builtins.dict", "builtins.list", "builtins.tuple", "builtins.str",
    "numpy.ndarray", "numpy.float64", "numpy.float32", "numpy.int64", "numpy.int32", "numpy.uint64",
    "numpy.bool_",
})
_TREE = frozenset({"sklearn.tree._tree.Tree", "sklearn.tree._classes.DecisionTreeClassifier"})
_LOSS = frozenset({
    "sklearn._loss._loss.CyHalfBinomialLoss", "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogitLink", "sklearn._loss.link.Interval",
})
_NEIGHBOUR_TREES = frozenset({
    "sklearn.neighbors._kd_tree.KDTree", "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
})

#: kind -> the exact type names a file of that kind may hold.
SKOPS_TRUSTED: dict[str, frozenset[str]] = {
    "hgb": _DATA | _LOSS | {
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.preprocessing._label.LabelEncoder",
        "numpy.random._generator.Generator",
    },
    "gbdt": _DATA | _LOSS | {
        "sklearn.ensemble._gb.GradientBoostingClassifier", "sklearn.dummy.DummyClassifier",
        "sklearn.tree._classes.DecisionTreeRegressor", "sklearn.tree._tree.Tree",
        "numpy.random.mtrand.RandomState",
    },
    "adaboost": _DATA | _TREE | {"hepmva.peers.AdaBoostBDT"},
    "random_forest": _DATA | _TREE | {"sklearn.ensemble._forest.RandomForestClassifier"},
    "bagging": _DATA | _TREE | {"hepmva.peers.BaggedTrees"},
    "decision_tree": _DATA | _TREE,
    "svm": _DATA | {
        "hepmva.peers.SVMClassifier", "sklearn.svm._classes.SVC", "sklearn.svm._classes.LinearSVC",
        "sklearn.kernel_approximation.Nystroem", "sklearn.pipeline.Pipeline",
    },
    "knn": _DATA | _NEIGHBOUR_TREES | {
        "hepmva.peers.WeightedKNNClassifier", "sklearn.neighbors._unsupervised.NearestNeighbors",
    },
}

#: The data types above: present in most files, so the honesty test does not require each in each kind.
SKOPS_DATA_TYPES: frozenset[str] = _DATA



class _NoTorch:
    """An import hook refusing ``torch`` (and its submodules) while skops is imported (:func:`_skops_io`)."""

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r} (not imported while hepmva imports skops)", name=name)
        return None


def _skops_io():
    """``skops.io``, imported without PyTorch.

    Importing skops lists every scikit-learn estimator (``all_estimators``), which walks every scikit-learn
    package, ``sklearn.externals.array_api_compat.torch`` too: with torch installed, every job that saves or
    loads a scikit-learn model paid ~1.5 s of CPU importing a library hepmva never uses. torch is refused only
    during that import, and only when nothing imported it before (a notebook that uses torch keeps it).
    """
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    hook = _NoTorch() if "torch" not in sys.modules else None
    if hook is not None:
        sys.meta_path.insert(0, hook)
    try:
        import skops.io
    finally:
        if hook is not None:
            sys.meta_path.remove(hook)
    return skops.io

def _walk_nodes(obj: Any) -> Iterator[dict]:
    """Every skops node (a dict with ``__loader__``) of a schema, depth first."""
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            if "__loader__" in o:
                yield o
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)


def _read_skops_schema(path: Path) -> dict:
    try:
        with zipfile.ZipFile(path) as z:
            schema = json.loads(z.read("schema.json"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file; retrain (delete its model directory)") from None
    except (zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(f"{path}: {_NOT_OURS} (not a skops archive); refusing to load it") from None
    if not isinstance(schema, dict) or "__loader__" not in schema:
        raise ModelFileError(f"{path}: {_NOT_OURS} (no skops schema); refusing to load it")
    return schema


def skops_types(path: str | Path) -> set[tuple[str, str]]:
    """The ``(node kind, type name)`` pairs a skops file would build, read without building anything.

    Parameters
    ----------
    path : str or Path
        A ``.skops`` file.

    Returns
    -------
    set of (str, str)
        E.g. ``("ObjectNode", "sklearn.tree._classes.DecisionTreeClassifier")``.
    """
    schema = _read_skops_schema(Path(path))
    out = set()
    for node in _walk_nodes(schema):
        name = f"{node.get('__module__')}.{node.get('__class__')}"
        if node["__loader__"] == "MethodNode":
            name += f".{(node.get('content') or {}).get('func')}"
        out.add((str(node["__loader__"]), name))
    return out


def audit_skops(path: str | Path, kind: str) -> list[str]:
    """Check a skops file against ``kind``'s allow-list before anything in it is built.

    Two audits, both must pass: every node of the file's schema (read as JSON by us) has its node kind on
    :data:`SKOPS_LOADERS` and its type on ``SKOPS_TRUSTED[kind]``; and every type skops itself reports as
    not trusted by default (``skops.io.get_untrusted_types``, which also sees names hidden in a random
    generator's state) is on the list too.

    Returns
    -------
    list of str
        The untrusted-by-default types to hand to ``skops.io.load(trusted=...)``.

    Raises
    ------
    ModelFileError
        One line naming the file and the refused node(s).
    """
    sio = _skops_io()

    path = Path(path)
    if kind not in SKOPS_TRUSTED:
        raise ModelFileError(f"{path}: classifier kind '{kind}' is not stored with skops; refusing to load it")
    allowed = SKOPS_TRUSTED[kind]
    refused = sorted(f"{name} ({loader})" for loader, name in skops_types(path)
                     if loader not in SKOPS_LOADERS or name not in allowed)
    if not refused:
        try:
            untrusted = sio.get_untrusted_types(file=path)
        except Exception as exc:  # noqa: BLE001 -- any decoding failure is a bad model file
            raise ModelFileError(f"{path}: {_NOT_OURS} ({type(exc).__name__}); refusing to load it") from None
        refused = sorted(t for t in untrusted if t not in allowed)
    if refused:
        shown = ", ".join(refused[:3]) + (f" and {len(refused) - 3} more" if len(refused) > 3 else "")
        raise ModelFileError(
            f"{path}: refusing to load a '{kind}' model holding {shown}, which hepmva never writes "
            "(the file may run code); use only model files your own run wrote"
        )
    return sorted(untrusted)


def save_skops(model: Any, path: str | Path) -> None:
    """Write a fitted scikit-learn-compatible model with :func:`skops.io.dump` (parent directories made)."""
    sio = _skops_io()

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(model, path)


def load_skops(path: str | Path, kind: str) -> Any:
    """Load a skops file of classifier ``kind`` after :func:`audit_skops` (never unpickles)."""
    sio = _skops_io()

    path = Path(path)
    trusted = audit_skops(path, kind)
    try:
        return sio.load(path, trusted=trusted)
    except Exception as exc:  # noqa: BLE001 -- a tampered but type-clean file fails while building
        raise ModelFileError(f"{path}: {_NOT_OURS} ({type(exc).__name__}: {_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else ""


# ------------------------------------------------------------------------------------------------------
# the three formats
# ------------------------------------------------------------------------------------------------------
def _save_state(estimator: Any, directory: Path) -> dict:
    meta, arrays = estimator.export_state()
    for name, a in arrays.items():
        if np.asarray(a).dtype == object:
            raise TypeError(f"export_state array '{name}' has dtype object, which cannot be stored without pickle")
    np.savez(directory / "estimator.npz", **arrays)
    return meta


def _load_state(cls: type, directory: Path, kind: str, meta: dict) -> Any:
    path = directory / "estimator.npz"
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file; retrain (delete its model directory)") from None
    except ValueError as exc:
        why = "holds pickled objects" if "pickle" in str(exc) else "not an .npz archive"
        raise ModelFileError(f"{path}: {_NOT_OURS} ({why}); refusing to load it") from None
    except (OSError, zipfile.BadZipFile, EOFError):
        raise ModelFileError(f"{path}: {_NOT_OURS} (not an .npz archive); refusing to load it") from None
    try:
        return cls.from_state(meta, arrays)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ModelFileError(
            f"{path}: {_NOT_OURS} for kind '{kind}' ({type(exc).__name__}: {_first_line(exc)})"
        ) from None


def _save_xgboost(estimator: Any, directory: Path) -> dict:
    estimator.save_model(directory / "estimator.ubj")
    return {}


def _load_xgboost(cls: type, directory: Path, kind: str, meta: dict) -> Any:
    path = directory / "estimator.ubj"
    try:
        with open(path, "rb") as f:
            head = f.read(1)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file; retrain (delete its model directory)") from None
    if head != b"{":  # a UBJSON document is an object: '{'
        raise ModelFileError(f"{path}: {_NOT_OURS} (not xgboost UBJSON); refusing to load it")
    est = cls()
    try:
        est.load_model(path)
    except Exception as exc:  # noqa: BLE001 -- xgboost raises XGBoostError / UnicodeDecodeError / ...
        raise ModelFileError(f"{path}: {_NOT_OURS} ({type(exc).__name__}: {_first_line(exc)})") from None
    return est


def _save_skops(estimator: Any, directory: Path) -> dict:
    save_skops(estimator, directory / "estimator.skops")
    return {}


def _load_skops(cls: type, directory: Path, kind: str, meta: dict) -> Any:
    est = load_skops(directory / "estimator.skops", kind)
    if type(est) is not cls:
        raise ModelFileError(
            f"{directory / 'estimator.skops'}: holds a {type(est).__name__}, not the '{kind}' estimator "
            f"{cls.__name__}; refusing it"
        )
    return est


class ModelFormat:
    """One way of storing a fitted estimator: its name, the files it writes, its save and load.

    ``save(estimator, directory) -> meta`` writes the files; ``load(cls, directory, kind, meta)`` rebuilds
    the estimator (class ``cls``) and raises :class:`~hepmva.errors.ModelFileError` for a bad file.
    """

    __slots__ = ("name", "files", "save", "load")

    def __init__(self, name: str, files: tuple[str, ...], save: Callable[[Any, Path], dict],
                 load: Callable[[type, Path, str, dict], Any]) -> None:
        self.name, self.files, self.save, self.load = name, files, save, load

    def __repr__(self) -> str:
        return f"ModelFormat({self.name!r}, files={self.files!r})"


#: format name -> :class:`ModelFormat`
FORMATS: dict[str, ModelFormat] = {
    "state": ModelFormat("state", ("estimator.npz",), _save_state, _load_state),
    "xgboost": ModelFormat("xgboost", ("estimator.ubj",), _save_xgboost, _load_xgboost),
    "skops": ModelFormat("skops", ("estimator.skops",), _save_skops, _load_skops),
}

#: classifier kind -> format name (in-house estimators: state; xgboost; scikit-learn peers: skops)
FORMAT_OF_KIND: dict[str, str] = {
    "xgboost": "xgboost",
    **{kind: "skops" for kind in SKOPS_TRUSTED},
    "fisher": "state",
    "linear_discriminant": "state",
    "cuts_ga": "state",
    "mlp": "state",
}


def save_estimator(estimator: Any, kind: str, directory: str | Path) -> None:
    """Write a fitted ``estimator`` of classifier ``kind`` into ``directory`` (created).

    Raises
    ------
    KeyError
        If ``kind`` has no format in :data:`FORMAT_OF_KIND` (a programming error).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fmt = FORMATS[FORMAT_OF_KIND[kind]]
    meta = fmt.save(estimator, directory)
    info = {"kind": kind, "format": fmt.name, "hepmva": __version__, "meta": meta}
    (directory / META_FILE).write_text(json.dumps(info, indent=1))


def load_estimator(directory: str | Path, resolve_kind: Callable[[str], type]) -> Any:
    """Rebuild an estimator written by :func:`save_estimator`, through the kind's checked loader.

    Parameters
    ----------
    directory : str or Path
        A model directory (``results/models/{classifier}/fold{k}``).
    resolve_kind : callable
        ``kind -> class`` (``hepmva.models.resolve_kind``).

    Raises
    ------
    ModelFileError
        One line naming the file: missing or unreadable, an unknown kind, a format that does not belong to the
        kind, or a file holding anything hepmva does not write.
    """
    directory = Path(directory)
    path = directory / META_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file; {directory} is not a hepmva model directory") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ModelFileError(f"{path}: {_NOT_OURS} (not JSON); refusing to load it") from None
    if not isinstance(info, dict) or not isinstance(info.get("kind"), str) or not isinstance(info.get("meta", {}), dict):
        raise ModelFileError(f"{path}: {_NOT_OURS} (no 'kind' / 'meta'); refusing to load it")
    kind = info["kind"]
    if kind not in FORMAT_OF_KIND:
        raise ModelFileError(f"{path}: unknown classifier kind '{kind}'; known: {', '.join(sorted(FORMAT_OF_KIND))}")
    fmt = FORMATS[FORMAT_OF_KIND[kind]]
    if info.get("format", fmt.name) != fmt.name:
        raise ModelFileError(f"{path}: format '{info['format']}' is not how kind '{kind}' is stored ({fmt.name})")
    return fmt.load(resolve_kind(kind), directory, kind, info.get("meta", {}))


def read_model_info(path: str | Path) -> dict:
    """A fold model's ``model.json`` (scaler, bookkeeping, learning curve), or one line naming the file."""
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file; retrain the classifier (delete its model directory)") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        raise ModelFileError(f"{path}: is not a model.json this version of hepmva wrote (not JSON)") from None
    if not isinstance(info, dict) or not {"fold", "scaler", "kind"} <= set(info):
        raise ModelFileError(f"{path}: is not a model.json this version of hepmva wrote (no fold / scaler / kind)")
    return info
