"""Soft voting: the plain mean of the predictions (probabilities or values) of the top members.

Members are ranked by their own metric on the out-of-fold rows, best first; the ensemble is the mean of the
first ``j`` of them, with ``j`` chosen among ``1..k`` by the metric on those rows (the smallest ``j`` on a tie).
``j = 1`` is the best single member, so the vote is never worse than it there.

With ``costs`` and ``max_cost`` (seconds to refit each member, and the seconds left), a member whose refit would
not fit alongside the better ones is skipped; the best member is always allowed. ``sample_weight`` weighs the
rows in every score. Nothing is random, so the result is the same for every ``seed``.

Hard (majority) voting is not offered: an ``Ensemble`` is weights over members whose probabilities the fitted
pipeline averages, and a majority of predicted labels is not such an average (it would need members to predict
one-hot labels), so it cannot be expressed under that contract.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from forgeml.ensemble.base import Ensemble, Ensembler, affordable, as_members, member_loss, ranked
from forgeml.errors import ConfigError
from forgeml.metrics import Metric


class VotingEnsembler(Ensembler):
    name = "voting"

    def __init__(self, k: int = 5, tol: float = 1e-7) -> None:
        self.k = k
        self.tol = tol

    def fit(self, oof: Mapping[int, np.ndarray], y: np.ndarray, metric: Metric, *, seed: int = 0,
            costs: Mapping[int, float] | None = None, max_cost: float | None = None,
            sample_weight: np.ndarray | None = None) -> Ensemble:
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 1:
            raise ConfigError(f"voting needs k, the most members to average, as a positive integer; got {self.k!r}")
        keys, preds, w = as_members(oof, sample_weight)
        order = ranked(metric, y, preds, w)
        cost = np.array([float((costs or {}).get(k, 0.0)) for k in keys])
        top = affordable(order, cost, max_cost)[:self.k]
        best_j, best_loss = 1, member_loss(metric, y, preds[top[0]], w)
        total = preds[top[0]].copy()
        for j in range(2, len(top) + 1):
            total += preds[top[j - 1]]
            loss = member_loss(metric, y, total / j, w)
            if loss < best_loss - self.tol:
                best_j, best_loss = j, loss
        chosen = top[:best_j]
        blend = sum(preds[i] for i in chosen) / best_j
        return Ensemble(weights={keys[i]: 1.0 / best_j for i in chosen},
                        score=metric.score(y, blend, sample_weight=w))
