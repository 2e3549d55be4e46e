"""The scikit-learn estimator protocol for the in-house learners, without importing scikit-learn.

Every Snakemake job is a fresh Python process, and ``import sklearn.base`` costs ~1.1 s of wall time
(scipy.stats, pandas, scipy.sparse, ...) before a numpy learner has done anything. The in-house
learners (:mod:`hepmva.nn`, :mod:`hepmva.linear`, :mod:`hepmva.cuts`,
:mod:`hepmva.unsupervised.decomposition`) take what they need of scikit-learn's protocol from here:

- :class:`BaseEstimator`     ``get_params`` / ``set_params`` (``__init__`` introspected, nested ``a__b``),
                             ``__repr__`` (the changed parameters), ``__sklearn_tags__``
- :class:`ClassifierMixin`   the classifier tags and ``score`` (accuracy)
- :class:`TransformerMixin`  the transformer tags and ``fit_transform``
- :func:`validate_data`, :func:`check_sample_weight`, :func:`check_is_fitted`, :func:`target_type`,
  :func:`check_random_state`: input checks with scikit-learn's semantics

scikit-learn's own tools (``clone``, ``Pipeline``, ``GridSearchCV``, the estimator checks) use these classes
as they use their own: ``clone`` needs ``get_params``, the rest reads ``__sklearn_tags__``, which imports
scikit-learn's tag dataclasses inside the method (only scikit-learn calls it, so scikit-learn is loaded).

**Input checks: a fast path, and scikit-learn for everything else.** The checks accept, on their own, the
inputs the study feeds the learners (numpy arrays of numbers, pandas DataFrames of numpy numeric columns;
finite; the right shape), and return what scikit-learn's ``validate_data`` / ``_check_sample_weight`` would
return for them (same dtype rule, same ``n_features_in_`` / ``feature_names_in_`` bookkeeping). Any other
input -- a list, a sparse matrix, object or complex data, NaN or inf, a wrong shape, unknown feature names,
an all-zero weight -- goes to scikit-learn's function itself, imported then, which converts it or raises
its own error with its own words ("Input X contains NaN.", "X has 3 features, but ... is expecting 4
features as input.", ...). The semantics are therefore scikit-learn's by construction and no validation
code is copied; a valid array never imports scikit-learn (a test runs a train job and checks
``sys.modules``).

**NotFittedError** is scikit-learn's own class, imported when it is raised (:func:`check_is_fitted`):
``except sklearn.exceptions.NotFittedError`` in a caller keeps working, which a look-alike
``ValueError, AttributeError`` subclass of our own would break; the import is paid only on that error.

Not provided (scikit-learn's ``BaseEstimator`` has them): metadata routing (``set_fit_request``,
``get_metadata_routing``; with scikit-learn's default, routing off, ``Pipeline(...).fit(X, y,
step__sample_weight=w)``, ``GridSearchCV.fit(X, y, sample_weight=w)`` and ``cross_val_score(...,
params=...)`` pass the weights as before), the HTML diagram of a notebook (the text repr is shown) and
``set_output`` (none of the in-house transformers names its output features). scikit-learn's estimator checks
warn, when they are listed, that these classes do not inherit its ``BaseEstimator``, and run in full.
"""

from __future__ import annotations

import inspect
import numbers
from collections import defaultdict
from typing import Any

import numpy as np

__all__ = ["BaseEstimator", "ClassifierMixin", "TransformerMixin", "validate_data", "check_sample_weight",
           "check_is_fitted", "target_type", "check_random_state"]

#: numpy dtype kinds the fast path converts (bool, integers, floats); anything else goes to scikit-learn
_NUMERIC = "biuf"
#: label dtype kinds whose type of target the fast path reads (bool, integers, floats, unicode strings)
_LABELS = "biufU"


# ------------------------------------------------------------------------------------ estimator
class BaseEstimator:
    """``get_params`` / ``set_params`` / ``__repr__`` / tags, as :class:`sklearn.base.BaseEstimator` gives them.

    Parameters are the keyword arguments of ``__init__``, stored under their own names and never
    changed by ``__init__`` (scikit-learn's convention, which ``clone`` checks).
    """

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The sorted names of the ``__init__`` parameters (no ``*args``: a RuntimeError, as in scikit-learn)."""
        if cls.__init__ is object.__init__:
            return []
        params = [p for p in inspect.signature(cls.__init__).parameters.values()
                  if p.name != "self" and p.kind != p.VAR_KEYWORD]
        if any(p.kind == p.VAR_POSITIONAL for p in params):
            raise RuntimeError(f"scikit-learn estimators should always specify their parameters in the signature "
                               f"of their __init__ (no varargs): {cls} does not")
        return sorted(p.name for p in params)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameter names mapped to their values; with ``deep``, also ``name__sub`` of nested estimators."""
        out: dict[str, Any] = {}
        for key in self._get_param_names():
            value = getattr(self, key)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{key}__{k}", v) for k, v in value.get_params().items())
            out[key] = value
        return out

    def set_params(self, **params: Any):
        """Set parameters (``name`` or nested ``name__sub``); returns self. Unknown names: ValueError."""
        if not params:
            return self
        valid = self.get_params(deep=True)
        nested: dict[str, dict[str, Any]] = defaultdict(dict)
        for key, value in params.items():
            key, delim, sub_key = key.partition("__")
            if key not in valid:
                raise ValueError(f"Invalid parameter {key!r} for estimator {self}. "
                                 f"Valid parameters are: {self._get_param_names()!r}.")
            if delim:
                nested[key][sub_key] = value
            else:
                setattr(self, key, value)
                valid[key] = value
        for key, sub_params in nested.items():
            valid[key].set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        """``Name(p=v, ...)`` with the parameters that differ from their defaults, sorted (as scikit-learn
        prints them, without its line wrapping)."""
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = [f"{k}={v!r}" for k, v in sorted(self.get_params(deep=False).items())
                   if _changed(v, defaults.get(k, inspect.Parameter.empty))]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        """scikit-learn's default tags (only scikit-learn's tools call this: its import is theirs)."""
        from sklearn.utils import Tags, TargetTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=False), transformer_tags=None,
                    regressor_tags=None, classifier_tags=None)


