"""forgeml: AutoML for tabular data — the best pipeline it can find in the time you give it.

>>> from forgeml import AutoML
>>> automl = AutoML(time_budget=60).fit(df, target="y")        # doctest: +SKIP
>>> automl.leaderboard()                                        # doctest: +SKIP
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["AutoML", "AutoClassifier", "AutoRegressor", "load", "trials", "runs", "__version__"]

if TYPE_CHECKING:
    from forgeml.api.automl import AutoClassifier, AutoML, AutoRegressor


def load(path: str) -> AutoML:
    """Load a model saved with ``AutoML.save`` or written by ``forgeml fit --out DIR``."""
    from forgeml.api.persist import load_model

    return load_model(path)


def trials(path: str, run_id: str | None = None) -> Any:
    """The trial table of a run directory as a DataFrame (latest run unless ``run_id`` is given)."""
    from forgeml.store.queries import trials_frame

    return trials_frame(path, run_id)


def runs(path: str) -> Any:
    """The runs stored in a run directory, as a DataFrame."""
    from forgeml.store.queries import runs_frame

    return runs_frame(path)


def __getattr__(name: str) -> Any:
    if name in ("AutoML", "AutoClassifier", "AutoRegressor"):
        from forgeml.api import automl

        return getattr(automl, name)
    raise AttributeError(f"module 'forgeml' has no attribute {name!r}")
