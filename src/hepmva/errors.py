"""Every user-facing exception of hepmva, in one place.

A :class:`HepmvaError` is a problem the *user* can fix: its message is one line that names the offender
(file, sample, config key, expression, model file) and says what to do. The workflow prints exactly that
line on the terminal and sends the traceback to the rule's log (:func:`hepmva.logs.log_to`); any other
exception is a bug in hepmva and keeps its traceback.

All of them also derive from :class:`ValueError` (or :class:`RuntimeError` for training), so code written
against the standard exceptions keeps working::

    from hepmva.errors import HepmvaError
    try:
        config = load_config("my-analysis.yaml")
    except HepmvaError as exc:
        print(exc)           # config/my-analysis.yaml: config key 'folds': 'two' is not of type 'integer'

========================  ===============================================================================
exception                 raised when
========================  ===============================================================================
:class:`HepmvaError`      base class: a user-facing problem, the message is the one line to print
:class:`ConfigError`      the study configuration is wrong (message names the key)
:class:`InputError`       input data is wrong: a file, tree, branch, sample, weight or selection
:class:`ExpressionError`  a feature / selection / weight expression cannot be parsed or is not allowed
:class:`ModelFileError`   a model file is not one this version of hepmva wrote, or would run code
:class:`BundleError`      a model bundle is missing, inconsistent, changed, or does not fit the data
:class:`TrainingError`    training cannot proceed (one class only, diverged, refused weights)
:class:`DivergenceError`  an MLP's training diverged (learning rate too large); an ``ArithmeticError``
========================  ===============================================================================
"""

from __future__ import annotations

__all__ = ["HepmvaError", "ConfigError", "InputError", "ExpressionError", "ModelFileError", "BundleError",
           "TrainingError", "DivergenceError"]


class HepmvaError(Exception):
    """A problem the user can fix; ``str(exc)`` is one line naming the offender and what to do."""


class ConfigError(HepmvaError, ValueError):
    """A configuration problem; the message names the key (``config key 'folds': ...``)."""


class InputError(HepmvaError, ValueError):
    """Bad input data; the message names the file / tree / branch / sample."""


class ExpressionError(HepmvaError, ValueError):
    """An expression that is not valid in hepmva's expression language (the message quotes it)."""


class ModelFileError(HepmvaError, ValueError):
    """A model file or directory that is refused: unreadable, not written by hepmva, or holding code.

    Loading never unpickles and never calls a function named in the file; the message names the file.
    """


class BundleError(ModelFileError):
    """A model bundle (``bundle.json`` + fold models) is missing, inconsistent or changed since it was written,
    or does not fit the data it is asked to score (other feature definitions); the message names the file."""


class TrainingError(HepmvaError, ValueError):
    """Training cannot proceed (e.g. a fold with one class only, non-finite scores, refused weights)."""


class DivergenceError(ArithmeticError):
    """Training diverged (non-finite or exploding loss): the learning rate is too large.

    The estimator that raised it keeps ``diverged_ = True`` and its ``loss_curve_`` up to the
    divergence, and refuses to predict.
    """