def _changed(value: Any, default: Any) -> bool:
    """Whether a parameter differs from its default for ``__repr__`` (scikit-learn's rule: by repr, NaN == NaN)."""
    if default is inspect.Parameter.empty:
        return True
    if hasattr(value, "get_params") and type(value) is not type(default):
        return True
    nan = (isinstance(value, float) and value != value) and (isinstance(default, float) and default != default)
    return repr(value) != repr(default) and not nan


class ClassifierMixin:
    """The classifier side of :class:`sklearn.base.ClassifierMixin`: tags and ``score`` (put it first in the bases)."""

    _estimator_type = "classifier"  # what scikit-learn < 1.6 and some third-party code read

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags

        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags()
        tags.target_tags.required = True
        return tags

    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy of ``self.predict(X)`` against ``y`` (:func:`sklearn.metrics.accuracy_score`)."""
        from sklearn.metrics import accuracy_score

        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight))


class TransformerMixin:
    """The transformer side of :class:`sklearn.base.TransformerMixin`: tags and ``fit_transform``."""

    def __sklearn_tags__(self):
        from sklearn.utils import TransformerTags

        tags = super().__sklearn_tags__()
        tags.transformer_tags = TransformerTags()
        return tags

    def fit_transform(self, X, y=None, **fit_params):
        """``fit`` then ``transform`` on the same X."""
        if y is None:
            return self.fit(X, **fit_params).transform(X)
        return self.fit(X, y, **fit_params).transform(X)


# ------------------------------------------------------------------------------- input checks
def _sklearn_validation():
    """scikit-learn's ``sklearn.utils.validation``, imported when an input needs it."""
    from sklearn.utils import validation

    return validation


def _frame_names(X: Any) -> tuple[bool, np.ndarray | None]:
    """(fast path possible, feature names) of a 2-D input: numpy arrays have no names; a pandas DataFrame of
    numpy numeric columns has its string column names (none when no column name is a string)."""
    if type(X) is np.ndarray:
        return True, None
    if type(X).__module__.partition(".")[0] != "pandas" or not hasattr(X, "columns") or X.ndim != 2:
        return False, None
    if not all(isinstance(d, np.dtype) and d.kind in _NUMERIC for d in X.dtypes):
        return False, None
    names = np.asarray(X.columns, dtype=object)
    is_str = [isinstance(n, str) for n in names]
    if len(names) == 0 or not any(is_str):
        return True, None
    return all(is_str), names  # mixed string / other names: scikit-learn raises its TypeError


def _as_array(X: Any, dtype: Any, *, order: str | None = None) -> np.ndarray | None:
    """``X`` as scikit-learn's ``check_array`` converts a numeric array (``dtype`` a dtype or a list of accepted
    ones, the first the default), or None when it is not finite (or overflows a sum) and scikit-learn must look."""
    orig = X.dtype if isinstance(X, np.ndarray) else np.result_type(*X.dtypes)  # a frame: numpy dtypes only
    if isinstance(dtype, (list, tuple)):
        dtype = None if orig is not None and orig in dtype else dtype[0]
    out = np.asarray(X, dtype=dtype, order=order)
    if out.dtype.kind == "f":
        with np.errstate(over="ignore"):
            if not np.isfinite(np.sum(out)):
                return None
    return out


