"""Hyperband: several brackets of asynchronous successive halving that differ in their starting fidelity.

Successive halving must guess how aggressively to stop early; Hyperband hedges that guess. With rungs
``[1/9, 1/3, 1]`` there are three brackets: one starts arms at 1/9, one at 1/3 and one at full fidelity. Each new
arm joins a bracket drawn (with the searcher's seeded generator) in proportion to the number of arms that bracket
gets in one round of the original Hyperband, ``ceil((K+1)/(s+1)) * eta**s``, so each bracket receives a similar
share of the resource. Promotions happen inside a bracket, as in ``halving`` (ASHA), highest fidelity first, so
``ask`` never waits and returns ``None`` only after ``max_trials`` proposals.
"""
from __future__ import annotations

import math

import numpy as np

from forgeml.search.halving import Rungs, _MultiFidelity


class HyperbandSearcher(_MultiFidelity):
    """Options as ``halving``: ``eta``, ``min_fidelity`` (the most aggressive bracket's first rung), ``sampler``,
    ``resource``."""

    name = "hyperband"

    def __init__(self, eta: float = 3, min_fidelity: float = 1 / 9, sampler: str = "random",
                 resource: str = "rows") -> None:
        self.eta = eta
        self.min_fidelity = min_fidelity
        self.sampler = sampler
        self.resource = resource

    def _brackets_for(self, fidelities: list[float]) -> list[Rungs]:
        k = len(fidelities) - 1
        brackets = [Rungs(fidelities[k - s:], float(self.eta)) for s in range(k, -1, -1)]
        weights = np.array([math.ceil((k + 1) / (s + 1)) * float(self.eta) ** s for s in range(k, -1, -1)])
        self._weights = weights / weights.sum()
        return brackets

    def _choose_bracket(self) -> int:
        return int(self.rng.choice(len(self.brackets), p=self._weights))
