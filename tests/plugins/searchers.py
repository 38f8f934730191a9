"""A search strategy plug-in: the warm-start defaults first, then independent random draws."""
from __future__ import annotations

from forgeml.search import Proposal, Searcher


class PlainRandomSearcher(Searcher):
    name = "plain_random"

    def __init__(self, repeats: bool = False) -> None:
        self.repeats = repeats  # options are stored under their own names (the battery checks it)

    def _propose(self, trial_id: int) -> Proposal | None:
        seen = {p.config.id for p, _ in self.history.values() if p is not None}
        for _ in range(100):  # avoid proposing a configuration twice, when the space allows it
            config = self.space.sample(self.rng)
            if self.repeats or config.id not in seen:
                break
        return Proposal(config)
