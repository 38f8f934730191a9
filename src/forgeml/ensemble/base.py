"""Ensemblers work on prediction arrays only: out-of-fold predictions in, member weights out."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from forgeml.metrics import Metric


@dataclass(frozen=True)
class Ensemble:
    """Non-negative member weights summing to 1, and the ensemble's score on the out-of-fold rows."""

    weights: dict[int, float]
    score: float
    combiner: Any = None

    def combine(self, preds: Mapping[int, np.ndarray], features: Any = None) -> np.ndarray:
        if self.combiner is not None:
            return self.combiner.combine(preds, features)
        return sum(w * np.asarray(preds[k], dtype=float) for k, w in self.weights.items())


class Ensembler(ABC):
    name: str = ""

    @abstractmethod
    def fit(self, oof: Mapping[int, np.ndarray], y: np.ndarray, metric: Metric, *, seed: int = 0,
            costs: Mapping[int, float] | None = None, max_cost: float | None = None,
            sample_weight: np.ndarray | None = None) -> Ensemble:
        """Choose weights for the members in ``oof`` (trial id -> predictions on the same rows as ``y``).

        ``costs`` (seconds to refit each member) and ``max_cost`` bound the members chosen to what the time
        left can refit; the best single member is always allowed. ``sample_weight`` (one per row of ``y``, or
        None) weighs the rows in every score, as ``Metric.score`` does; the run passes it only when it has
        weights."""


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
