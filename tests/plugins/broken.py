"""Broken plug-ins, one per rule: registration must refuse each with a message naming the rule."""
from __future__ import annotations

from forgeml.ensemble import Ensemble, Ensembler
from forgeml.models import Capabilities, ModelFamily
from forgeml.search import Searcher
from forgeml.space import Int, SearchSpace


class NoCapabilities(ModelFamily):
    name = "no_caps"
    capabilities = {"tasks": ("binary",)}  # a dict, not Capabilities

    def space(self, ctx):
        return SearchSpace({"depth": Int(1, 3)})

    def build(self, params, ctx):
        from sklearn.tree import DecisionTreeClassifier
        return DecisionTreeClassifier(max_depth=params["depth"])


class NoBuild(ModelFamily):
    name = "no_build"

    def space(self, ctx):
        return SearchSpace({"depth": Int(1, 3)})


class BuildsNothing(NoCapabilities):
    name = "builds_nothing"
    capabilities = Capabilities()

    def build(self, params, ctx):
        return object()


class NoAskTell:
    name = "no_ask_tell"

    def setup(self, space, **kw):
        self.space = space


class NoPropose(Searcher):
    name = "no_propose"


class WeightsDoNotSumToOne(Ensembler):
    name = "bad_weights"

    def fit(self, oof, y, metric, *, seed=0, costs=None, max_cost=None):
        return Ensemble(weights={k: 1.0 for k in oof}, score=0.0)


class FitWithoutCosts(Ensembler):
    name = "no_costs"

    def fit(self, oof, y, metric):  # type: ignore[override]
        return Ensemble(weights={next(iter(oof)): 1.0}, score=0.0)


def returns_text(y_true, y_pred):
    return "good"
