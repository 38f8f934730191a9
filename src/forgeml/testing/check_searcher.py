"""The conformance battery every search strategy must pass (run over ``SEARCHERS`` by our tests).

``check_searcher(factory)`` builds fresh searchers with ``factory()`` and drives them on a small conditional
space that has every parameter kind (log floats and ints, categoricals with ``None`` and tuple choices, a
constant, a nested condition), with simulated results that sometimes fail. It raises ``AssertionError`` naming
the check and the problem, and returns the names of the checks it ran so callers can assert none was skipped.
"""
from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from forgeml.search.base import Proposal, Searcher
from forgeml.space import Categorical, Condition, Config, Constant, Float, Int, SearchSpace
from forgeml.trial import ErrorInfo, TrialResult, TrialStatus

Factory = Callable[[], Searcher]


def battery_space() -> SearchSpace:
    """Three families, one nested condition, and every parameter kind."""
    fam = ("linear", "tree", "knn")
    return SearchSpace({
        "family": Categorical(fam, default="tree"),
        "scaler": Categorical(("none", "standard")),
        "seed": Constant(7),
        "linear.C": Float(1e-3, 1e3, log=True),
        "linear.penalty": Categorical(("l1", "l2", None)),
        "tree.depth": Int(1, 12),
        "tree.lr": Float(0.01, 0.3, log=True),
        "tree.leaves": Int(2, 256, log=True),
        "tree.booster": Categorical(("gbdt", "dart")),
        "tree.drop_rate": Float(0.0, 0.5),
        "knn.k": Int(1, 50),
        "knn.weights": Categorical(((1, 2), "distance")),
    }, {
        "linear.C": Condition("family", ("linear",)),
        "linear.penalty": Condition("family", ("linear",)),
        "tree.depth": Condition("family", ("tree",)),
        "tree.lr": Condition("family", ("tree",)),
        "tree.leaves": Condition("family", ("tree",)),
        "tree.booster": Condition("family", ("tree",)),
        "tree.drop_rate": Condition("tree.booster", ("dart",)),
        "knn.k": Condition("family", ("knn",)),
        "knn.weights": Condition("family", ("knn",)),
    })


def battery_loss(config: Config) -> float:
    """A smooth, deterministic loss with a different level per family."""
    fam = config["family"]
    if fam == "linear":
        return 1.0 + (math.log10(config["linear.C"]) - 1) ** 2 / 9 + 0.1 * (config["linear.penalty"] is None)
    if fam == "tree":
        return 0.5 + (config["tree.depth"] - 6) ** 2 / 36 + abs(math.log(config["tree.lr"] / 0.05)) / 5 + \
            0.05 * config.get("tree.drop_rate", 0.0)
    return 1.5 + abs(config["knn.k"] - 15) / 50