def validate_data(estimator: Any, X: Any, y: Any = "no_validation", *, reset: bool = True, dtype: Any = "numeric",
                  ensure_min_samples: int = 1, y_numeric: bool = False):
    """X (and y) checked and converted as :func:`sklearn.utils.validation.validate_data` does, with
    ``n_features_in_`` / ``feature_names_in_`` set (``reset``) or checked against the fit.

    Returns X, or (X, y) when y is given. Inputs off the fast path (see the module docstring) go to
    scikit-learn's function, which converts them or raises its own error.
    """
    with_y = not (isinstance(y, str) and y == "no_validation")
    Xc, names = _fast_X(estimator, X, reset=reset, dtype=dtype, ensure_min_samples=ensure_min_samples)
    yc = _fast_y(y, Xc) if with_y and Xc is not None else None
    if Xc is None or (with_y and yc is None):
        more = {"y_numeric": y_numeric} if with_y else {}
        return _sklearn_validation().validate_data(estimator, X, *((y,) if with_y else ()), reset=reset, dtype=dtype,
                                                   ensure_min_samples=ensure_min_samples, **more)
    if reset:
        estimator.n_features_in_ = Xc.shape[1]
        if names is not None:
            estimator.feature_names_in_ = names
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    return (Xc, yc) if with_y else Xc


def _fast_X(estimator: Any, X: Any, *, reset: bool, dtype: Any,
            ensure_min_samples: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(X converted, its feature names) when X is a plain valid input; X None: let scikit-learn decide."""
    fast, names = _frame_names(X)
    if not fast or (isinstance(X, np.ndarray) and X.dtype.kind not in _NUMERIC):
        return None, None
    if not reset:
        fitted = getattr(estimator, "feature_names_in_", None)
        if (fitted is None) != (names is None) or (names is not None and (
                len(names) != len(fitted) or np.any(names != fitted))):
            return None, None  # scikit-learn warns or raises about the feature names
    if len(X.shape) != 2 or X.shape[0] < ensure_min_samples or X.shape[1] < 1:
        return None, None
    if not reset and hasattr(estimator, "n_features_in_") and X.shape[1] != estimator.n_features_in_:
        return None, None
    return _as_array(X, None if isinstance(dtype, str) and dtype == "numeric" else dtype), names


def _fast_y(y: Any, X: np.ndarray) -> np.ndarray | None:
    """A 1-D numeric or string target as scikit-learn's ``_check_y`` returns it (C order), or None (then
    scikit-learn's: a column vector warns, object labels, NaN, a wrong length, ...)."""
    if type(y) is not np.ndarray or y.ndim != 1 or y.dtype.kind not in _LABELS or y.shape[0] != X.shape[0]:
        return None
    return _as_array(y, None, order="C")


def check_sample_weight(sample_weight: Any, X: np.ndarray, *, dtype: Any = None) -> np.ndarray:
    """Event weights as :func:`sklearn.utils.validation._check_sample_weight` returns them: ones for None, a
    scalar repeated, else a finite 1-D float array of one weight per row of ``X``, not all zero."""
    n = X.shape[0]
    if dtype is not None and np.dtype(dtype) not in (np.float64, np.float32):
        dtype = np.float64
    if sample_weight is None:
        return np.ones(n, dtype=dtype)
    if isinstance(sample_weight, numbers.Number):
        out = np.full(n, sample_weight, dtype=dtype)
    elif type(sample_weight) is np.ndarray and sample_weight.shape == (n,) and sample_weight.dtype.kind in _NUMERIC:
        out = _as_array(sample_weight, [np.float64, np.float32] if dtype is None else dtype, order="C")
    else:
        out = None
    if out is None or not np.any(out != 0):
        return _sklearn_validation()._check_sample_weight(sample_weight, X, dtype=dtype)
    return out


def check_is_fitted(estimator: Any, attributes: str | list[str] | None = None) -> None:
    """Raise scikit-learn's ``NotFittedError`` unless ``estimator`` is fitted: it has ``attributes``, or (None)
    its ``__sklearn_is_fitted__()`` says so, or it has an attribute ending in ``_`` (scikit-learn's rule)."""
    if attributes is not None:
        fitted = all(hasattr(estimator, a) for a in ([attributes] if isinstance(attributes, str) else attributes))
    elif hasattr(estimator, "__sklearn_is_fitted__"):
        fitted = estimator.__sklearn_is_fitted__()
    else:
        fitted = any(v.endswith("_") and not v.startswith("__") for v in vars(estimator))
    if not fitted:
        _sklearn_validation().check_is_fitted(estimator, attributes)


def target_type(y: np.ndarray) -> str:
    """scikit-learn's ``type_of_target`` of a checked classification target, after
    ``check_classification_targets``: "binary" or "multiclass" (any other type: scikit-learn's ValueError)."""
    if isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in _LABELS and y.size:
        floats = y.dtype.kind == "f"
        with np.errstate(over="ignore"):
            if not floats or (np.isfinite(np.sum(y)) and np.all(y == y.astype(np.int64).astype(y.dtype))):
                return "multiclass" if np.unique(y).shape[0] > 2 else "binary"
    from sklearn.utils.multiclass import check_classification_targets, type_of_target

    check_classification_targets(y)
    return type_of_target(y, input_name="y", raise_unknown=True)


def check_random_state(seed: Any) -> np.random.RandomState:
    """A :class:`numpy.random.RandomState` from ``seed`` as :func:`sklearn.utils.check_random_state` makes it:
    None -> numpy's global one, an int -> a new one seeded with it, a RandomState -> itself."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(f"{seed!r} cannot be used to seed a numpy.random.RandomState instance")

