"""The ensembler battery over every ENSEMBLERS entry and the test plug-ins, and a broken one it catches."""
from __future__ import annotations

import numpy as np
import pytest

from forgeml.ensemble import ENSEMBLERS, Combiner, Ensemble, resolve_ensembler
from forgeml.ensemble.blending import BlendingEnsembler
from forgeml.ensemble.greedy import GreedyEnsembler
from forgeml.ensemble.stacking import StackingEnsembler
from forgeml.ensemble.voting import VotingEnsembler
from forgeml.errors import ConfigError
from forgeml.testing import check_ensembler
from forgeml.testing.check_ensembler import CASES
from plugins.ensemblers import AverageEnsembler, BestSingleEnsembler

PLUGINS = {"best_single": BestSingleEnsembler, "average": AverageEnsembler}


@pytest.mark.parametrize("name", ENSEMBLERS.names() + list(PLUGINS))
def test_battery(name):
    if name in PLUGINS:
        ENSEMBLERS.register(name, PLUGINS[name])
    try:
        ran = check_ensembler(ENSEMBLERS[name]())
    finally:
        if name in PLUGINS:
            ENSEMBLERS.unregister(name)
    assert len(ran) == len(CASES)


@pytest.mark.parametrize("ensembler", [StackingEnsembler(layers=3), StackingEnsembler(passthrough=True),
                                       StackingEnsembler(meta="lightgbm"), BlendingEnsembler(meta="logistic"),
                                       VotingEnsembler(voting="hard")],
                         ids=["stacking-3-layers", "stacking-passthrough", "stacking-lightgbm-meta",
                              "blending-logistic-meta", "voting-hard"])
def test_battery_on_the_non_default_settings(ensembler):
    assert len(check_ensembler(ensembler)) == len(CASES)


class Scaled(Combiner):
    """The best member's predictions times ``factor``; reads the members in ``members``."""

    def __init__(self, members, factor=1.0, fn=None):
        self.members, self.factor, self.fn = tuple(members), factor, fn

    def combine(self, preds, features=None):
        read = [np.asarray(preds[m], dtype=float) for m in self.members]
        return self.factor * read[0]

    def state(self):
        return (self.members, self.factor)


class WithCombiner(BestSingleEnsembler):
    """The best member through a ``Scaled`` combiner; what ``combiner_kw`` breaks decides which rule fails."""

    name = "with_combiner"

    def __init__(self, extra_member=False, **combiner_kw):
        self.extra_member, self.combiner_kw = extra_member, combiner_kw

    def fit(self, oof, y, metric, *, seed=0, costs=None, max_cost=None):
        ens = super().fit(oof, y, metric)
        best = next(iter(ens.weights))
        members = [best] + ([k for k in oof if k != best][:1] if self.extra_member else [])
        return Ensemble(ens.weights, ens.score, Scaled(members, **self.combiner_kw))


class Unnormalised(WithCombiner):
    """Fine on the fit rows; on new rows it returns probabilities that do not sum to 1."""

    def fit(self, oof, y, metric, *, seed=0, costs=None, max_cost=None):
        ens = super().fit(oof, y, metric)
        n = len(y)

        class Off(Scaled):
            def combine(self, preds, features=None):
                p = super().combine(preds)
                return p if len(p) == n else 2 * p

        return Ensemble(ens.weights, ens.score, Off(ens.combiner.members))


def test_a_combiner_that_keeps_every_rule_passes():
    assert len(check_ensembler(WithCombiner())) == len(CASES)


class OverBudget(AverageEnsembler):
    """Averages the best three whatever they cost: passes the registration check, fails the battery."""

    name = "over_budget"

    def fit(self, oof, y, metric, *, seed=0, costs=None, max_cost=None):
        return super().fit(oof, y, metric, seed=seed)


class WrongScore(BestSingleEnsembler):
    name = "wrong_score"

    def fit(self, oof, y, metric, *, seed=0, costs=None, max_cost=None):
        ens = super().fit(oof, y, metric)
        return Ensemble(ens.weights, ens.score + 0.01)


@pytest.mark.parametrize("ensembler, rule", [
    (OverBudget(), "were chosen with max_cost"),
    (WrongScore(), "is not the metric of the blended predictions"),
    (WithCombiner(extra_member=True), "combine reads member .* that has no weight"),
    (WithCombiner(fn=lambda p: p), "the ensemble must pickle"),
    (Unnormalised(), "must give probability rows summing to 1"),
], ids=["over_budget", "wrong_score", "reads_unweighted_member", "unpicklable", "unnormalised_on_new_rows"])
def test_battery_catches_a_broken_rule(ensembler, rule):
    with pytest.raises(AssertionError, match=rule):
        check_ensembler(ensembler)


def test_resolve_ensembler():
    assert isinstance(resolve_ensembler(True), GreedyEnsembler)
    assert isinstance(resolve_ensembler("greedy"), GreedyEnsembler)
    assert resolve_ensembler(False) is None
    assert resolve_ensembler(None) is None
    mine = BestSingleEnsembler()
    assert resolve_ensembler(mine) is mine


def test_unknown_ensemble_name_lists_the_choices():
    with pytest.raises(ConfigError, match=r"unknown ensemble 'superlearner'; choose 'auto' \(compare them all\), "
                                          r"one of: greedy, super_learner, voting, stacking, blending, or None"):
        resolve_ensembler("superlearner")
