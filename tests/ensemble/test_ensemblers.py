"""The ensembler battery over every ENSEMBLERS entry and the test plug-ins, and a broken one it catches."""
from __future__ import annotations

import pytest

from forgeml.ensemble import ENSEMBLERS, Ensemble, resolve_ensembler
from forgeml.ensemble.greedy import GreedyEnsembler
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


@pytest.mark.parametrize("ensembler, rule", [(OverBudget(), "were chosen with max_cost"),
                                             (WrongScore(), "is not the metric of the blended predictions")])
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
    with pytest.raises(ConfigError, match=r"unknown ensemble 'superlearner'; choose one of: greedy, super_learner, "
                                          r"voting, stacking, blending, or None"):
        resolve_ensembler("superlearner")
