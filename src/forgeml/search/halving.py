"""Successive halving, asynchronous (ASHA): cheap low-fidelity evaluations, only the best promoted.

Rungs have fidelities ``eta**-K, ..., 1/eta, 1`` (``1/9, 1/3, 1`` with ``eta=3, min_fidelity=1/9``); a fidelity is
the share of the resource the orchestrator grants (rows, or boosting rounds/epochs). On each ``ask``, from the top
rung down: if an arm is in the best ``1/eta`` of the results told at its rung and has not been promoted yet, it is
promoted one rung up (the same configuration at a higher fidelity); otherwise a new arm starts at the bottom rung: a
warm-start configuration while any is left, else a draw from the inner ``sampler`` (random by default, or
``"bayes"`` / ``"evolution"``, which learn from the bottom-rung results of their own draws). Promotions never wait
for a rung to fill, so parallel workers are never idle and ``ask`` returns ``None`` only after ``max_trials``
proposals. Failed trials count in their rung with the worst loss and are never promoted.

``resource`` says what a fidelity is a share of. ``"rows"`` (default): a row subsample, so every family takes
part and a promoted arm trains afresh on more rows. ``"iterations"``: boosting rounds, trees or epochs on all
rows; only families trained that way take part, and a promoted arm continues the model it trained at the rung
below (``parent_id``), so a promotion costs only the iterations it adds.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from forgeml.errors import ConfigError
from forgeml.search._util import loss_of
from forgeml.search.base import Proposal, Searcher
from forgeml.space import Config, SearchSpace
from forgeml.trial import TrialResult

INNER_SAMPLERS = ("random", "bayes", "evolution")
RESOURCES = ("rows", "iterations")


def rung_fidelities(min_fidelity: float, eta: float) -> list[float]:
    """``[eta**-K, ..., 1/eta, 1]`` with the largest ``K`` such that ``eta**-K >= min_fidelity``."""
    if not 0 < min_fidelity <= 1:
        raise ConfigError(f"min_fidelity must be in (0, 1], got {min_fidelity}")
    if not eta > 1:
        raise ConfigError(f"eta must be > 1 (3 keeps the best third at each rung), got {eta}")
    k = int(math.floor(math.log(1 / min_fidelity) / math.log(eta) + 1e-9))
    return [float(eta ** (i - k)) for i in range(k + 1)]


def next_warm(warm: list[Config], history: dict) -> Config | None:
    """Pop the next warm-start configuration not already run (a resumed run may have replayed it)."""
    seen = {p.config.id for p, _ in history.values() if p is not None}
    while warm:
        config = warm.pop(0)
        if config.id not in seen:
            return config
    return None


class Rungs:
    """ASHA bookkeeping for one bracket: which arm reached which rung, with what loss."""

    def __init__(self, fidelities: list[float], eta: float) -> None:
        self.fidelities = list(fidelities)
        self.eta = eta
        self.losses: list[dict[int, float]] = [{} for _ in self.fidelities]
        self.launched: list[set[int]] = [set() for _ in self.fidelities]
        self.trials: list[dict[int, int]] = [{} for _ in self.fidelities]  # arm -> its trial at each rung
        self.configs: dict[int, Config] = {}

    def start(self, arm: int, config: Config) -> float:
        self.configs[arm] = config
        self.launched[0].add(arm)
        return self.fidelities[0]

    def promotion(self, allow: Callable[[Config, float], bool] | None = None) -> tuple[int, int] | None:
        """The best promotable ``(arm, rung to start)``, highest rung first, or ``None``; ``allow(config,
        fidelity)`` may veto a promotion (cost-aware callers)."""
        for k in reversed(range(len(self.fidelities) - 1)):
            done = self.losses[k]
            n_top = int(len(done) // self.eta)
            ranked = sorted(done.items(), key=lambda kv: (kv[1], kv[0]))[:n_top]
            for arm, loss in ranked:
                if math.isfinite(loss) and arm not in self.launched[k + 1] and \
                        (allow is None or allow(self.configs[arm], self.fidelities[k + 1])):
                    return arm, k + 1
        return None

    def launch(self, arm: int, rung: int) -> float:
        self.launched[rung].add(arm)
        return self.fidelities[rung]

    def record(self, arm: int, rung: int, loss: float, trial_id: int | None = None) -> None:
        self.losses[rung][arm] = loss
        if trial_id is not None:
            self.trials[rung][arm] = trial_id

    def find(self, config: Config) -> int | None:
        return next((a for a, c in self.configs.items() if c.id == config.id), None)

    def counts(self) -> list[int]:
        return [len(d) for d in self.losses]


class _MultiFidelity(Searcher):
    """Brackets of rungs plus an inner sampler for new arms; subclasses choose the brackets."""

    resource: str = "rows"

    @property
    def fidelity_unit(self) -> str:  # type: ignore[override]
        return self.resource

    def _brackets_for(self, fidelities: list[float]) -> list[Rungs]:
        raise NotImplementedError

    def setup(self, space: SearchSpace, *, seed: int = 0, warm_start=(), max_trials: int | None = None) -> None:
        from forgeml.search import make_searcher

        super().setup(space, seed=seed, warm_start=warm_start, max_trials=max_trials)
        if self.resource not in RESOURCES:
            raise ConfigError(f"{self.name}: resource must be one of {', '.join(RESOURCES)}, got {self.resource!r}")
        if self.sampler not in INNER_SAMPLERS:
            raise ConfigError(f"{self.name}: sampler must be one of {', '.join(INNER_SAMPLERS)}, got "
                              f"{self.sampler!r}")
        self.brackets = self._brackets_for(rung_fidelities(float(self.min_fidelity), float(self.eta)))
        self._inner = make_searcher(self.sampler)
        self._inner.setup(space, seed=seed)
        self._running: dict[int, tuple[int, int, int]] = {}  # trial id -> (bracket, arm, rung)
        self._inner_trials: set[int] = set()
        self._warm, self._queue = self._queue, []  # warm starts become the first arms, at the bottom rung

    def _choose_bracket(self) -> int:
        return 0

    def _propose(self, trial_id: int) -> Proposal | None:
        best: tuple[float, int, int, int] | None = None
        for b, rungs in enumerate(self.brackets):
            prom = rungs.promotion()
            if prom is not None and (best is None or rungs.fidelities[prom[1]] > best[0]):
                best = (rungs.fidelities[prom[1]], b, prom[0], prom[1])
        if best is not None:
            _, b, arm, rung = best
            self._running[trial_id] = (b, arm, rung)
            rungs = self.brackets[b]
            parent = rungs.trials[rung - 1].get(arm) if self.resource == "iterations" else None
            return Proposal(rungs.configs[arm], fidelity=rungs.launch(arm, rung), parent_id=parent)
        config = next_warm(self._warm, self.history)
        if config is None:
            inner = self._inner.ask(trial_id)
            if inner is None:
                return None
            config = inner.config
            self._inner_trials.add(trial_id)
        b = self._choose_bracket()
        self._running[trial_id] = (b, trial_id, 0)
        return Proposal(config, fidelity=self.brackets[b].start(trial_id, config))

    def _observe(self, trial_id: int, proposal: Proposal | None, result: TrialResult) -> None:
        entry = self._running.pop(trial_id, None)
        if entry is None:
            entry = self._adopt(trial_id, proposal)
            if entry is None:
                return
        b, arm, rung = entry
        self.brackets[b].record(arm, rung, loss_of(result), trial_id)
        if trial_id in self._inner_trials:
            self._inner_trials.discard(trial_id)
            self._inner.tell(trial_id, result)

    def _adopt(self, trial_id: int, proposal: Proposal | None) -> tuple[int, int, int] | None:
        """Place a trial we did not propose (a resumed one) in the rung of its fidelity; full-fidelity ones are
        kept in ``history`` only, as top-rung results promote nothing."""
        if proposal is None:
            return None
        for b, rungs in enumerate(self.brackets):
            for rung, f in enumerate(rungs.fidelities[:-1]):
                if abs(f - proposal.fidelity) < 1e-9:
                    arm = rungs.find(proposal.config)
                    if arm is None:
                        arm = trial_id
                        rungs.configs[arm] = proposal.config
                    rungs.launched[rung].add(arm)
                    return b, arm, rung
        return None

    def state(self) -> dict[str, Any]:
        return {**super().state(), "rung_fidelities": [r.fidelities for r in self.brackets],
                "rung_counts": [r.counts() for r in self.brackets]}


class HalvingSearcher(_MultiFidelity):
    """Asynchronous successive halving. Options: ``eta`` (keep the best ``1/eta`` per rung), ``min_fidelity``
    (the bottom rung's share of the resource), ``sampler`` (how new arms are drawn), ``resource`` (``"rows"``
    or ``"iterations"``)."""

    name = "halving"

    def __init__(self, eta: float = 3, min_fidelity: float = 1 / 9, sampler: str = "random",
                 resource: str = "rows") -> None:
        self.eta = eta
        self.min_fidelity = min_fidelity
        self.sampler = sampler
        self.resource = resource

    def _brackets_for(self, fidelities: list[float]) -> list[Rungs]:
        return [Rungs(fidelities, float(self.eta))]
