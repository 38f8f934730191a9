"""Voting over the top members: soft (the plain mean of their probabilities or predictions) or hard (the
majority of their predicted labels; the median of their predictions for regression).

Members are ranked by their own metric on the out-of-fold rows, best first; the ensemble is the vote of the
first ``j`` of them, with ``j`` chosen among ``1..k`` by the metric on those rows (the smallest ``j`` on a tie).
``j = 1`` is the best single member itself (its own probabilities, also for hard voting), so the vote is never
worse than it there.

A hard vote is an ``Ensemble`` with a ``HardVote`` combiner: for each row it returns the share of the ``j``
members whose most probable class is each class, so the rows sum to 1 and the predicted label is the majority;
a tie goes to the class of the best-ranked member among the tied (each member's vote carries a tiny bonus that
halves with its rank). The weights are ``1 / j`` each. Shares of 0 make hard voting a poor choice under log loss;
the metric decides.

With ``costs`` and ``max_cost`` (seconds to refit each member, and the seconds left), a member whose refit would
not fit alongside the better ones is skipped; the best member is always allowed. ``sample_weight`` weighs the
rows in every score. Nothing is random, so the result is the same for every ``seed``.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from forgeml.ensemble.base import Combiner, Ensemble, Ensembler, affordable, as_members, member_loss, ranked
from forgeml.errors import ConfigError
from forgeml.metrics import Metric

_BONUS = 1e-6  # tie-break: the member ranked r adds _BONUS * 2**-r to its vote


class HardVote(Combiner):
    """The majority of the members' predicted labels as vote shares per class; the median for regression.

    ``members`` are best-ranked first: on a tie the class of the best-ranked member among the tied wins."""

    def __init__(self, members: tuple[int, ...]) -> None:
        self.members = tuple(int(m) for m in members)

    def combine(self, preds: Mapping[int, np.ndarray], features=None) -> np.ndarray:
        p = [np.asarray(preds[m], dtype=float) for m in self.members]
        if p[0].ndim == 1:
            return np.median(np.column_stack(p), axis=1)
        n, k = p[0].shape
        votes = np.zeros((n, k))
        rows = np.arange(n)
        for r, q in enumerate(p):
            votes[rows, q.argmax(axis=1)] += 1.0 + _BONUS * 2.0 ** -r
        return votes / votes.sum(axis=1, keepdims=True)

    def state(self) -> tuple:
        return (self.members,)

    def describe(self) -> str:
        return "voting(hard)"


class VotingEnsembler(Ensembler):
    name = "voting"

    def __init__(self, k: int = 5, tol: float = 1e-7, voting: str = "soft") -> None:
        self.k = k
        self.tol = tol
        self.voting = voting

    def fit(self, oof: Mapping[int, np.ndarray], y: np.ndarray, metric: Metric, *, seed: int = 0,
            costs: Mapping[int, float] | None = None, max_cost: float | None = None,
            sample_weight: np.ndarray | None = None) -> Ensemble:
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 1:
            raise ConfigError(f"voting needs k, the most members to average, as a positive integer; got {self.k!r}")
        if self.voting not in ("soft", "hard"):
            raise ConfigError(f"voting must be 'soft' or 'hard'; got {self.voting!r}")
        keys, preds, w = as_members(oof, sample_weight)
        order = ranked(metric, y, preds, w)
        cost = np.array([float((costs or {}).get(k, 0.0)) for k in keys])
        top = affordable(order, cost, max_cost)[:self.k]
        best_j, best_loss = 1, member_loss(metric, y, preds[top[0]], w)
        total = preds[top[0]].copy()
        oof_top = {keys[i]: preds[i] for i in top}
        for j in range(2, len(top) + 1):
            total += preds[top[j - 1]]
            if self.voting == "soft":
                blend = total / j
            else:
                blend = HardVote(tuple(keys[i] for i in top[:j])).combine(oof_top)
            loss = member_loss(metric, y, blend, w)
            if loss < best_loss - self.tol:
                best_j, best_loss = j, loss
        chosen = top[:best_j]
        weights = {keys[i]: 1.0 / best_j for i in chosen}
        if best_j == 1 or self.voting == "soft":
            blend = sum(preds[i] for i in chosen) / best_j
            return Ensemble(weights=weights, score=metric.score(y, blend, sample_weight=w))
        vote = HardVote(tuple(keys[i] for i in chosen))
        return Ensemble(weights=weights, score=metric.score(y, vote.combine(oof_top), sample_weight=w), combiner=vote)
