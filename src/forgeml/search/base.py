"""The ``Searcher`` protocol: ask for a configuration, tell its result.

Searchers are pure, seeded state machines: no clock, no I/O, no processes, and they never import models.
They see a ``SearchSpace`` and ``TrialResult``s; they minimise ``TrialResult.loss`` (``None`` = failed).
Several trials may be outstanding at once (parallel workers), so ``ask`` may be called again before ``tell``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forgeml.space import Config, SearchSpace
from forgeml.trial import TrialResult


@dataclass(frozen=True)
class Proposal:
    """A configuration to evaluate, at a fidelity in (0, 1], optionally continuing from a parent trial."""

    config: Config
    fidelity: float = 1.0
    parent_id: int | None = None


class Searcher(ABC):
    """Base class for search strategies. ``__init__`` takes only strategy options; ``setup`` binds a space."""

    name: str = ""
    #: What ``Proposal.fidelity`` is a share of: ``"rows"`` (a subsample, trained afresh) or ``"iterations"``
    #: (rounds or epochs of the family's iterative parameter, continuing from ``parent_id``'s trained state; the
    #: orchestrator then searches only families trained iteratively).
    fidelity_unit: str = "rows"

    def setup(self, space: SearchSpace, *, seed: int = 0, warm_start: Sequence[Config] = (),
              max_trials: int | None = None) -> None:
        """Bind the space. ``warm_start`` configurations are proposed first, in order."""
        self.space = space
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.max_trials = max_trials
        self._queue: list[Config] = [space.complete(c) for c in warm_start]
        self.history: dict[int, tuple[Proposal, TrialResult | None]] = {}

    def ask(self, trial_id: int) -> Proposal | None:
        """The next proposal, or ``None`` when the strategy has nothing more to try right now.

        ``None`` while trials are pending means "waiting" (ask again after a ``tell``); ``None`` with nothing
        pending means the strategy is exhausted (grid done, or ``max_trials`` proposals made, replays included).
        """
        if self.max_trials is not None and len(self.history) >= self.max_trials:
            return None
        if self._queue:
            p = Proposal(self._queue.pop(0))
        else:
            p = self._propose(trial_id)
        if p is not None:
            self.history[trial_id] = (p, None)
        return p

    def tell(self, trial_id: int, result: TrialResult) -> None:
        """Record the outcome of a proposal made by ``ask``."""
        prop = self.history.get(trial_id, (None, None))[0]
        self.history[trial_id] = (prop, result)
        self._observe(trial_id, prop, result)

    def replay(self, trial_id: int, proposal: Proposal, result: TrialResult) -> None:
        """Feed a trial finished in an earlier session (resume), as if it had been asked and told now."""
        self.history[trial_id] = (proposal, None)
        self._queue = [c for c in self._queue if c != proposal.config]
        self.tell(trial_id, result)

    def learn_prior(self, observations: Sequence[tuple[Config, float, float | None]],  # noqa: B027 (optional hook)
                    rerun: Sequence[Config] = ()) -> None:
        """Past ``(config, loss, seconds)`` results on the same kind of data (a past run over the same table;
        seconds scaled to this data, or None), called once after ``setup``. They are not trials here: nothing is
        proposed or counted for them. A model-based strategy learns from them, so that its first proposals go on
        from where that search was, and then need not run the warm starts that search already judged, except
        ``rerun`` (the past best, which the final model needs results of on this data). The default ignores
        them."""

    def set_budget_hint(self, remaining_seconds: float) -> None:  # noqa: B027 (optional hook)
        """Seconds left for searching; cost-aware strategies may use it. Called before each ``ask``."""

    def notice(self) -> str | None:
        """A message for the user about this search (the orchestrator shows each distinct one once), or None."""
        return None

    @abstractmethod
    def _propose(self, trial_id: int) -> Proposal | None:
        """Strategy-specific proposal once the warm-start queue is empty."""

    def _observe(self, trial_id: int, proposal: Proposal | None, result: TrialResult) -> None:  # noqa: B027
        """Strategy-specific update; the default keeps only ``history``."""

    # helpers for strategies
    def completed(self) -> list[tuple[Proposal, TrialResult]]:
        return [(p, r) for p, r in self.history.values() if r is not None and p is not None]

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "n_told": sum(r is not None for _, r in self.history.values())}
