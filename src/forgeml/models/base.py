"""What a model family is: its capabilities, its search space, its strong defaults and how to build it.

A family is one file in ``forgeml/models/`` plus one line in ``FAMILIES`` (``models/__init__.py``). The
searchers never see families, only the joint ``SearchSpace`` built from their ``space()``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from forgeml.space import SearchSpace


@dataclass(frozen=True)
class Capabilities:
    """What the pipeline builder and the orchestrator need to know about a family.

    ``native_categorical``: the estimator takes ordinal-coded categoricals well (trees, boosting) so
    one-hot is not required. ``needs_scaling``: distance or gradient based (linear, SVM, kNN, MLP).
    ``iterative_param``: the hyperparameter that counts rounds/epochs (for multi-fidelity and PBT).
    ``max_rows``: above this the family is skipped (SVM's cubic cost). ``cost``: rough cost relative to
    default LightGBM, used to order cheap configurations first. ``sample_weight``: the estimator's ``fit`` takes
    ``sample_weight=`` and honours it; a family without it is left out of a run fitted with weights (False by
    default, so a plug-in family is never handed weights it would silently ignore).
    """

    tasks: tuple[str, ...] = ("binary", "multiclass", "regression")
    handles_missing: bool = False
    native_categorical: bool = False
    needs_scaling: bool = False
    supports_proba: bool = True
    iterative_param: str | None = None
    max_rows: int | None = None
    cost: float = 1.0
    library: str | None = None  # the import name of an optional dependency, for availability checks
    sample_weight: bool = False


@dataclass(frozen=True)
class FitContext:
    """Facts about the data and run that a family may use to shape its space or estimator."""

    task: str  # "binary" | "multiclass" | "regression"
    n_rows: int
    n_features: int
    n_classes: int = 0
    seed: int = 0
    n_threads: int = 1
    deadline: float | None = None  # epoch seconds; iterative fits should stop by then


class ModelFamily(ABC):
    """Base class for model families; subclasses set ``name`` and ``capabilities``."""

    name: str = ""
    capabilities: Capabilities = Capabilities()

    @abstractmethod
    def space(self, ctx: FitContext) -> SearchSpace:
        """The family's hyperparameters (unprefixed names), bounded for this data."""

    def defaults(self, ctx: FitContext) -> list[dict[str, Any]]:
        """Strong configurations to try first, cheapest first; each a complete assignment of ``space``."""
        return [dict(self.space(ctx).default())]

    @abstractmethod
    def build(self, params: Mapping[str, Any], ctx: FitContext) -> Any:
        """An unfitted, ``clone``-able scikit-learn estimator for these hyperparameters."""

    def continue_from(self, fitted: Any, params: Mapping[str, Any], ctx: FitContext) -> Any | None:
        """A new estimator that, fit on the rows ``fitted`` was trained on, keeps ``fitted``'s trained state and
        adds ``params[iterative_param]`` more rounds or epochs with ``params``' other settings; ``fitted`` itself
        is left as it was.

        This is what lets population-based training copy a strong member's state and train on. The link to
        ``fitted`` serves the first ``fit`` only (``clone`` drops it). ``None`` (the default) means the family
        cannot continue; the evaluator then trains afresh, which is correct but slower.
        """
        return None

    def available(self) -> bool:
        lib = self.capabilities.library
        if lib is None:
            return True
        import importlib.util
        return importlib.util.find_spec(lib) is not None

    def applies_to(self, ctx: FitContext) -> bool:
        cap = self.capabilities
        return ctx.task in cap.tasks and (cap.max_rows is None or ctx.n_rows <= cap.max_rows)
