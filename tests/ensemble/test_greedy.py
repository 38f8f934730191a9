import numpy as np
import pytest

from forgeml.ensemble import ENSEMBLERS
from forgeml.metrics import METRICS


def _members(seed=0, n=600):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    signal = y * 0.5 + 0.25

    def member(noise):
        p = np.clip(signal + rng.normal(0, noise, n), 0.02, 0.98)
        return np.c_[1 - p, p]

    return y, {1: member(0.25), 2: member(0.25), 3: member(0.7)}


@pytest.mark.parametrize("metric", ["log_loss", "roc_auc"])
def test_greedy_never_worse_than_best_member(metric):
    y, oof = _members()
    m = METRICS[metric]
    ens = ENSEMBLERS["greedy"]().fit(oof, y, m)
    singles = [m.score(y, p) for p in oof.values()]
    best = max(singles) if m.greater_is_better else min(singles)
    assert (ens.score >= best - 1e-12) if m.greater_is_better else (ens.score <= best + 1e-12)
    assert abs(sum(ens.weights.values()) - 1) < 1e-9
    assert all(w > 0 for w in ens.weights.values())


def test_greedy_averages_independent_noisy_members():
    y, oof = _members(seed=1)
    ens = ENSEMBLERS["greedy"]().fit(oof, y, METRICS["log_loss"])
    # two equally good members with independent noise: averaging them beats either one
    assert {1, 2} <= set(ens.weights)
    assert ens.score < min(METRICS["log_loss"].score(y, oof[k]) for k in (1, 2))
    np.testing.assert_allclose(ens.combine(oof), sum(w * oof[k] for k, w in ens.weights.items()))


def test_greedy_regression_and_determinism():
    rng = np.random.default_rng(2)
    y = rng.normal(size=300)
    oof = {i: y + rng.normal(0, 0.5 + i * 0.1, 300) for i in range(4)}
    a = ENSEMBLERS["greedy"]().fit(oof, y, METRICS["rmse"])
    b = ENSEMBLERS["greedy"]().fit(oof, y, METRICS["rmse"])
    assert a == b
    assert a.score < min(METRICS["rmse"].score(y, p) for p in oof.values())


def test_greedy_keeps_to_the_refit_budget_but_always_takes_the_best_member():
    y, oof = _members(seed=1)
    m = METRICS["log_loss"]
    free = ENSEMBLERS["greedy"]().fit(oof, y, m)
    assert {1, 2} <= set(free.weights)
    first = 1 if m.score(y, oof[1]) <= m.score(y, oof[2]) else 2
    other = 3 - first
    # the partner that would help costs more than the time left: the ensemble does without it
    costs = {1: 1.0, 2: 1.0, 3: 0.1}
    costs[other] = 5.0
    tight = ENSEMBLERS["greedy"]().fit(oof, y, m, costs=costs, max_cost=3.0)
    assert other not in tight.weights and first in tight.weights
    assert sum(costs[k] for k in tight.weights) <= 3.0
    # the first pick is exempt: a best member dearer than the whole budget is still chosen, and alone
    alone = ENSEMBLERS["greedy"]().fit(oof, y, m, costs={1: 9.0, 2: 9.0, 3: 9.0}, max_cost=1.0)
    assert list(alone.weights) == [first] and alone.score == pytest.approx(m.score(y, oof[first]))
    # a budget that covers everyone changes nothing
    assert ENSEMBLERS["greedy"]().fit(oof, y, m, costs=costs, max_cost=100.0) == free


def test_greedy_scores_blends_with_the_row_weights():
    # member 1 is right on the first 400 rows, member 2 on the last 200: unweighted, 1 wins; weighing the last
    # 200 rows 5x, 2 wins, and the reported score is the weighted one
    y = np.tile([0, 1], 300)
    good, bad = np.eye(2)[y] * 0.8 + 0.1, np.eye(2)[1 - y] * 0.8 + 0.1
    first = np.arange(600) < 400
    oof = {1: np.where(first[:, None], good, bad), 2: np.where(first[:, None], bad, good)}
    m = METRICS["accuracy"]
    plain = ENSEMBLERS["greedy"]().fit(oof, y, m)
    w = np.where(first, 1.0, 5.0)
    weighted = ENSEMBLERS["greedy"]().fit(oof, y, m, sample_weight=w)
    assert plain.weights == {1: 1.0} and plain.score == pytest.approx(400 / 600)
    assert weighted.weights == {2: 1.0} and weighted.score == pytest.approx(1000 / 1400)
    assert weighted.score == pytest.approx(m.score(y, weighted.combine(oof), sample_weight=w))
