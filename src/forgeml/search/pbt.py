"""Population-based training: members train in steps; weak ones copy a strong one's state and perturb it.

Fidelity semantics (``fidelity_unit = "iterations"``): a member trains in ``n_steps`` increments; its trial for
step ``k`` (1-based) has ``fidelity = k / n_steps``, the *cumulative* share of the iterative resource (boosting
rounds, trees, epochs) the member has consumed when that trial ends. ``parent_id`` names the trial whose trained
state the trial continues from: the member's own previous trial, or, after an exploit, the donor's trial at the
same step. forgeml's evaluator keeps each trial's per-fold models and trains only the increment from the
parent's (``ModelFamily.continue_from``: LightGBM, XGBoost and CatBoost boost on from the copied trees, forests
grow more trees, the MLP trains on from the copied weights). An evaluator that ignores ``parent_id`` trains
from scratch up to ``fidelity``: PBT still works, it only costs more.

Every ``interval`` steps, a member whose loss at its current step is in the bottom ``quantile`` of the members
that reached that step copies a member from the top ``quantile`` (exploit: its configuration and, through
``parent_id``, its state) and perturbs it (explore: numbers ×0.8 or ×1.2 within bounds, categoricals redrawn
with ``resample_probability``). Structural choices (``family``, preprocessing) are never perturbed: the member
explores within the family of the state it copied. Members of a new round train from scratch, so they
may change anything. A member whose trial failed copies a donor if there is one,
else restarts from a fresh random configuration. When every member has reached fidelity 1 a new round starts
from perturbed copies of the best half plus fresh draws.

Because fidelity counts iterations, the orchestrator gives PBT only the families trained iteratively. Explore
never changes parameters marked ``fixed_in_training`` (preprocessing, the network's shape), so a copied state
stays valid. A member's final model is refit on all rows by replaying its schedule: each step's settings for
the iterations that step added, continuing one model, as its validated models were trained.
The first ``population_size`` warm-start configurations become members (any others are not used).
``ask`` returns ``None`` while every unfinished member is busy (waiting; ask again after a ``tell``), or after
``max_trials`` proposals.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from forgeml.errors import ConfigError
from forgeml.search._util import loss_of, perturb
from forgeml.search.base import Proposal, Searcher
from forgeml.space import Config, SearchSpace
from forgeml.trial import TrialResult


@dataclass
class Member:
    """One member: its current configuration, completed steps, and per-step losses, trials and configs."""

    index: int
    config: Config
    step: int = 0
    busy: bool = False
    losses: dict[int, float] = field(default_factory=dict)
    trials: dict[int, int | None] = field(default_factory=dict)
    configs: dict[int, Config] = field(default_factory=dict)
    decided: int = -1  # the step at which exploit/explore was last considered


@dataclass(frozen=True)
class Exploit:
    """A record of one exploit: ``member`` copied ``donor`` at ``step`` from trial ``parent_id``."""

    trial_id: int
    member: int
    donor: int
    step: int
    parent_id: int
    copied: Config
    config: Config


class PBTSearcher(Searcher):
    """Options: ``population_size``, ``n_steps`` (fidelity increments per member), ``interval`` (steps between
    exploit decisions), ``quantile`` (share of members copied / copying), ``resample_probability`` and
    ``perturb_factors`` (explore)."""

    name = "pbt"
    fidelity_unit = "iterations"

    def __init__(self, population_size: int = 8, n_steps: int = 4, interval: int = 1, quantile: float = 0.25,
                 resample_probability: float = 0.2, perturb_factors: tuple[float, float] = (0.8, 1.2)) -> None:
        self.population_size = population_size
        self.n_steps = n_steps
        self.interval = interval
        self.quantile = quantile
        self.resample_probability = resample_probability
        self.perturb_factors = perturb_factors

    def setup(self, space: SearchSpace, *, seed: int = 0, warm_start=(), max_trials: int | None = None) -> None:
        super().setup(space, seed=seed, warm_start=warm_start, max_trials=max_trials)
        if int(self.population_size) < 2 or int(self.n_steps) < 1 or int(self.interval) < 1:
            raise ConfigError("pbt needs population_size >= 2, n_steps >= 1 and interval >= 1, got "
                              f"{self.population_size}, {self.n_steps}, {self.interval}")
        if not 0 < self.quantile <= 0.5:
            raise ConfigError(f"pbt quantile must be in (0, 0.5], got {self.quantile}")
        starts, self._queue = self._queue[: int(self.population_size)], []  # warm starts seed the population
        self.members = [Member(i, c) for i, c in enumerate(starts)]
        self.members += [Member(i, space.sample(self.rng)) for i in range(len(self.members),
                                                                       int(self.population_size))]
        self._running: dict[int, Member] = {}
        self.exploits: list[Exploit] = []
        self.round = 0

    # -- ask ----------------------------------------------------------------------------------------------
    def _explore(self, config: Config, keep_trained_state: bool = True) -> Config:
        return perturb(self.space, config, self.rng, factors=tuple(self.perturb_factors),
                       resample_probability=self.resample_probability, keep_trained_state=keep_trained_state)

    def _new_round(self) -> None:
        ranked = sorted(self.members, key=lambda m: (m.losses.get(m.step, math.inf), m.index))
        keep = [m.config for m in ranked[: len(ranked) // 2] if math.isfinite(m.losses.get(m.step, math.inf))]
        configs = [self._explore(c, keep_trained_state=False) for c in keep]  # they start from scratch
        configs += [self.space.sample(self.rng) for _ in range(len(self.members) - len(configs))]
        self.members = [Member(i, c) for i, c in enumerate(configs)]
        self.round += 1

    def _donor(self, m: Member) -> Member | None:
        """A top-quantile member at ``m``'s step if ``m`` is in the bottom quantile there, else ``None``."""
        s = m.step
        peers = [p for p in self.members if s in p.losses]
        ranked = sorted(peers, key=lambda p: (p.losses[s], p.index))
        n_q = int(math.floor(self.quantile * len(ranked)))
        failed = not math.isfinite(m.losses.get(s, math.inf))
        top = [p for p in ranked[: max(n_q, 1 if failed else 0)]
               if p is not m and math.isfinite(p.losses[s]) and p.trials.get(s) is not None]
        bottom = failed or (n_q > 0 and m in ranked[len(ranked) - n_q:])
        if not top or not bottom:
            return None
        return top[int(self.rng.integers(len(top)))]

    def _propose(self, trial_id: int) -> Proposal | None:
        if all(m.step >= self.n_steps and not m.busy for m in self.members):
            self._new_round()
        idle = [m for m in self.members if not m.busy and m.step < self.n_steps]
        if not idle:
            return None
        m = min(idle, key=lambda x: (x.step, x.index))
        parent = m.trials.get(m.step)
        failed = m.step > 0 and not math.isfinite(m.losses.get(m.step, math.inf))
        if m.step > 0 and m.decided != m.step and (failed or m.step % int(self.interval) == 0):
            m.decided = m.step
            donor = self._donor(m)
            if donor is not None:
                copied = donor.configs[m.step]
                parent = donor.trials[m.step]
                m.config = self._explore(copied)
                self.exploits.append(Exploit(trial_id, m.index, donor.index, m.step, parent, copied, m.config))
            elif failed:  # nothing to copy: start this member again from scratch
                m.config, m.step, parent = self.space.sample(self.rng), 0, None
                m.losses, m.trials, m.configs, m.decided = {}, {}, {}, -1
        m.busy = True
        self._running[trial_id] = m
        return Proposal(m.config, fidelity=(m.step + 1) / int(self.n_steps), parent_id=parent)

    # -- tell ---------------------------------------------------------------------------------------------
    def _observe(self, trial_id: int, proposal: Proposal | None, result: TrialResult) -> None:
        m = self._running.pop(trial_id, None)
        if m is None or proposal is None:
            return  # a replayed trial: its trained state belongs to a past population
        m.busy = False
        m.step += 1
        loss = loss_of(result)
        m.losses[m.step] = loss
        m.trials[m.step] = trial_id if math.isfinite(loss) else None
        m.configs[m.step] = proposal.config

    def state(self) -> dict[str, Any]:
        return {**super().state(), "round": self.round, "n_exploits": len(self.exploits),
                "steps": [m.step for m in self.members]}
