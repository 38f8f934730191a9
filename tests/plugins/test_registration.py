"""register_* accepts a plug-in that keeps its kind's rules and refuses a broken one, naming the rule."""
from __future__ import annotations

import numpy as np
import pytest

import forgeml
from forgeml import AutoML
from forgeml.errors import ConfigError
from forgeml.metrics import METRICS, get_metric, unregister_metric
from forgeml.models import FAMILIES
from forgeml.search import SEARCHERS
from plugins import broken
from plugins.families import DecisionTreeFamily


@pytest.mark.parametrize("register, obj, rule", [
    (forgeml.register_family, broken.NoCapabilities, "must define capabilities = Capabilities"),
    (forgeml.register_family, broken.NoBuild, "must implement space() and build(); missing: build"),
    (forgeml.register_family, broken.BuildsNothing, "build() must return a scikit-learn estimator"),
    (forgeml.register_searcher, broken.NoAskTell, "must implement setup(), ask() and tell()"),
    (forgeml.register_searcher, broken.NoPropose, "must implement ask() and tell(); as a Searcher subclass it "
                                                  "must define _propose()"),
    (forgeml.register_ensembler, broken.WeightsDoNotSumToOne, "weights must be non-negative, sum to 1"),
    (forgeml.register_ensembler, broken.FitWithoutCosts, "its fit takes no seed, costs, max_cost"),
    (forgeml.register_metric, broken.returns_text, "must return a float on a tiny binary example, got 'good'"),
])
def test_broken_plugin_is_refused_naming_the_rule(register, obj, rule):
    name = getattr(obj, "name", "text_metric")
    with pytest.raises(ConfigError, match="^.*" + rule.replace("(", r"\(").replace(")", r"\)")):
        register(name, obj)
    assert name not in FAMILIES and name not in SEARCHERS and name not in METRICS


def test_name_must_match_and_builtins_are_not_replaced_silently():
    with pytest.raises(ConfigError, match="must have name = 'tree'"):
        forgeml.register_family("tree", DecisionTreeFamily)
    with pytest.raises(ConfigError, match="'linear' is already registered; pass overwrite=True"):
        forgeml.register_family("linear", "forgeml.models.linear:LinearFamily")
    with pytest.raises(ConfigError, match="takes the family class, not an instance"):
        forgeml.register_family("decision_tree", DecisionTreeFamily())


def test_a_broken_object_passed_to_automl_is_refused_before_fitting():
    X, y = np.zeros((20, 2)), np.arange(20) % 2
    with pytest.raises(ConfigError, match="must define capabilities"):
        AutoML(families=[broken.NoCapabilities()], max_trials=1, verbose=0).fit(X, y)
    with pytest.raises(ConfigError, match="weights must be non-negative"):
        AutoML(ensemble=broken.WeightsDoNotSumToOne(), max_trials=1, verbose=0).fit(X, y)


def test_a_lambda_metric_says_to_define_it_in_a_module():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 2)), np.arange(40) % 2
    with pytest.raises(ConfigError, match="cannot be sent to worker processes.*top level of an importable module"):
        AutoML(metric=lambda t, p: 0.5, families=["linear"], max_trials=1, n_jobs=1, verbose=0,
               time_budget=None).fit(X, y)


def test_register_metric_by_name_and_what_a_user_metric_receives():
    seen = {}

    def spy(y_true, y_pred):
        seen["args"] = (list(y_true), list(y_pred))
        return 1.0

    m = forgeml.register_metric("spy", spy, tasks=("binary",))
    try:
        bound = get_metric("spy", "binary", classes=["cat", "dog"])
        assert bound.score(np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]])) == 1.0
        assert seen["args"] == (["cat", "dog"], ["cat", "cat"])  # the user's labels, not codes
        with pytest.raises(ConfigError, match="does not apply to a regression task"):
            get_metric("spy", "regression")
        assert m.greater_is_better and not m.needs_proba
    finally:
        unregister_metric("spy")
    proba = forgeml.make_metric(spy, needs_proba=True, greater_is_better=False)
    get_metric(proba, "binary", classes=["cat", "dog"]).score(np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]]))
    assert seen["args"] == (["cat", "dog"], [0.1, 0.2])  # binary: the probability of classes_[1]
