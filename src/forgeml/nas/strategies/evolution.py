"""Regularised (aging) evolution (Real et al., 2019) over the NAS space: tournaments of ``sample_size`` among the
``population_size`` most recent candidates, the winner mutated in one choice, the oldest member dropped. The
searcher is forgeml's ``EvolutionSearcher``; this file adds the NAS multi-fidelity loop. The population is small
(6) because a few minutes train only a few dozen convolutional candidates: with 12, a 150 s search on digits
never got past the random first generation."""
from __future__ import annotations

from forgeml.nas.strategies._blackbox import BlackBoxStrategy
from forgeml.search.base import Searcher
from forgeml.search.evolution import EvolutionSearcher


class EvolutionNAS(BlackBoxStrategy):
    name = "evolution"

    def __init__(self, population_size: int = 6, sample_size: int = 3) -> None:
        self.population_size = population_size
        self.sample_size = sample_size

    def make_searcher(self) -> Searcher:
        return EvolutionSearcher(population_size=self.population_size, sample_size=self.sample_size,
                                 sigma=0.15, p_local=0.8)
