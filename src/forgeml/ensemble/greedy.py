"""Greedy ensemble selection with replacement (Caruana et al., 2004).

Repeatedly add (with replacement) the member whose inclusion gives the best metric for the averaged
predictions, for ``rounds`` rounds, and keep the best prefix; weights are the selection counts. The first pick
is the best single member, so the ensemble is never worse than it on these rows. Ties break on the member order
given, so the result is deterministic.

With ``costs`` and ``max_cost`` (seconds to refit each member, and the seconds left), a member not yet chosen
joins only while the chosen members' costs still fit: the ensemble that is scored is one the budget can refit.
The first pick is exempt, since the run always refits its best member.

With ``sample_weight`` (one weight per row of ``y``) every blend is scored with those weights.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from forgeml.ensemble.base import Ensemble, Ensembler, as_members
from forgeml.metrics import Metric


class GreedyEnsembler(Ensembler):
    name = "greedy"

    def __init__(self, rounds: int = 40, tol: float = 1e-7) -> None:
        self.rounds = rounds
        self.tol = tol

    def fit(self, oof: Mapping[int, np.ndarray], y: np.ndarray, metric: Metric, *, seed: int = 0,
            costs: Mapping[int, float] | None = None, max_cost: float | None = None,
            sample_weight: np.ndarray | None = None) -> Ensemble:
        keys, preds, w = as_members(oof, sample_weight)
        loss = lambda p: metric.loss(metric.score(y, p, sample_weight=w))  # noqa: E731
        counts = np.zeros(len(keys), dtype=int)
        current = np.zeros_like(preds[0])
        cost = np.array([float((costs or {}).get(k, 0.0)) for k in keys])
        limit = np.inf if max_cost is None else float(max_cost)
        best_loss, best_counts = np.inf, None
        for n in range(self.rounds):
            spent = cost[counts > 0].sum()
            cand = [loss((current * n + p) / (n + 1))
                    if n == 0 or counts[j] > 0 or spent + cost[j] <= limit else np.inf
                    for j, p in enumerate(preds)]
            i = int(np.argmin(cand))
            counts[i] += 1
            current = (current * n + preds[i]) / (n + 1)
            if cand[i] < best_loss - self.tol:
                best_loss, best_counts = cand[i], counts.copy()
        counts = best_counts
        current = sum(c * p for c, p in zip(counts, preds)) / counts.sum()
        total = counts.sum()
        weights = {keys[i]: counts[i] / total for i in range(len(keys)) if counts[i] > 0}
        return Ensemble(weights=weights, score=metric.score(y, current, sample_weight=w))
