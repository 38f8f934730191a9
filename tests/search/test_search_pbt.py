"""Population-based training on a toy training run whose best learning rate changes as training goes on."""
from __future__ import annotations

import math

import numpy as np
import pytest
from objectives import result

from forgeml.search import make_searcher
from forgeml.space import Categorical, Condition, Float, Int, SearchSpace

N_STEPS = 4
SPACE = SearchSpace({
    "family": Categorical(("net", "boost")),
    "net.lr": Float(1e-4, 1.0, log=True),
    "net.momentum": Float(0.0, 0.99),
    "net.act": Categorical(("relu", "tanh")),
    "boost.eta": Float(0.01, 0.5, log=True),
    "boost.depth": Int(2, 10),
}, {n: Condition("family", (n.split(".")[0],)) for n in ("net.lr", "net.momentum", "net.act", "boost.eta",
                                                            "boost.depth")})


def gain(c, step: int) -> float:
    """Progress made in training step ``step`` (0-based): the best learning rate shrinks over training."""
    if c["family"] == "net":
        target = -1.5 - 0.15 * step
        return math.exp(-((math.log10(c["net.lr"]) - target) / 0.3) ** 2) * (1 + 0.2 * c["net.momentum"])
    return 0.6 * math.exp(-(math.log10(c["boost.eta"]) + 1.3) ** 2)


class Trainer:
    """Trains to a proposal's fidelity, from its parent's state when ``honour_parents`` (else from scratch)."""

    def __init__(self, honour_parents: bool = True, gain_fn=gain) -> None:
        self.honour = honour_parents
        self.gain = gain_fn
        self.state: dict[int, tuple[int, float]] = {}  # trial id -> (steps done, progress)

    def run(self, trial_id: int, prop) -> float:
        steps, progress = (0, 0.0)
        if self.honour and prop.parent_id is not None:
            steps, progress = self.state[prop.parent_id]
        target = round(prop.fidelity * N_STEPS)
        for k in range(steps, target):
            progress += self.gain(prop.config, k)
        self.state[trial_id] = (target, progress)
        return 10.0 - progress


def run_pbt(seed: int, n: int, honour_parents: bool = True, fail=lambda t: False, space=SPACE, gain_fn=gain,
            **options):
    s = make_searcher("pbt", n_steps=N_STEPS, **options)
    s.setup(space, seed=seed, max_trials=n)
    trainer, log, losses = Trainer(honour_parents, gain_fn), {}, {}
    for t in range(n):
        p = s.ask(t)
        assert p is not None
        space.validate(p.config)
        log[t] = p
        losses[t] = None if fail(t) else trainer.run(t, p)
        s.tell(t, result(t, losses[t], fidelity=p.fidelity))
    return s, log, losses


def _is_perturbation(space, copied, new) -> bool:
    if new["family"] != copied["family"] or set(new) != set(copied):
        return False
    for name, v in copied.items():
        p, w = space[name], new[name]
        if isinstance(p, Float):
            ok = any(math.isclose(w, min(p.high, max(p.low, v * f)), rel_tol=1e-9) for f in (0.8, 1.2))
        elif isinstance(p, Int):
            ok = abs(w - v) <= max(1, math.ceil(0.2 * v)) and p.low <= w <= p.high
        else:
            ok = p.contains(w)
        if not ok:
            return False
    return True


def test_exploit_copies_a_better_member_then_perturbs():
    s, log, losses = run_pbt(seed=0, n=32, population_size=8)
    assert s.exploits, "no member was ever exploited"
    for e in s.exploits:
        prop = log[e.trial_id]
        assert prop.parent_id == e.parent_id and prop.config == e.config
        donor_trial = log[e.parent_id]
        assert donor_trial.config == e.copied  # the copied config is the donor's at that point
        assert math.isclose(donor_trial.fidelity + 1 / N_STEPS, prop.fidelity)  # continue one step further
        peers = sorted(losses[t] for t, p in log.items() if t < e.trial_id
                       and math.isclose(p.fidelity, donor_trial.fidelity) and losses[t] is not None)
        n_q = int(0.25 * len(peers))
        assert n_q >= 1 and losses[e.parent_id] <= peers[n_q - 1], "the donor must be in the top quantile"
        assert s.members[e.member].losses[e.step] >= peers[-n_q], "only the bottom quantile copies"
        assert _is_perturbation(SPACE, e.copied, e.config)
        assert e.config != e.copied  # continuous values moved by x0.8 / x1.2


