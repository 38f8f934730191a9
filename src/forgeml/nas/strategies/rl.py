"""A reinforcement-learning controller (Zoph and Le, 2017, in its simplest form): a factorised softmax policy
over every choice of the space, trained with REINFORCE on validation accuracy with a moving-average baseline.

Each parameter has its own logits (numbers are cut into ``bins`` points of the unit cube); a proposal samples the
active parameters in order, so conditions hold. After each result the chosen logits move by
``lr * (reward - baseline) / spread * (onehot - p)``, the gradient of ``log p(choice)`` (``spread``: the
running root-mean-square advantage, since accuracies differ by hundredths). A failed candidate earns the
lowest reward seen so far, so the policy learns to avoid what breaks.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from forgeml.nas.strategies._blackbox import BlackBoxStrategy
from forgeml.search.base import Proposal, Searcher
from forgeml.space import Categorical, Config, Constant, Param, SearchSpace
from forgeml.trial import TrialResult


class ReinforceSearcher(Searcher):
    """Options: ``lr`` (policy step), ``baseline_decay`` (moving-average weight of the old baseline), ``bins``."""

    name = "rl"

    def __init__(self, lr: float = 0.5, baseline_decay: float = 0.8, bins: int = 5) -> None:
        self.lr = lr
        self.baseline_decay = baseline_decay
        self.bins = bins

    def setup(self, space: SearchSpace, *, seed: int = 0, warm_start=(), max_trials: int | None = None) -> None:
        super().setup(space, seed=seed, warm_start=warm_start, max_trials=max_trials)
        self.logits = {name: np.zeros(self._n_choices(p)) for name, p in space.items()}
        self.baseline: float | None = None
        self._spread = 0.0
        self._worst: float | None = None

    def _n_choices(self, p: Param) -> int:
        if isinstance(p, Constant):
            return 1
        if isinstance(p, Categorical):
            return len(p.choices)
        return max(1, int(self.bins))

    def _value(self, p: Param, k: int) -> Any:
        if isinstance(p, Constant):
            return p.value
        if isinstance(p, Categorical):
            return p.choices[k]
        return p.from_unit((k + 0.5) / self._n_choices(p))

    def _index(self, p: Param, value: Any) -> int:
        if isinstance(p, Constant):
            return 0
        if isinstance(p, Categorical):
            return next(i for i, c in enumerate(p.choices) if c == value)
        n = self._n_choices(p)
        return int(min(n - 1, max(0, np.floor(p.to_unit(value) * n))))

    def probabilities(self, name: str) -> np.ndarray:
        z = self.logits[name] - self.logits[name].max()
        e = np.exp(z)
        return e / e.sum()

    def _propose(self, trial_id: int) -> Proposal | None:
        values: dict[str, Any] = {}
        for name, p in self.space.items():
            if self.space.is_active(name, values):
                values[name] = self._value(p, int(self.rng.choice(len(self.logits[name]),
                                                                   p=self.probabilities(name))))
        return Proposal(Config(values))

    def _observe(self, trial_id: int, proposal: Proposal | None, result: TrialResult) -> None:
        if proposal is None:
            return
        if result.ok and result.score is not None and np.isfinite(result.score):
            reward = float(result.score)
            self._worst = reward if self._worst is None else min(self._worst, reward)
        elif self._worst is not None:
            reward = self._worst
        else:
            return  # nothing to compare a failure with yet
        if self.baseline is None:
            self.baseline = reward
        advantage = reward - self.baseline
        # rewards are accuracies a few hundredths apart: scale the advantage by their running spread
        self._spread = self.baseline_decay * self._spread + (1 - self.baseline_decay) * advantage ** 2
        advantage /= max(float(np.sqrt(self._spread)), 1e-3)
        for name, value in proposal.config.items():
            if name not in self.logits:
                continue
            p = self.space[name]
            grad = -self.probabilities(name)
            grad[self._index(p, value)] += 1.0
            self.logits[name] += self.lr * advantage * grad
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward


class ReinforceNAS(BlackBoxStrategy):
    name = "rl"

    def __init__(self, lr: float = 0.5, baseline_decay: float = 0.8) -> None:
        self.lr = lr
        self.baseline_decay = baseline_decay

    def make_searcher(self) -> Searcher:
        return ReinforceSearcher(lr=self.lr, baseline_decay=self.baseline_decay)
