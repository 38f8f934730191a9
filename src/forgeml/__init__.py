"""forgeml: AutoML for tabular data — the best pipeline it can find in the time you give it.

>>> from forgeml import AutoML
>>> automl = AutoML(time_budget=60).fit(df, target="y")        # doctest: +SKIP
>>> automl.leaderboard()                                        # doctest: +SKIP
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["AutoML", "AutoClassifier", "AutoRegressor", "load", "trials", "runs", "__version__", "make_metric",
           "register_ensembler", "register_executor", "register_family", "register_metric", "register_searcher"]

if TYPE_CHECKING:
    from forgeml.api.automl import AutoClassifier, AutoML, AutoRegressor


def load(path: str, *, key: str | bytes | None = None) -> AutoML:
    """Load a model saved with ``AutoML.save`` or written by ``forgeml fit --out DIR``.

    A model file is code: unpickling it can run whatever its author put in it, so load only models you trust.
    Before unpickling, ``load`` checks the manifest's format version and the SHA-256 of every file, and refuses a
    changed, truncated or newer-format model. With ``key`` (or ``$FORGEML_MODEL_KEY``) it also checks the HMAC
    signature written by ``save(path, key=...)`` and refuses an unsigned model or one signed with another key.
    """
    from forgeml.api.persist import load_model

    return load_model(path, key=key)


def trials(path: str, run_id: str | None = None) -> Any:
    """The trial table of a run directory as a DataFrame (latest run unless ``run_id`` is given)."""
    from forgeml.store.queries import trials_frame

    return trials_frame(path, run_id)


def runs(path: str) -> Any:
    """The runs stored in a run directory, as a DataFrame."""
    from forgeml.store.queries import runs_frame

    return runs_frame(path)


# -- extension points (docs/extending.md): each delegates, lazily, to its package -------------------------------
def register_family(name: str, family: Any, *, overwrite: bool = False) -> Any:
    """Make a ``ModelFamily`` subclass searchable by name; a broken one raises ``ConfigError`` naming the rule."""
    from forgeml.models import register_family as register

    return register(name, family, overwrite=overwrite)


def register_searcher(name: str, searcher: Any, *, overwrite: bool = False) -> Any:
    """Make a ``Searcher`` subclass usable as ``AutoML(search=name)``; a broken one raises ``ConfigError``."""
    from forgeml.search import register_searcher as register

    return register(name, searcher, overwrite=overwrite)


def register_ensembler(name: str, ensembler: Any, *, overwrite: bool = False) -> Any:
    """Make an ``Ensembler`` subclass usable as ``AutoML(ensemble=name)``; a broken one raises ``ConfigError``."""
    from forgeml.ensemble import register_ensembler as register

    return register(name, ensembler, overwrite=overwrite)


def register_metric(name: str, fn: Any, *, greater_is_better: bool = True, needs_proba: bool = False,
                    tasks: Any = None, overwrite: bool = False) -> Any:
    """Make ``fn(y_true, y_pred) -> float`` usable as ``AutoML(metric=name)`` (see ``forgeml.metrics.UserMetric``
    for what it receives); a broken one raises ``ConfigError`` naming the rule."""
    from forgeml.metrics import register_metric as register

    return register(name, fn, greater_is_better=greater_is_better, needs_proba=needs_proba, tasks=tasks,
                    overwrite=overwrite)


def register_executor(name: str, cls: Any, *, overwrite: bool = False) -> Any:
    """Make an ``Executor`` subclass usable as ``AutoML(backend=name)``."""
    from forgeml.execute import register_executor as register

    return register(name, cls, overwrite=overwrite)


def make_metric(fn: Any, *, greater_is_better: bool = True, needs_proba: bool = False, name: str | None = None,
                tasks: Any = None) -> Any:
    """A ``Metric`` from ``fn(y_true, y_pred) -> float``, to pass as ``AutoML(metric=...)``."""
    from forgeml.metrics import make_metric as make

    return make(fn, greater_is_better=greater_is_better, needs_proba=needs_proba, name=name, tasks=tasks)


def __getattr__(name: str) -> Any:
    if name in ("AutoML", "AutoClassifier", "AutoRegressor"):
        from forgeml.api import automl

        return getattr(automl, name)
    raise AttributeError(f"module 'forgeml' has no attribute {name!r}")
