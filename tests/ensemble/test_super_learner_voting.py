"""super_learner (convex fit of the run's loss) and voting (mean of the top members), beyond the shared battery."""
import numpy as np
import pytest

from forgeml.ensemble import ENSEMBLERS
from forgeml.errors import ConfigError
from forgeml.metrics import METRICS


def _regression(n=4000, scales=(1.0, 2.0), seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n) * 3
    return {i + 1: y + rng.normal(scale=s, size=n) for i, s in enumerate(scales)}, y


def test_super_learner_finds_the_inverse_variance_weights():
    # independent errors of variance 1 and 4: the squared-error optimum weighs them 4/5 and 1/5
    oof, y = _regression()
    ens = ENSEMBLERS["super_learner"]().fit(oof, y, METRICS["rmse"])
    assert ens.weights[1] == pytest.approx(0.8, abs=0.03) and ens.weights[2] == pytest.approx(0.2, abs=0.03)
    greedy = ENSEMBLERS["greedy"]().fit(oof, y, METRICS["rmse"])
    assert ens.score <= greedy.score + 1e-9
    assert ens.score == pytest.approx(METRICS["rmse"].score(y, ens.combine(oof)))


def test_super_learner_blends_probabilities_by_log_loss():
    rng = np.random.default_rng(1)
    n = 2000
    y = rng.integers(0, 3, n)

    def member(noise):
        logits = np.eye(3)[y] * 1.5 + rng.normal(scale=noise, size=(n, 3))
        e = np.exp(logits)
        return e / e.sum(1, keepdims=True)

    oof = {7: member(1.0), 8: member(1.0), 9: member(3.0)}
    m = METRICS["log_loss"]
    ens = ENSEMBLERS["super_learner"]().fit(oof, y, m)
    assert {7, 8} <= set(ens.weights)
    assert ens.score < min(m.score(y, p) for p in oof.values()) - 0.01


def test_super_learner_returns_the_best_member_when_the_blend_loses_on_the_metric():
    # member 1 is always right but unsure, member 2 confident and wrong on 1 row in 5: the log-loss-optimal blend
    # (about 0.44 / 0.56) is wrong on those rows, so on accuracy it loses to member 1 alone
    y = np.tile([0, 1], 250)
    right = np.eye(2)[y]
    unsure = right * 0.1 + 0.45
    wrong = np.arange(500) % 5 == 0
    confident = np.where(wrong[:, None], 1 - right, right) * 0.98 + 0.01
    oof = {1: unsure, 2: confident}
    acc = ENSEMBLERS["super_learner"]().fit(oof, y, METRICS["accuracy"])
    assert acc.weights == {1: 1.0} and acc.score == 1.0
    ll = ENSEMBLERS["super_learner"]().fit(oof, y, METRICS["log_loss"])
    assert set(ll.weights) == {1, 2} and ll.weights[1] == pytest.approx(0.44, abs=0.03)


@pytest.mark.parametrize("name, metric", [("super_learner", "log_loss"), ("voting", "accuracy")])
def test_scores_with_the_row_weights(name, metric):
    # member 1 is right on the first 400 rows, member 2 on the last 200: weighing the last 200 rows 5x turns the
    # ensemble towards member 2, and the reported score is the weighted one
    y = np.tile([0, 1], 300)
    good, bad = np.eye(2)[y] * 0.8 + 0.1, np.eye(2)[1 - y] * 0.8 + 0.1
    first = np.arange(600) < 400
    oof = {1: np.where(first[:, None], good, bad), 2: np.where(first[:, None], bad, good)}
    m = METRICS[metric]
    w = np.where(first, 1.0, 5.0)
    plain = ENSEMBLERS[name]().fit(oof, y, m)
    weighted = ENSEMBLERS[name]().fit(oof, y, m, sample_weight=w)
    assert plain.weights.get(1, 0) > plain.weights.get(2, 0)
    assert weighted.weights.get(2, 0) > weighted.weights.get(1, 0)
    assert weighted.score == pytest.approx(m.score(y, weighted.combine(oof), sample_weight=w))
    assert weighted.score != pytest.approx(m.score(y, weighted.combine(oof)))


@pytest.mark.parametrize("name", ["super_learner", "voting"])
def test_a_helpful_member_too_dear_to_refit_is_left_out(name):
    oof, y = _regression(scales=(1.0, 1.0, 3.0), seed=2)
    m = METRICS["rmse"]
    free = ENSEMBLERS[name]().fit(oof, y, m)
    assert {1, 2} <= set(free.weights)
    tight = ENSEMBLERS[name]().fit(oof, y, m, costs={1: 1.0, 2: 5.0, 3: 0.5}, max_cost=2.0)
    best = min((1, 2), key=lambda k: m.score(y, oof[k]))
    assert best in tight.weights and (2 not in tight.weights or best == 2)
    assert sum({1: 1.0, 2: 5.0, 3: 0.5}[k] for k in tight.weights) <= 2.0 or len(tight.weights) == 1


def test_voting_averages_the_best_prefix_of_the_ranking():
    oof, y = _regression(scales=(1.0, 1.05, 1.1, 8.0), seed=3)
    m = METRICS["rmse"]
    ens = ENSEMBLERS["voting"]().fit(oof, y, m)
    # the three similar members with independent errors are averaged; the poor fourth would hurt the mean
    assert ens.weights == pytest.approx({1: 1 / 3, 2: 1 / 3, 3: 1 / 3})
    assert ens.score == pytest.approx(m.score(y, (oof[1] + oof[2] + oof[3]) / 3))
    assert ENSEMBLERS["voting"](k=2).fit(oof, y, m).weights == pytest.approx({1: 0.5, 2: 0.5})
    assert ENSEMBLERS["voting"](k=1).fit(oof, y, m).weights == {1: 1.0}


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_voting_refuses_a_bad_k(k):
    voting = ENSEMBLERS["voting"](k=k)  # scikit-learn style: __init__ stores, fit validates
    y = np.array([0.0, 1.0, 2.0])
    with pytest.raises(ConfigError, match="k"):
        voting.fit({1: y, 2: y + 1}, y, METRICS["rmse"])
