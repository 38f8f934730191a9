"""Successive halving (ASHA) and Hyperband on an objective whose noise shrinks as fidelity grows."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from objectives import result

from forgeml.search import make_searcher
from forgeml.search.halving import rung_fidelities
from forgeml.space import Float, SearchSpace

SPACE = SearchSpace({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})


def true_loss(c) -> float:
    return 0.7 * c["x"] + 0.3 * c["y"]  # the best arms have small x and y


def observe(c, fidelity: float, rng: np.random.Generator) -> float:
    """Low fidelity: biased upwards and noisy; full fidelity: nearly exact."""
    return true_loss(c) + 0.2 * (1 - fidelity) + (0.25 * (1 - fidelity) + 0.01) * float(rng.normal())


def simulate(name: str, n: int, seed: int, capacity: int = 1, fail=lambda c: False, **options):
    """Run ``n`` trials with up to ``capacity`` pending, told in a seeded random order."""
    s = make_searcher(name, **options)
    s.setup(SPACE, seed=seed, max_trials=n)
    rng = np.random.default_rng(seed + 100)
    pending, log, told_at = {}, [], {}
    tid = 0
    while True:
        while len(pending) < capacity and (p := s.ask(tid)) is not None:
            SPACE.validate(p.config)
            log.append((tid, p))
            pending[tid] = p
            tid += 1
        if not pending:
            return s, log, told_at
        t = list(pending)[int(rng.integers(len(pending)))]
        p = pending.pop(t)
        loss = None if fail(p.config) else observe(p.config, p.fidelity, rng)
        s.tell(t, result(t, loss, fidelity=p.fidelity))
        told_at.setdefault((p.config.id, round(p.fidelity, 9)), len(told_at))


def test_rung_fidelities():
    assert rung_fidelities(1 / 9, 3) == pytest.approx([1 / 9, 1 / 3, 1.0])
    assert rung_fidelities(0.1, 3) == pytest.approx([1 / 9, 1 / 3, 1.0])  # 1/27 would be below 0.1
    assert rung_fidelities(0.25, 2) == pytest.approx([0.25, 0.5, 1.0])
    assert rung_fidelities(1.0, 3) == [1.0]


@pytest.mark.parametrize("capacity", [1, 4])
def test_halving_promotes_the_truly_best_arms(capacity):
    fractions, percentiles = [], []
    for seed in range(5):
        s, log, _ = simulate("halving", 120, seed, capacity=capacity)
        fid = Counter(round(p.fidelity, 6) for _, p in log)
        low, mid, top = (round(f, 6) for f in (1 / 9, 1 / 3, 1.0))
        assert fid[low] > fid[mid] > fid[top] > 0  # the bottom rung gets the most evaluations
        arms = [p.config for _, p in log if round(p.fidelity, 6) == low]
        at_top = [p.config for _, p in log if round(p.fidelity, 6) == top]
        assert len({c.id for c in at_top}) == len(at_top)  # an arm is promoted to a rung at most once
        truth = sorted(true_loss(c) for c in arms)
        pct = [np.searchsorted(truth, true_loss(c)) / len(truth) for c in at_top]
        percentiles += pct
        fractions.append(np.mean([q < 1 / 3 for q in pct]))
    # chance would put a third of the promoted arms in the true best third, at a mean percentile of 0.5
    assert np.mean(fractions) > 0.75 and np.mean(percentiles) < 0.25, (fractions, np.mean(percentiles))


def test_promotions_follow_results_and_never_wait():
    s, log, told_at = simulate("halving", 90, 0, capacity=4)
    assert len(log) == 90  # asynchronous: ask never returned None while workers were free
    for _, p in log:
        if p.fidelity > 1 / 9 + 1e-9:
            lower = round(p.fidelity / 3, 9)
            assert (p.config.id, lower) in told_at, "promoted before its lower-rung result was told"
            assert p.parent_id is None


def test_failed_arms_are_never_promoted():
    bad = lambda c: c["x"] < 0.3  # the region that would otherwise be promoted fails
    _, log, _ = simulate("halving", 80, 1, fail=bad)
    promoted = [p.config for _, p in log if p.fidelity > 0.2]
    assert promoted and not any(bad(c) for c in promoted)


def test_halving_with_a_bayesian_inner_sampler_learns_from_the_bottom_rung():
    s, log, _ = simulate("halving", 40, 0, sampler="bayes")
    n_low = sum(1 for _, p in log if p.fidelity < 0.2)
    assert s._inner.state()["n_told"] == n_low
    assert s._inner.state()["n_model_trials"] == n_low


def test_hyperband_runs_every_bracket():
    s, log, _ = simulate("hyperband", 150, 0)
    st = s.state()
    assert st["rung_fidelities"] == [[pytest.approx(1 / 9), pytest.approx(1 / 3), 1.0],
                                     [pytest.approx(1 / 3), 1.0], [1.0]]
    counts = st["rung_counts"]
    assert all(c[0] > 0 for c in counts)  # every bracket started arms
    assert counts[0][0] > counts[0][1] > counts[0][2] > 0 and counts[1][0] > counts[1][1] > 0
    started = [c[0] for c in counts]
    assert started[0] > started[1] > started[2]  # more arms where they are cheaper, as Hyperband's n_s
    assert sum(map(sum, counts)) == len(log)


def test_auto_multi_fidelity_starts_low_and_promotes():
    s = make_searcher("auto", multi_fidelity=True)
    warm = {"x": 0.05, "y": 0.05}
    s.setup(SPACE, seed=0, warm_start=[warm], max_trials=60)
    rng = np.random.default_rng(0)
    log = []
    for t in range(60):
        p = s.ask(t)
        log.append(p)
        s.tell(t, result(t, observe(p.config, p.fidelity, rng), fidelity=p.fidelity))
    assert log[0].config == SPACE.complete(warm) and log[0].fidelity == pytest.approx(1 / 9)  # warm start first
    c = Counter(round(p.fidelity, 6) for p in log)
    assert c[round(1 / 9, 6)] > c[round(1 / 3, 6)] > 0 and c[1.0] > 0
    assert s.state()["rung_counts"][0] == c[round(1 / 9, 6)]
    assert s.state()["n_model_trials"] == c[round(1 / 9, 6)]  # TPE saw every bottom-rung result, warm one too
    assert any(p.config == log[0].config and p.fidelity == 1.0 for p in log)  # the good warm start was promoted


def test_halving_runs_warm_starts_as_its_first_arms():
    for name in ("halving", "hyperband"):
        s = make_searcher(name)
        warm = [{"x": 0.1, "y": 0.2}, {"x": 0.3, "y": 0.4}]
        s.setup(SPACE, seed=0, warm_start=warm)
        first = [s.ask(t) for t in range(2)]
        assert [p.config for p in first] == [SPACE.complete(w) for w in warm]
        if name == "halving":
            assert all(p.fidelity == pytest.approx(1 / 9) for p in first)


@pytest.mark.parametrize("name", ["halving", "hyperband"])
def test_with_iterations_a_promotion_continues_the_arms_trial_at_the_rung_below(name):
    s, log, _ = simulate(name, 60, seed=3, capacity=2, resource="iterations")
    assert s.fidelity_unit == "iterations"
    by_id = dict(log)
    promoted = [(t, p) for t, p in log if p.parent_id is not None]
    assert promoted, "some arms were promoted"
    for t, p in promoted:
        parent = by_id[p.parent_id]
        assert p.parent_id < t and parent.config == p.config and parent.fidelity < p.fidelity
        below = [f for f in rung_fidelities(1 / 9, 3) if f < p.fidelity][-1]
        assert parent.fidelity == pytest.approx(below)  # exactly one rung down
    fresh = [p for _, p in log if p.parent_id is None]
    assert all(p.fidelity == pytest.approx(min(q.fidelity for _, q in log)) for p in fresh) or name == "hyperband"
    # with rows (the default) nothing continues: a promoted arm trains afresh on more rows
    s, log, _ = simulate(name, 60, seed=3, capacity=2)
    assert s.fidelity_unit == "rows" and all(p.parent_id is None for _, p in log)


@pytest.mark.parametrize("remaining", [100.0, 1000.0])
def test_auto_does_not_promote_an_arm_whose_own_cost_would_eat_the_time_left(remaining):
    warm = [{"x": 0.01 * i, "y": 0.5} for i in range(9)]
    s = make_searcher("auto", multi_fidelity=True)  # max_cost_share 0.25
    s.setup(SPACE, seed=0, warm_start=warm)
    promoted = []
    for t in range(12):
        s.set_budget_hint(remaining)  # a quarter of 100 s is less than arm 0's 30 s at the next rung; of 1000 not
        p = s.ask(t)
        if p.fidelity > 0.2:
            promoted.append(p.config)
        # arm 0 is the best but took 10 s on a ninth of the rows (90 s per unit of fidelity); the others 0.1 s
        s.tell(t, result(t, 0.1 * t, fidelity=p.fidelity, duration=10.0 if t == 0 else 0.1))
    assert promoted  # the search goes on promoting
    assert (SPACE.complete(warm[0]) in promoted) == (remaining == 1000.0)
