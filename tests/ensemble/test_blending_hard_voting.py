"""blending (the combiner fitted on a holdout only) and hard voting (a majority of labels), beyond the battery."""
import numpy as np
import pytest

from forgeml.ensemble.blending import BlendingEnsembler, carve
from forgeml.ensemble.voting import HardVote, VotingEnsembler
from forgeml.metrics import METRICS


def _members(n=800, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    oof = {}
    for key, noise in ((1, 1.0), (2, 1.2), (3, 1.5)):
        logits = np.eye(3)[y] * 1.5 + rng.normal(scale=noise, size=(n, 3))
        e = np.exp(logits)
        oof[key] = e / e.sum(1, keepdims=True)
    return oof, y


@pytest.mark.parametrize("meta", ["linear", "logistic"])
def test_blending_weights_depend_on_the_holdout_rows_only(meta):
    oof, y = _members()
    m = METRICS["log_loss"]
    ens = BlendingEnsembler(meta=meta).fit(oof, y, m, seed=3)
    assert len(ens.weights) > 1
    rest, hold = carve(y, 3, 0.25, 3)
    assert len(hold) == 200 and set(rest).isdisjoint(hold)
    rng = np.random.default_rng(1)

    def perturbed(rows):
        out = {}
        for k, p in oof.items():
            q = p.copy()
            q[rows] = np.clip(q[rows] * rng.uniform(0.8, 1.2, size=q[rows].shape), 1e-3, None)
            out[k] = q / q.sum(1, keepdims=True)
        return out

    def same(a, b):  # equal up to rounding: the arrays may sit at different memory alignments
        return a.weights.keys() == b.weights.keys() and all(
            a.weights[k] == pytest.approx(b.weights[k], rel=1e-9, abs=1e-12) for k in a.weights) and np.allclose(
            a.combine(oof), b.combine(oof), rtol=1e-9, atol=1e-12)

    outside = BlendingEnsembler(meta=meta).fit(perturbed(rest), y, m, seed=3)
    assert same(outside, ens)
    inside = BlendingEnsembler(meta=meta).fit(perturbed(hold), y, m, seed=3)
    assert not same(inside, ens)  # the same change on the holdout rows does move them
    assert ens.score == pytest.approx(m.score(y, ens.combine(oof)))  # reported on all the rows


def test_blending_is_seeded():
    oof, y = _members()
    m = METRICS["log_loss"]
    assert BlendingEnsembler().fit(oof, y, m, seed=1) == BlendingEnsembler().fit(oof, y, m, seed=1)
    assert BlendingEnsembler().fit(oof, y, m, seed=1).weights != BlendingEnsembler().fit(oof, y, m, seed=2).weights


def _onehot(labels, k=3):
    return np.eye(k)[labels] * 0.7 + 0.1


def test_hard_vote_is_the_majority_and_ties_go_to_the_better_ranked_member():
    # rows: a clear majority, another majority, a three-way tie, a two-way tie against the best-ranked member
    a = _onehot([0, 2, 0, 1])
    b = _onehot([0, 1, 1, 2])
    c = _onehot([1, 1, 2, 2])
    vote = HardVote((5, 6, 7)).combine({5: a, 6: b, 7: c})
    np.testing.assert_array_equal(vote.argmax(1), [0, 1, 0, 2])
    np.testing.assert_allclose(vote.sum(1), 1.0)
    np.testing.assert_allclose(vote[0], [2 / 3, 1 / 3, 0], atol=1e-5)
    reordered = HardVote((7, 6, 5)).combine({5: a, 6: b, 7: c})
    assert reordered[2].argmax() == 2  # the tie now goes to member 7's class


def test_hard_vote_for_regression_is_the_median():
    preds = {1: np.array([1.0, 5.0]), 2: np.array([2.0, -1.0]), 3: np.array([10.0, 0.0])}
    np.testing.assert_array_equal(HardVote((1, 2, 3)).combine(preds), [2.0, 0.0])


def test_hard_voting_fits_a_majority_that_beats_every_member():
    # three members, each wrong on a different third of the rows, confidently: every majority is right
    y = np.tile([0, 1, 2], 100)
    n = len(y)
    members = {}
    for key in range(3):
        labels = y.copy()
        wrong = np.arange(n) % 3 == key
        labels[wrong] = (y[wrong] + 1) % 3
        members[key + 10] = _onehot(labels)
    acc = METRICS["accuracy"]
    soft = VotingEnsembler(voting="soft").fit(members, y, acc)
    hard = VotingEnsembler(voting="hard").fit(members, y, acc)
    assert hard.score == 1.0 and set(hard.weights) == {10, 11, 12} and hard.combiner is not None
    assert hard.combiner.describe() == "voting(hard)"
    np.testing.assert_array_equal(hard.combine(members).argmax(1), y)
    assert soft.combiner is None and soft.score == 1.0  # here the soft vote agrees


def test_hard_voting_with_one_best_member_returns_its_own_probabilities():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    good = np.column_stack([1 - y * 0.8 - 0.1, y * 0.8 + 0.1])
    noise = rng.dirichlet([1, 1], size=200)
    ens = VotingEnsembler(voting="hard").fit({1: good, 2: noise, 3: noise[::-1]}, y, METRICS["log_loss"])
    assert ens.weights == {1: 1.0} and ens.combiner is None


def test_voting_rejects_an_unknown_kind():
    from forgeml.errors import ConfigError

    with pytest.raises(ConfigError, match="voting must be 'soft' or 'hard'"):
        VotingEnsembler(voting="majority").fit(*_members(50), METRICS["accuracy"])
