"""Regularized (aging) evolution: tournament selection, mutation of one choice at a time, oldest member dies.

Real et al. (2019): keep the ``population_size`` most recent results; to propose, draw ``sample_size`` members,
take the best and mutate one of its active parameters. Ageing (rather than killing the worst) keeps the search
from clinging to a lucky early result. A failed trial joins the population with the worst fitness, so a
configuration that crashes is never selected as a parent. Asynchronous: each ask runs its own tournament on the
current population, so parallel asks need no waiting; until ``population_size`` proposals have been made they
are random draws. ``ask`` returns ``None`` only after ``max_trials`` proposals.
"""
from __future__ import annotations

import math
from collections import deque
from typing import Any

from forgeml.search._util import distinct, loss_of, mutate_one
from forgeml.search.base import Proposal, Searcher
from forgeml.space import Config, SearchSpace
from forgeml.trial import TrialResult


class EvolutionSearcher(Searcher):
    """Options: ``population_size`` (P), ``sample_size`` (tournament size S), ``sigma`` (std of a numeric step
    in the unit cube) and ``p_local`` (share of numeric mutations that are local steps, the rest fresh draws).
    Changing a structural choice (``family``) resamples the sub-space that becomes active."""

    name = "evolution"

    def __init__(self, population_size: int = 20, sample_size: int = 10, sigma: float = 0.1,
                 p_local: float = 0.9) -> None:
        self.population_size = population_size
        self.sample_size = sample_size
        self.sigma = sigma
        self.p_local = p_local

    def setup(self, space: SearchSpace, *, seed: int = 0, warm_start=(), max_trials: int | None = None) -> None:
        super().setup(space, seed=seed, warm_start=warm_start, max_trials=max_trials)
        self._population: deque[tuple[Config, float]] = deque(maxlen=max(2, int(self.population_size)))

    def _parent(self) -> Config | None:
        pop = list(self._population)
        if not pop:
            return None
        k = min(max(1, int(self.sample_size)), len(pop))
        idx = sorted(self.rng.choice(len(pop), size=k, replace=False).tolist())
        best = min(idx, key=lambda i: (pop[i][1], i))
        return pop[best][0] if math.isfinite(pop[best][1]) else None

    def _propose(self, trial_id: int) -> Proposal | None:
        seen = {p.config.id for p, _ in self.history.values() if p is not None}
        parent = self._parent() if len(self.history) >= self.population_size else None
        if parent is None:
            return Proposal(distinct(lambda: self.space.sample(self.rng), seen))
        return Proposal(distinct(lambda: mutate_one(self.space, parent, self.rng, sigma=self.sigma,
                                                    p_local=self.p_local), seen))

    def _observe(self, trial_id: int, proposal: Proposal | None, result: TrialResult) -> None:
        if proposal is not None:
            self._population.append((proposal.config, loss_of(result)))

    def state(self) -> dict[str, Any]:
        finite = [loss for _, loss in self._population if math.isfinite(loss)]
        return {**super().state(), "population": len(self._population),
                "population_best": min(finite) if finite else None}
