"""Ensemblers work on prediction arrays only: out-of-fold predictions in, member weights (and, for a non-linear
combiner, the fitted ``Combiner``) out.

Predictions are the evaluator's internal form: ``(n, k)`` class probabilities over codes ``0..k-1`` for
classification, a float vector for regression.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from forgeml.metrics import Metric

if TYPE_CHECKING:
    import pandas as pd


class Combiner(ABC):
    """A fitted, picklable function of the members' predictions (and, for some, the raw feature rows).

    ``members`` are the trial ids whose predictions ``combine`` reads; they are the ``Ensemble``'s weighted members,
    so the run refits exactly those. ``combine`` returns the internal form: probability rows summing to 1 for
    classification, values for regression.

    Two combiners are equal (``==``) when they are of the same class and their fitted parameters (``state()``) are
    equal, arrays compared element-wise. So two ``Ensemble``s fitted from the same seed compare equal, which the
    battery's determinism check relies on; an equality over the sklearn/LightGBM objects themselves would be
    identity.
    """

    members: tuple[int, ...] = ()

    @abstractmethod
    def combine(self, preds: Mapping[int, np.ndarray], features: pd.DataFrame | None = None) -> np.ndarray:
        """The combined prediction for the rows of ``preds`` (trial id -> that member's predictions)."""

    @abstractmethod
    def state(self) -> tuple:
        """The fitted parameters, as nested tuples of numbers, strings and arrays: what ``==`` compares."""

    def describe(self) -> str:
        """A short name for the leaderboard and ``FittedPipeline``'s repr, e.g. ``"stacking(lightgbm)"``."""
        return type(self).__name__

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and same_state(self.state(), other.state())

    __hash__ = None  # type: ignore[assignment]


def same_state(a: Any, b: Any) -> bool:
    """Equality of nested tuples/lists of arrays, numbers and strings (arrays element-wise, NaN equal to NaN)."""
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(same_state(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    return bool(a == b)


@dataclass(frozen=True)
class Ensemble:
    """Non-negative member weights summing to 1, the ensemble's score on the out-of-fold rows, and an optional
    fitted ``Combiner``.

    With ``combiner`` None the ensemble is the weighted sum of its members' predictions. Otherwise the combiner
    makes the prediction and ``weights`` say each member's share in it (what the leaderboard shows; every member it
    reads has a weight > 0, so the run refits all of them). ``score`` is the metric of ``combine`` on the rows fit
    was given.
    """

    weights: dict[int, float]
    score: float
    combiner: Any = None

    @property
    def members(self) -> set[int]:
        """The trial ids whose predictions the ensemble needs (and the run must refit)."""
        return set(self.weights) | set(getattr(self.combiner, "members", ()) or ())

    def combine(self, preds: Mapping[int, np.ndarray], features: pd.DataFrame | None = None) -> np.ndarray:
        """The ensemble's prediction from its members' (trial id -> predictions); ``features`` are the raw input
        rows, aligned with the predictions, for a combiner that reads them (ignored otherwise)."""
        if self.combiner is not None:
            return self.combiner.combine(preds, features)
        return sum(w * np.asarray(preds[k], dtype=float) for k, w in self.weights.items())


class Ensembler(ABC):
    name: str = ""
    #: True when ``fit`` wants ``features=`` (a DataFrame of the raw input rows aligned with ``y``); the run then
    #: also passes the raw predict frame to ``Ensemble.combine``.
    uses_features: bool = False

    @abstractmethod
    def fit(self, oof: Mapping[int, np.ndarray], y: np.ndarray, metric: Metric, *, seed: int = 0,
            costs: Mapping[int, float] | None = None, max_cost: float | None = None,
            sample_weight: np.ndarray | None = None) -> Ensemble:
        """Choose weights for the members in ``oof`` (trial id -> predictions on the same rows as ``y``).

        ``costs`` (seconds to refit each member) and ``max_cost`` bound the members chosen to what the time
        left can refit; the best single member is always allowed. ``sample_weight`` (one per row of ``y``, or
        None) weighs the rows in every score, as ``Metric.score`` does; the run passes it only when it has
        weights. An ensembler whose ``uses_features`` is True also takes ``features=`` (see above)."""


def as_members(oof: Mapping[int, np.ndarray], sample_weight: np.ndarray | None
               ) -> tuple[list[int], list[np.ndarray], np.ndarray | None]:
    """``(trial ids, their predictions as float arrays, row weights or None)``: what every ensembler starts from."""
    keys = list(oof)
    if not keys:
        raise ValueError("no members to ensemble")
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    return keys, [np.asarray(oof[k], dtype=float) for k in keys], w


def ranked(metric: Metric, y: np.ndarray, preds: list[np.ndarray], w: np.ndarray | None) -> list[int]:
    """Member indices, best single member first (ties keep the order given)."""
    singles = [member_loss(metric, y, p, w) for p in preds]
    return sorted(range(len(preds)), key=lambda j: (singles[j], j))


def member_loss(metric: Metric, y: np.ndarray, pred: np.ndarray, w: np.ndarray | None) -> float:
    """The metric as a loss to minimise; a NaN score (nothing measurable) counts as the worst."""
    value = metric.loss(metric.score(y, pred, sample_weight=w))
    return float(value) if np.isfinite(value) else np.inf


def affordable(order: list[int], cost: np.ndarray, max_cost: float | None) -> list[int]:
    """Indices from ``order`` (best first) whose summed refit costs fit in ``max_cost``; the first always joins."""
    limit = np.inf if max_cost is None else float(max_cost)
    chosen, spent = [order[0]], cost[order[0]]
    for j in order[1:]:
        if spent + cost[j] <= limit:
            chosen.append(j)
            spent += cost[j]
    return chosen