def _result(trial_id: int, prop: Proposal, fail_every: int) -> TrialResult:
    """The simulated outcome: every ``fail_every``-th trial fails in one of several ways, the rest complete."""
    if fail_every and trial_id % fail_every == fail_every - 1:
        kind = (trial_id // fail_every) % 4
        if kind == 3:  # "complete" but with no usable loss
            return TrialResult(trial_id, TrialStatus.COMPLETE, loss=float("nan"), fidelity=prop.fidelity)
        status = (TrialStatus.FAILED, TrialStatus.TIMEOUT, TrialStatus.CRASHED)[kind]
        return TrialResult(trial_id, status, error=ErrorInfo("ValueError", "simulated"), duration=0.5,
                           fidelity=prop.fidelity)
    loss = battery_loss(prop.config) + 0.2 * (1 - prop.fidelity)
    return TrialResult(trial_id, TrialStatus.COMPLETE, score=-loss, loss=loss, fit_time=0.1,
                       duration=0.2 + prop.fidelity, fidelity=prop.fidelity)


def _check_proposal(space: SearchSpace, prop: Any, asked: set[int], where: str) -> None:
    assert isinstance(prop, Proposal), f"{where}: ask returned {type(prop).__name__}, not a Proposal or None"
    assert isinstance(prop.config, Config), f"{where}: proposal config is a {type(prop.config).__name__}"
    space.validate(prop.config)  # raises ConfigError on an inactive, missing or out-of-domain value
    assert 0 < prop.fidelity <= 1, f"{where}: fidelity {prop.fidelity} is outside (0, 1]"
    assert prop.parent_id is None or prop.parent_id in asked, \
        f"{where}: parent_id {prop.parent_id} is not a trial this searcher proposed"


def drive(searcher: Searcher, space: SearchSpace, *, n: int, seed: int = 0, capacity: int = 1,
          fail_every: int = 5, order: str = "fifo", warm_start=(), max_trials: int | None = None,
          where: str = "drive") -> list[tuple[int, Proposal]]:
    """Run ``searcher`` like the orchestrator does: keep up to ``capacity`` trials pending, tell them in
    ``order`` ("fifo" or a fixed pseudo-random order), stop after ``n`` proposals or when it is exhausted."""
    searcher.setup(space, seed=seed, warm_start=warm_start, max_trials=max_trials)
    tell_rng = np.random.default_rng(12345)
    pending: dict[int, Proposal] = {}
    out: list[tuple[int, Proposal]] = []
    tid = 0
    while len(out) < n:
        while len(pending) < capacity and len(out) < n:
            searcher.set_budget_hint(1000.0)
            prop = searcher.ask(tid)
            if prop is None:
                break
            _check_proposal(space, prop, {t for t, _ in out}, f"{where}: trial {tid}")
            pending[tid] = prop
            out.append((tid, prop))
            tid += 1
        if not pending:
            break  # exhausted
        keys = sorted(pending)
        t = keys[0] if order == "fifo" else keys[int(tell_rng.integers(len(keys)))]
        searcher.tell(t, _result(t, pending.pop(t), fail_every))
    for t in sorted(pending):
        searcher.tell(t, _result(t, pending.pop(t), fail_every))
    return out


def _key(prop: Proposal) -> tuple:
    return (prop.config.to_json(), round(prop.fidelity, 12), prop.parent_id)


# -- the checks -----------------------------------------------------------------------------------------------
def check_init_stores_params(factory: Factory) -> None:
    s = factory()
    for name in inspect.signature(type(s).__init__).parameters:
        if name != "self":
            assert hasattr(s, name), f"__init__ must store option {name!r} as an attribute of the same name"


def check_valid_proposals(factory: Factory) -> None:
    space = battery_space()
    out = drive(factory(), space, n=40, where="valid proposals")
    assert len(out) == 40, f"valid proposals: stopped after {len(out)} of 40 proposals with nothing pending"
    families = {p.config["family"] for _, p in out}
    assert len(families) >= 2, f"conditional space: only family {families} was ever proposed in 40 trials"


def check_outstanding_asks(factory: Factory) -> None:
    space = battery_space()
    s = factory()
    s.setup(space, seed=3)
    first = [s.ask(t) for t in range(4)]
    for t, p in enumerate(first):
        assert p is not None, f"outstanding asks: ask #{t} returned None with only {t} trials pending"
        _check_proposal(space, p, set(range(t)), f"outstanding asks: trial {t}")
    assert len({_key(p) for p in first}) == 4, "outstanding asks: 4 pending asks gave duplicate proposals"
    out = drive(factory(), space, n=40, capacity=4, order="random", where="parallel (4 pending)")
    assert len(out) == 40, f"parallel (4 pending): stopped after {len(out)} of 40 proposals"


def check_failed_results(factory: Factory) -> None:
    space = battery_space()
    out = drive(factory(), space, n=25, fail_every=1, where="all trials fail")
    assert len(out) == 25, f"all trials fail: stopped after {len(out)} of 25 proposals"
    out = drive(factory(), space, n=30, fail_every=2, where="half the trials fail")
    assert len(out) == 30, f"half the trials fail: stopped after {len(out)} of 30 proposals"


def check_deterministic(factory: Factory) -> None:
    space = battery_space()
    runs = [[_key(p) for _, p in drive(factory(), space, n=30, seed=seed, capacity=2, where=f"seed {seed}")]
            for seed in (11, 11, 12)]
    assert runs[0] == runs[1], "the same seed and the same results gave different proposals"
    assert runs[0] != runs[2], "different seeds gave exactly the same proposals"


def check_max_trials(factory: Factory) -> None:
    space = battery_space()
    s = factory()
    out = drive(s, space, n=1000, max_trials=12, capacity=2, where="max_trials=12")
    assert len(out) == 12, f"max_trials=12: the searcher proposed {len(out)} trials"
    assert s.ask(len(out)) is None, "max_trials=12: ask after 12 proposals must return None"


def check_warm_start(factory: Factory) -> None:
    space = battery_space()
    warm = [{"family": "linear", "linear.C": 2.0}, {"family": "knn"}]
    out = drive(factory(), space, n=20, warm_start=warm, where="warm start")
    configs = [p.config for _, p in out[:8]]
    for w in warm:
        assert space.complete(w) in configs, f"warm start: {dict(space.complete(w))} was not proposed early"


def check_state_and_hint(factory: Factory) -> None:
    space = battery_space()
    s = factory()
    drive(s, space, n=10, where="state")
    st = s.state()
    assert isinstance(st, dict) and st.get("name") == s.name, "state() must be a dict naming the strategy"
    json.dumps(st, default=str)
    s.set_budget_hint(0.0)  # no time left: a strategy may avoid costly choices but must still answer
    p = s.ask(10)
    if p is not None:
        _check_proposal(space, p, set(range(10)), "after a zero budget hint")


def check_replay(factory: Factory) -> None:
    """Results fed back on resume (``replay``) are accepted, and the searcher then proposes as usual."""
    space = battery_space()
    first = drive(factory(), space, n=8, where="before resume")
    s = factory()
    s.setup(space, seed=0)
    for t, p in first:
        s.replay(t, p, _result(t, p, 5))
    p = s.ask(len(first))
    assert p is not None, "after replay: ask returned None with nothing pending"
    _check_proposal(space, p, set(range(len(first) + 1)), "after replay")


CHECKS: tuple[Callable[[Factory], None], ...] = (
    check_init_stores_params, check_valid_proposals, check_outstanding_asks, check_failed_results,
    check_deterministic, check_max_trials, check_warm_start, check_state_and_hint, check_replay,
)


def check_searcher(factory: Factory) -> list[str]:
    """Run every check on searchers built by ``factory``; return the names of the checks that ran."""
    ran = []
    for check in CHECKS:
        check(factory)
        ran.append(check.__name__)
    return ran