def test_members_continue_their_own_state_step_by_step():
    s, log, _ = run_pbt(seed=1, n=32, population_size=8, interval=10)  # interval > n_steps: never exploit
    assert not s.exploits
    for p in log.values():
        if p.parent_id is None:
            assert math.isclose(p.fidelity, 1 / N_STEPS)
        else:
            assert log[p.parent_id].config == p.config  # its own previous step
            assert math.isclose(log[p.parent_id].fidelity + 1 / N_STEPS, p.fidelity)
    assert sorted(round(p.fidelity * N_STEPS) for p in log.values()) == sorted([1, 2, 3, 4] * 8)


NET_SPACE = SearchSpace({"lr": Float(1e-4, 1.0, log=True), "momentum": Float(0.0, 0.99)})


def net_gain(c, step: int) -> float:
    """One family, a sharp optimum for the learning rate that moves down as training goes on."""
    return math.exp(-((math.log10(c["lr"]) + 1.0 + 0.3 * step) / 0.3) ** 2) * (1 + 0.2 * c["momentum"])


def test_pbt_beats_the_same_population_without_exploitation():
    """Same seeds, same initial members; ``interval > n_steps`` disables exploit/explore within a round.
    Offline, over 20 seeds, PBT won 90% of them."""
    def best_final(interval):
        out = []
        for seed in range(12):
            s, log, losses = run_pbt(seed, 64, population_size=8, interval=interval, space=NET_SPACE,
                                     gain_fn=net_gain)
            out.append(min(losses[t] for t, p in log.items() if p.fidelity == 1.0))
        return np.array(out)

    pbt, static = best_final(1), best_final(N_STEPS + 1)
    assert (pbt < static).sum() >= 9 and pbt.mean() < static.mean(), (pbt, static)


def test_works_when_the_evaluator_ignores_parent_state():
    s, log, losses = run_pbt(seed=2, n=40, honour_parents=False, population_size=6)
    assert s.exploits and s.round >= 1  # a second round started after every member reached fidelity 1
    assert all(0 < p.fidelity <= 1 for p in log.values())


def test_a_failed_member_copies_a_donor_and_nothing_continues_from_a_failure():
    s = make_searcher("pbt", population_size=4, n_steps=N_STEPS)
    s.setup(SPACE, seed=3)
    log = {t: s.ask(t) for t in range(4)}  # step 1 of members 0..3
    for t in range(4):
        s.tell(t, result(t, float(t), fidelity=log[t].fidelity))
    log.update({t: s.ask(t) for t in range(4, 8)})  # step 2
    failed = next(t for t in range(4, 8) if s._running[t].index == 1)
    for t in range(4, 8):
        s.tell(t, result(t, None if t == failed else float(t), fidelity=log[t].fidelity))
    nxt = {t: s.ask(t) for t in range(8, 12)}
    member1 = next(t for t in nxt if s.exploits and any(e.trial_id == t and e.member == 1 for e in s.exploits))
    p = nxt[member1]
    assert p.parent_id in range(4, 8) and p.parent_id != failed
    assert p.fidelity == pytest.approx(3 / N_STEPS)
    assert all(q.parent_id != failed for q in nxt.values())


def test_a_failed_member_without_donors_restarts():
    s, log, losses = run_pbt(seed=4, n=30, population_size=3, fail=lambda t: True)
    assert all(p.parent_id is None and p.fidelity == pytest.approx(1 / N_STEPS) for p in log.values())


def test_ask_waits_when_every_member_is_busy_and_warm_starts_become_members():
    s = make_searcher("pbt", population_size=3, n_steps=N_STEPS)
    warm = [{"family": "net", "net.lr": 0.01}]
    s.setup(SPACE, seed=0, warm_start=warm)
    props = [s.ask(t) for t in range(3)]
    assert props[0].config == SPACE.complete(warm[0]) and props[0].fidelity == pytest.approx(1 / N_STEPS)
    assert s.ask(3) is None  # all three members are training
    s.tell(1, result(1, 5.0, fidelity=props[1].fidelity))
    nxt = s.ask(3)
    assert nxt is not None and nxt.parent_id == 1 and nxt.fidelity == pytest.approx(2 / N_STEPS)
