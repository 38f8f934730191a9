"""Ensembler plug-ins: the best single member, and an equal-weight average of the best members."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from forgeml.ensemble import Ensemble, Ensembler
from forgeml.metrics import Metric


def _ranked(oof: Mapping[int, np.ndarray], y: np.ndarray, metric: Metric) -> list[int]:
    """Members best first by their own score (ties keep the order given)."""
    losses = {k: metric.loss(metric.score(y, p)) for k, p in oof.items()}
    return sorted(oof, key=lambda k: losses[k])


class BestSingleEnsembler(Ensembler):
    name = "best_single"

    def fit(self, oof, y, metric, *, seed=0, costs=None, max_cost=None) -> Ensemble:
        best = _ranked(oof, y, metric)[0]
        return Ensemble(weights={best: 1.0}, score=metric.score(y, oof[best]))


class AverageEnsembler(Ensembler):
    """Average the best ``size`` members with equal weights, while their refit costs fit in ``max_cost``."""

    name = "average"

    def __init__(self, size: int = 3) -> None:
        self.size = size

    def fit(self, oof, y, metric, *, seed=0, costs=None, max_cost=None) -> Ensemble:
        ranked = _ranked(oof, y, metric)
        chosen, spent = [ranked[0]], float((costs or {}).get(ranked[0], 0.0))  # the best is always allowed
        for k in ranked[1:self.size]:
            cost = float((costs or {}).get(k, 0.0))
            if max_cost is None or spent + cost <= max_cost:
                chosen.append(k)
                spent += cost
        blend = sum(np.asarray(oof[k], dtype=float) for k in chosen) / len(chosen)
        return Ensemble(weights={k: 1.0 / len(chosen) for k in chosen}, score=metric.score(y, blend))
