"""scikit-learn's ``parametrize_with_checks`` for the in-house estimators (:mod:`hepmva.estimator`).

The in-house learners do not inherit ``sklearn.base.BaseEstimator`` on purpose (importing scikit-learn costs
every job ~1 s); scikit-learn then warns once, when it lists the checks, that the estimator "does not
inherit from `sklearn.base.BaseEstimator`", and runs the same checks. The warning is ignored here, where
the checks are listed, and only that one: everything else stays an error.
"""

from __future__ import annotations

import warnings

from sklearn.utils import estimator_checks

__all__ = ["parametrize_with_checks"]

NOT_SKLEARN_BASE = r"Estimator \w+ does not inherit from `sklearn\.base\.BaseEstimator`"


def parametrize_with_checks(estimators, **kwargs):
    """:func:`sklearn.utils.estimator_checks.parametrize_with_checks`, listing the checks without the warning
    above (the estimators must be hepmva's: a scikit-learn estimator never triggers it)."""
    assert all(type(e).__module__.startswith("hepmva.") for e in estimators), "for hepmva's estimators only"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=NOT_SKLEARN_BASE, category=UserWarning)
        return estimator_checks.parametrize_with_checks(estimators, **kwargs)
