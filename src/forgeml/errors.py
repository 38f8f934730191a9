"""The forgeml error family.

Every error a user can meet is a ``ForgeMLError`` whose message says what is wrong and what to do. Each also
subclasses the builtin it refines, so ``except ValueError`` in user code keeps working (as sklearn's
``NotFittedError(ValueError, AttributeError)`` does).
"""
from __future__ import annotations

from typing import Any


class ForgeMLError(Exception):
    """Root of every error forgeml raises on purpose."""


class DataError(ForgeMLError, ValueError):
    """The input table cannot be used as given (empty, wrong types, inf values, ...)."""


class TargetError(DataError):
    """The target column is missing, empty, constant or otherwise unusable."""


class SchemaMismatchError(DataError):
    """Data at predict time does not match the schema seen at fit time."""


class DataFormatError(ForgeMLError, OSError):
    """A file could not be read as a table (missing, unreadable or wrong format)."""


class ConfigError(ForgeMLError, ValueError):
    """An argument or configuration is invalid (unknown metric, searcher, bad budget, ...)."""


class UnsupportedValueError(DataError, TypeError):
    """A table cell holds a value no column kind can use (a dict, a list, ...). Also a ``TypeError``, as
    NumPy's and scikit-learn's conversions raise for such cells."""


class TaskMismatchError(ForgeMLError, AttributeError):
    """A method that does not apply to the fitted task (``predict_proba`` on a regression model). An
    ``AttributeError`` so that duck typing (``hasattr``) treats the method as absent."""


class NoModelFittedError(ForgeMLError, RuntimeError):
    """Every trial failed, so there is no model to return."""


class ModelLoadError(ForgeMLError, OSError):
    """A saved model directory is missing, incomplete, corrupt or from an incompatible version."""


class StoreError(ForgeMLError, RuntimeError):
    """The experiment store cannot be opened or written."""


class MissingDependencyError(ForgeMLError, ImportError):
    """An optional library needed for the requested feature is not installed."""


class TrialError(ForgeMLError, RuntimeError):
    """A trial failed; raised only with ``raise_on_trial_error=True``."""


class SearchWarning(UserWarning):
    """Something about the search the user should know but that does not stop it (e.g. a grid that the budget
    cannot exhaust). ``warnings.simplefilter("error", SearchWarning)`` turns it into an error."""


def _not_fitted_error() -> type:
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

    class NotFittedError(ForgeMLError, _SklearnNotFittedError):
        """The estimator is used before ``fit``. Also scikit-learn's ``NotFittedError`` (a ``ValueError`` and an
        ``AttributeError``), so ``except sklearn.exceptions.NotFittedError`` and sklearn's checks catch it."""

    NotFittedError.__module__, NotFittedError.__qualname__ = __name__, "NotFittedError"  # pickles by name
    return NotFittedError


def __getattr__(name: str) -> Any:
    # NotFittedError subclasses scikit-learn's, whose import costs seconds: made on first use, so the CLI's
    # `--help` and `--version` (which need only the other errors) start at once
    if name == "NotFittedError":
        cls = _not_fitted_error()
        globals()["NotFittedError"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
