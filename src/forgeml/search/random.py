"""Random search: independent draws from the conditional space (the baseline every strategy must beat)."""
from __future__ import annotations

from forgeml.search._util import distinct
from forgeml.search.base import Proposal, Searcher


class RandomSearcher(Searcher):
    """Uniform draws (log-uniform where declared), only active parameters, repeats avoided when possible.

    Never returns ``None`` except after ``max_trials`` proposals.
    """

    name = "random"

    def __init__(self) -> None:
        pass

    def _propose(self, trial_id: int) -> Proposal | None:
        seen = {p.config.id for p, _ in self.history.values() if p is not None}
        return Proposal(distinct(lambda: self.space.sample(self.rng), seen))
