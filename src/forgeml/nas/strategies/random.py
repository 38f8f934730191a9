"""Random search over the NAS space, with the shared multi-fidelity promotion: the control every strategy must
beat."""
from __future__ import annotations

from forgeml.nas.strategies._blackbox import BlackBoxStrategy
from forgeml.search.base import Searcher
from forgeml.search.random import RandomSearcher


class RandomNAS(BlackBoxStrategy):
    name = "random"

    def make_searcher(self) -> Searcher:
        return RandomSearcher()
