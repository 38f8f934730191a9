"""Synthetic objectives with known optima for the search-strategy tests, and a sequential driver."""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from forgeml.search.base import Searcher
from forgeml.space import Categorical, Condition, Float, Int, SearchSpace
from forgeml.trial import TrialResult, TrialStatus

Objective = Callable[[Mapping[str, Any]], float]

# -- Branin (2-D): three global minima of 0.397887 -----------------------------------------------------------
BRANIN_MIN = 0.39788735772973816


def branin_space() -> SearchSpace:
    return SearchSpace({"x1": Float(-5.0, 10.0), "x2": Float(0.0, 15.0)})


def branin(c: Mapping[str, Any]) -> float:
    x1, x2 = c["x1"], c["x2"]
    b, cc, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + cc * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


# -- Hartmann-6 on [0, 1]^6: global minimum -3.32237 ---------------------------------------------------------
HARTMANN6_MIN = -3.32237
_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
               [17, 8, 0.05, 10, 0.1, 14]])
_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                      [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6_space() -> SearchSpace:
    return SearchSpace({f"x{i}": Float(0.0, 1.0) for i in range(6)})


def hartmann6(c: Mapping[str, Any]) -> float:
    x = np.array([c[f"x{i}"] for i in range(6)])
    return float(-np.sum(_ALPHA * np.exp(-np.sum(_A * (x - _P) ** 2, axis=1))))


# -- A conditional function: a ``family`` choosing between sub-spaces; only "smooth" holds the optimum 0 ------
CONDITIONAL_MIN = 0.0


def conditional_space() -> SearchSpace:
    fam = ("bowl", "smooth", "steps")
    return SearchSpace({
        "family": Categorical(fam),
        "bowl.x": Float(-5.0, 5.0),
        "bowl.y": Float(-5.0, 5.0),
        "smooth.lr": Float(1e-4, 1.0, log=True),
        "smooth.depth": Int(1, 20),
        "smooth.kind": Categorical(("plain", "boosted")),
        "smooth.boost": Float(0.0, 1.0),
        "steps.n": Int(1, 100),
        "steps.mode": Categorical(("a", "b", "c")),
    }, {
        "bowl.x": Condition("family", ("bowl",)),
        "bowl.y": Condition("family", ("bowl",)),
        "smooth.lr": Condition("family", ("smooth",)),
        "smooth.depth": Condition("family", ("smooth",)),
        "smooth.kind": Condition("family", ("smooth",)),
        "smooth.boost": Condition("smooth.kind", ("boosted",)),
        "steps.n": Condition("family", ("steps",)),
        "steps.mode": Condition("family", ("steps",)),
    })


def conditional(c: Mapping[str, Any]) -> float:
    fam = c["family"]
    if fam == "bowl":  # minimum 0.5 at (1, -2)
        return 0.5 + 0.05 * ((c["bowl.x"] - 1) ** 2 + (c["bowl.y"] + 2) ** 2)
    if fam == "smooth":  # minimum 0 at lr = 0.01, depth = 7, kind = boosted, boost = 0.3
        v = 0.15 * (math.log10(c["smooth.lr"]) + 2) ** 2 + 0.01 * (c["smooth.depth"] - 7) ** 2
        return v + (2 * (c["smooth.boost"] - 0.3) ** 2 if c["smooth.kind"] == "boosted" else 0.3)
    return 0.8 + 0.004 * abs(c["steps.n"] - 60) + {"a": 0.2, "b": 0.0, "c": 0.1}[c["steps.mode"]]


OBJECTIVES: dict[str, tuple[Callable[[], SearchSpace], Objective, float]] = {
    "branin": (branin_space, branin, BRANIN_MIN),
    "hartmann6": (hartmann6_space, hartmann6, HARTMANN6_MIN),
    "conditional": (conditional_space, conditional, CONDITIONAL_MIN),
}


def result(trial_id: int, loss: float | None, fidelity: float = 1.0, duration: float = 1.0) -> TrialResult:
    if loss is None:
        return TrialResult(trial_id, TrialStatus.FAILED, fidelity=fidelity, duration=duration)
    return TrialResult(trial_id, TrialStatus.COMPLETE, score=-loss, loss=loss, fidelity=fidelity,
                       duration=duration, fit_time=duration)


def best_found(searcher: Searcher, space: SearchSpace, objective: Objective, n: int, seed: int) -> float:
    """Minimise ``objective`` with ``n`` sequential evaluations; the best value found."""
    searcher.setup(space, seed=seed, max_trials=n)
    best = math.inf
    for t in range(n):
        prop = searcher.ask(t)
        assert prop is not None
        loss = objective(prop.config)
        best = min(best, loss)
        searcher.tell(t, result(t, loss))
    return best
