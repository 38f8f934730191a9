"""Pruning an ensemble of the members that cost more to predict with than they add: what is dropped, what is kept,
and that the comparison of methods scores the pruned ensembles it would return."""
import numpy as np
import pytest

from forgeml.ensemble.base import Ensemble
from forgeml.ensemble.greedy import GreedyEnsembler
from forgeml.ensemble.prune import prune, prune_to_cost
from forgeml.ensemble.select import compare
from forgeml.ensemble.voting import HardVote
from forgeml.metrics import METRICS

RMSE = METRICS["rmse"]


def _blend(ens, oof):
    return sum(w * oof[k] for k, w in ens.weights.items())


def _complementary(n=2000, seed=0):
    """y = a + b; member 1 sees a, member 2 sees b (each with noise): their mean is far better than either."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = a + b
    return y, {1: 2 * a + rng.normal(scale=0.3, size=n), 2: 2 * b + rng.normal(scale=0.3, size=n)}


def test_a_costly_member_that_adds_almost_nothing_is_dropped_and_the_rest_renormalised():
    y, oof = _complementary()
    rng = np.random.default_rng(1)
    oof[3] = y + rng.normal(scale=3.0, size=len(y))  # much worse alone; worth a little in a blend
    ens = Ensemble({1: 0.45, 2: 0.45, 3: 0.10}, RMSE.score(y, 0.45 * oof[1] + 0.45 * oof[2] + 0.1 * oof[3]))
    pruned = prune(ens, oof, y, RMSE, {1: 1.0, 2: 1.0, 3: 50.0}, slack=0.1)
    assert set(pruned.weights) == {1, 2}
    assert pruned.weights[1] == pytest.approx(0.5) and pruned.weights[2] == pytest.approx(0.5)
    assert pruned.score == pytest.approx(RMSE.score(y, _blend(pruned, oof)))
    # it kept at least 90 % of what the ensemble gained over its best member alone
    alone = min(RMSE.score(y, p) for p in oof.values())
    assert pruned.score <= ens.score + 0.1 * (alone - ens.score) + 1e-12


def test_members_that_each_carry_half_the_signal_are_kept():
    y, oof = _complementary()
    ens = Ensemble({1: 0.5, 2: 0.5}, RMSE.score(y, 0.5 * oof[1] + 0.5 * oof[2]))
    assert prune(ens, oof, y, RMSE, {1: 100.0, 2: 100.0}, slack=0.5) is ens


def test_of_two_spare_members_the_costlier_goes_when_only_one_can():
    """Two near-copies of one member: dropping either is free, dropping both is not."""
    y, oof = _complementary()
    rng = np.random.default_rng(2)
    oof[4] = oof[1] + rng.normal(scale=0.01, size=len(y))
    weights = {1: 0.25, 4: 0.25, 2: 0.5}
    ens = Ensemble(weights, RMSE.score(y, _blend(Ensemble(weights, 0.0), oof)))
    costly_copy = prune(ens, oof, y, RMSE, {1: 1.0, 4: 9.0, 2: 1.0}, slack=0.1)
    costly_original = prune(ens, oof, y, RMSE, {1: 9.0, 4: 1.0, 2: 1.0}, slack=0.1)
    assert set(costly_copy.weights) == {1, 2}
    assert set(costly_original.weights) == {4, 2}
    # with no costs the lighter weight goes first; equal weights: the lower trial id is kept
    assert set(prune(ens, oof, y, RMSE, {}, slack=0.1).weights) == {4, 2}


def test_an_ensemble_that_gains_nothing_keeps_only_the_members_its_loss_needs():
    rng = np.random.default_rng(3)
    y = rng.normal(size=500)
    oof = {1: y + rng.normal(scale=0.5, size=500), 2: y + rng.normal(scale=5.0, size=500)}
    weights = {1: 0.8, 2: 0.2}
    ens = Ensemble(weights, RMSE.score(y, _blend(Ensemble(weights, 0.0), oof)))
    assert ens.score > RMSE.score(y, oof[1])  # the blend is worse than member 1 alone
    assert set(prune(ens, oof, y, RMSE, {2: 1.0}).weights) == {1}


def test_combiners_single_members_and_no_slack_are_left_as_they_are():
    y, oof = _complementary()
    y_cls = (y > 0).astype(int)
    probs = {k: np.column_stack([1 - 1 / (1 + np.exp(-v)), 1 / (1 + np.exp(-v))]) for k, v in oof.items()}
    vote = HardVote((1, 2))
    hard = Ensemble({1: 0.5, 2: 0.5}, 0.0, vote)
    assert prune(hard, probs, y_cls, METRICS["log_loss"], {1: 9.0, 2: 1.0}, slack=1.0) is hard
    one = Ensemble({1: 1.0}, RMSE.score(y, oof[1]))
    assert prune(one, oof, y, RMSE, {1: 9.0}) is one
    two = Ensemble({1: 0.5, 2: 0.5}, 0.0)
    assert prune(two, oof, y, RMSE, {1: 9.0}, slack=0.0) is two


def test_the_comparison_scores_and_returns_the_pruned_ensembles():
    rng = np.random.default_rng(4)
    n = 1500
    y = rng.integers(0, 2, n)
    signal, shared = (2 * y - 1) * 1.2, rng.normal(size=n)
    oof = {}
    # members 3 and 5 share most of their errors (e.g. one model family with two seeds): little to gain from both
    for key, logit in ((3, shared + rng.normal(scale=0.5, size=n)), (5, shared + rng.normal(scale=0.5, size=n)),
                       (8, rng.normal(scale=1.5, size=n)), (9, rng.normal(scale=3.0, size=n))):
        p = 1 / (1 + np.exp(-(signal + logit)))
        oof[key] = np.column_stack([1 - p, p])
    metric = METRICS["log_loss"]
    costs = {3: 40.0, 5: 1.0, 8: 2.0, 9: 3.0}
    plain = {c.name: c for c in compare({"greedy": GreedyEnsembler()}, oof, y, metric, classification=True)}
    pruned = {c.name: c for c in compare({"greedy": GreedyEnsembler()}, oof, y, metric, classification=True,
                                         prune_costs=costs)}
    full, cut = plain["greedy"].ensemble, pruned["greedy"].ensemble
    assert cut.members < full.members  # something was spared ...
    assert cut == prune(full, oof, y, metric, costs)  # ... exactly what pruning the final fit spares
    # the nested score is the pruned ensembles' own: a different number, and within noise of the full one
    assert pruned["greedy"].nested_score != plain["greedy"].nested_score
    assert abs(pruned["greedy"].nested_score - plain["greedy"].nested_score) < 0.01
    assert pruned["single"].nested_score == plain["single"].nested_score


def _three():
    """Members 1 and 2 each see half of y; member 3 sees all of it with more noise: 1 + 2 blend best."""
    y, oof = _complementary()
    rng = np.random.default_rng(5)
    oof[3] = y + rng.normal(scale=0.8, size=len(y))
    weights = {1: 0.4, 2: 0.4, 3: 0.2}
    return y, oof, Ensemble(weights, RMSE.score(y, _blend(Ensemble(weights, 0.0), oof)))


def test_pruning_to_a_cost_drops_the_least_loss_per_second_until_the_rest_fit():
    y, oof, ens = _three()
    cost = {1: 1.0, 2: 1.0, 3: 1.0}
    assert prune_to_cost(ens, oof, y, RMSE, cost, 3.0) is ens  # already within
    two = prune_to_cost(ens, oof, y, RMSE, cost, 2.0)
    # of three equal costs, member 3 adds least: 1 + 2 stay, at the better blend of its weight
    assert set(two.weights) == {1, 2} and sum(two.weights.values()) == pytest.approx(1.0)
    assert two.score == pytest.approx(RMSE.score(y, _blend(two, oof)))
    # a cheap member whose removal helps the blend goes before a costly one the blend needs
    assert set(prune_to_cost(ens, oof, y, RMSE, {1: 1.0, 2: 5.0, 3: 1.0}, 6.0).weights) == {1, 2}
    costs = {1: 1.0, 2: 5.0, 3: 0.5}
    rest = prune_to_cost(ens, oof, y, RMSE, costs, 2.0)
    assert set(rest.weights) <= {1, 3} and sum(costs[k] for k in rest.weights) <= 2.0


def test_a_member_over_the_limit_alone_goes_first_and_the_best_single_within_stands_in_when_better():
    y, oof, ens = _three()
    # member 3 alone costs more than the limit: it goes, though it is the best member alone
    left = prune_to_cost(ens, oof, y, RMSE, {1: 0.1, 2: 0.1, 3: 9.0}, 1.0)
    assert set(left.weights) == {1, 2}
    # only one member fits at all: the best of those alone
    one = prune_to_cost(ens, oof, y, RMSE, {1: 2.0, 2: 2.0, 3: 2.0}, 2.5)
    assert len(one.weights) == 1
    alone = {k: RMSE.score(y, oof[k]) for k in oof}
    assert one.score == pytest.approx(min(alone.values()))
    assert one.weights == {min(alone, key=alone.get): 1.0}


def test_pruning_to_a_cost_gives_none_when_nothing_fits_or_the_combiner_reads_every_member():
    y, oof, ens = _three()
    assert prune_to_cost(ens, oof, y, RMSE, {1: 5.0, 2: 5.0, 3: 5.0}, 1.0) is None
    y_cls = (y > 0).astype(int)
    probs = {k: np.column_stack([1 - 1 / (1 + np.exp(-v)), 1 / (1 + np.exp(-v))]) for k, v in oof.items()}
    hard = Ensemble({1: 0.5, 2: 0.5}, 0.0, HardVote((1, 2)))
    assert prune_to_cost(hard, probs, y_cls, METRICS["log_loss"], {1: 1.0, 2: 1.0}, 1.5) is None
    assert prune_to_cost(hard, probs, y_cls, METRICS["log_loss"], {1: 1.0, 2: 1.0}, 2.0) is hard
