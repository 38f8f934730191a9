"""What one run needs to know, as one frozen value: the orchestrator never sees the estimator.

``AutoML._settings()`` builds it from the estimator's parameters (already checked at the edge). Every field
has the estimator's default, so tests and other front ends can write ``RunSettings(max_trials=4, ...)``.
A new run option is one field here, one line in ``AutoML._settings()``, and its use in ``orchestrate/``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from forgeml.errors import ConfigError

#: How ensemble members become deployable models (``RunSettings.refit``): "full" refits each on all rows,
#: "bag" averages the fold models its cross-validation trained, "auto" refits when the time left allows and
#: otherwise (or when the refit fails) bags (see ``orchestrate/refit.py``).
REFIT_CHOICES = ("auto", "full", "bag")


@dataclass(frozen=True)
class RunSettings:
    """The options of one run.

    ``metric``, ``search``, ``ensemble``, ``backend`` and the entries of ``families`` are names, or user objects
    where the registries accept them, so they are typed loosely. ``task_restriction`` is
    ``"classification"``/``"regression"`` for ``AutoClassifier``/``AutoRegressor`` and ``None`` for ``AutoML``.
    """

    time_budget: float | None = 60.0
    metric: Any = "auto"
    task: str = "auto"
    task_restriction: str | None = None
    seed: int = 0
    max_trials: int | None = None
    n_jobs: int = -1
    search: Any = "auto"
    search_options: Mapping[str, Any] = field(default_factory=dict)
    families: Sequence[Any] | None = None
    ensemble: Any = "auto"
    infer_limit: float | None = None  # seconds per row the model may take to predict (None: no limit)
    ensemble_prune: float = 0.0  # share of an ensemble's gain it may give up for cheaper members (ensemble/prune.py)
    n_folds: int | None = None
    per_trial_timeout: float | None = None
    memory_limit_mb: float | None = None
    resume: bool = False
    backend: Any = "local"
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    inf_as_nan: bool = False
    on_bad_value: str = "raise"
    overwrite: bool = False  # replace the forgeml files in run_dir, once the data has passed its checks
    verbose: int = 1
    raise_on_trial_error: bool = False
    refit: str = "auto"  # one of REFIT_CHOICES
    knowledge: Any = None  # "auto" (the user's knowledge base), a path, or None (see orchestrate/experience.py)
    feature_engineering: bool = True  # search the feature-engineering choices (pipeline/space.py) too
    portfolio: Any = "auto"  # configurations tried first: "auto" (shipped), None, a path or a list (meta/portfolio.py)
    nas: Any = False  # False/None, True or a dict of options of the architecture search run first (network.py)

    def __post_init__(self) -> None:
        if self.refit not in REFIT_CHOICES:
            raise ConfigError(f"refit must be one of {', '.join(map(repr, REFIT_CHOICES))}, got {self.refit!r}")
        # own copies, so a caller mutating its dict or list later cannot change a run in progress
        object.__setattr__(self, "search_options", dict(self.search_options or {}))
        object.__setattr__(self, "backend_options", dict(self.backend_options or {}))
        if self.families is not None:
            object.__setattr__(self, "families", list(self.families))
