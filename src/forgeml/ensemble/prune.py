"""Dropping an ensemble's members that cost more to predict with than they add.

Greedy selection keeps any member that lowers the loss on the out-of-fold rows, however little: a member at a
weight of 1/40 may buy a ten-thousandth of ROC AUC on those rows (less than their noise) and cost as much to
predict with as the rest of the ensemble. ``prune`` removes members one at a time, each time the one costliest to
predict with (by ``cost``; the lightest-weighted on a tie) among those whose removal keeps the ensemble's loss on
the rows within an allowance: ``slack`` times what the ensemble gains over its best member alone. So a pruned
ensemble keeps at least ``1 - slack`` of its gain from ensembling on these rows, and an ensemble that gains
nothing keeps only members whose removal would raise its loss. A dropped member's weight goes either to the
member whose predictions are nearest its own (a near-copy then stands in for it) or to all the others in
proportion to their weights, whichever blend scores better.

``prune_to_cost`` answers a hard limit instead (``AutoML(infer_limit=...)``): it drops members until the rest
cost at most ``max_cost``, first any member over the limit by itself, then each time the one that gives up the
least loss per second saved; the best member within the limit alone is taken when it scores better.

Only weighted sums are pruned: an ensemble whose combiner reads its members' predictions (stacking, hard voting)
is returned as it is. Nothing is random, so the result depends only on the inputs.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from forgeml.ensemble.base import Ensemble, member_loss
from forgeml.metrics import Metric

#: the share of an ensemble's gain over its best member (on the rows it was fitted on) that pruning may give up
SLACK = 0.1


def prune(ens: Ensemble, oof: Mapping[int, np.ndarray], y: np.ndarray, metric: Metric, cost: Mapping[int, float],
          *, slack: float = SLACK, sample_weight: np.ndarray | None = None) -> Ensemble:
    """``ens`` without the members it can spare (module docstring); ``oof`` holds each member's predictions on
    the rows of ``y`` and ``cost`` their predict seconds (any unit; a member missing counts 0)."""
    weights = {k: float(v) for k, v in ens.weights.items() if v > 0}
    if ens.combiner is not None or len(weights) < 2 or slack <= 0:
        return ens
    blends = _Blends(oof, y, metric, sample_weight, weights)
    preds, loss, without = blends.preds, blends.loss, blends.without
    start = len(weights)
    total = sum(weights.values())
    weights = {k: v / total for k, v in weights.items()}
    full = loss(weights)
    alone = min(loss({k: 1.0}) for k in preds)
    if not np.isfinite(full) or not np.isfinite(alone):
        return ens
    allowed = full + slack * max(alone - full, 0.0)
    while len(weights) > 1:
        spare = {}  # member -> the blend without it, for the members whose removal stays within the allowance
        for k in weights:
            lost, blend = without(weights, k)
            if lost <= allowed:
                spare[k] = blend
        if not spare:
            break
        drop = min(spare, key=lambda k: (-float(cost.get(k, 0.0)), weights[k], k))
        weights = spare[drop]
    if len(weights) == start:
        return ens
    return blends.ensemble(weights)


def prune_to_cost(ens: Ensemble, oof: Mapping[int, np.ndarray], y: np.ndarray, metric: Metric,
                  cost: Mapping[int, float], max_cost: float, *, sample_weight: np.ndarray | None = None
                  ) -> Ensemble | None:
    """``ens`` (or the best of its members alone) with members dropped until their summed ``cost`` is at most
    ``max_cost`` (module docstring); ``ens`` itself when it already is, None when no member is within it or
    ``ens`` is not a weighted sum. The score is on the rows of ``y``."""
    weights = {k: float(v) for k, v in ens.weights.items() if v > 0}
    if not weights:
        return None
    each = {k: float(cost.get(k, 0.0)) for k in weights}

    def spent(ws: Mapping[int, float]) -> float:
        return sum(each[k] for k in ws)

    if spent(weights) <= max_cost:
        return ens
    fits = [k for k in weights if each[k] <= max_cost]
    if ens.combiner is not None or not fits:
        return None
    blends = _Blends(oof, y, metric, sample_weight, weights)
    total = sum(weights.values())
    weights = {k: v / total for k, v in weights.items()}
    for k in sorted(set(weights) - set(fits), key=lambda j: (-each[j], j)):
        weights = blends.without(weights, k)[1]  # over the limit alone: it cannot stay
    while spent(weights) > max_cost and len(weights) > 1:
        now = blends.loss(weights)
        rate = {}
        for k in weights:
            lost, blend = blends.without(weights, k)
            delta = lost - now if np.isfinite(now) else 0.0  # nothing measurable yet: the costliest goes
            rate[k] = (delta / max(each[k], 1e-12), blend)
        drop = min(rate, key=lambda k: (rate[k][0], -each[k], k))
        weights = rate[drop][1]
    alone_loss, alone = min((blends.loss({k: 1.0}), k) for k in fits)
    if alone_loss < blends.loss(weights):
        weights = {alone: 1.0}
    return blends.ensemble(weights)


class _Blends:
    """Weighted sums of the members' predictions on the rows of ``y``, scored with ``metric``."""

    def __init__(self, oof: Mapping[int, np.ndarray], y: np.ndarray, metric: Metric,
                 sample_weight: np.ndarray | None, members: Mapping[int, float]):
        self.preds = {k: np.asarray(oof[k], dtype=float) for k in members}
        self.y, self.metric = y, metric
        self.w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)

    def loss(self, ws: Mapping[int, float]) -> float:
        return member_loss(self.metric, self.y, sum(v * self.preds[k] for k, v in ws.items()), self.w)

    def without(self, ws: dict[int, float], k: int) -> tuple[float, dict[int, float]]:
        """The better blend without ``k``: its weight to its nearest member, or to all in proportion."""
        preds = self.preds
        rest = {j: v for j, v in ws.items() if j != k}
        total = sum(rest.values())
        spread = {j: v / total for j, v in rest.items()}
        near = min(rest, key=lambda j: (float(np.mean((preds[j] - preds[k]) ** 2)), j))
        moved = {**rest, near: rest[near] + ws[k]}
        return min(((self.loss(c), c) for c in (moved, spread)), key=lambda lc: lc[0])

    def ensemble(self, ws: dict[int, float]) -> Ensemble:
        blend = sum(v * self.preds[k] for k, v in ws.items())
        return Ensemble(weights=ws, score=self.metric.score(self.y, blend, sample_weight=self.w))
