"""Model families and sample weights: who declares support, that the weights reach the estimator, and that the
battery refuses a family that declares support but ignores the weights."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from forgeml.models import FAMILIES, FitContext, split_by_sample_weight
from forgeml.models.base import Capabilities
from forgeml.models.linear import LinearFamily
from forgeml.testing import check_model_family
from forgeml.testing.check_model_family import synthetic_data

WEIGHTED = {"lightgbm", "linear", "random_forest", "extra_trees", "xgboost", "catboost", "svm"}


def test_families_declare_whether_they_use_sample_weight():
    declared = {name for name in FAMILIES if FAMILIES[name].capabilities.sample_weight}
    assert declared == WEIGHTED  # kNN has no weighted fit; the MLP's trainer has no weighted loss yet
    assert Capabilities().sample_weight is False  # a plug-in must opt in: weights are never silently ignored


def test_split_by_sample_weight_keeps_the_order_and_names_the_rest():
    ctx = FitContext(task="binary", n_rows=100, n_features=3, n_classes=2)
    families = {n: FAMILIES[n]() for n in ("knn", "linear", "mlp", "random_forest")}
    kept, skipped = split_by_sample_weight(families)
    assert list(kept) == ["linear", "random_forest"] and skipped == ["knn", "mlp"]
    assert all(f.applies_to(ctx) for f in kept.values())


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_zero_weights_fit_the_linear_family_exactly_as_dropping_those_rows(task):
    X, y = synthetic_data(task, 200, seed=3)
    rng = np.random.default_rng(3)
    w = rng.exponential(size=len(y))
    w[rng.random(len(y)) < 0.3] = 0.0  # these rows must not count at all
    keep = w > 0
    family = LinearFamily()
    ctx = FitContext(task=task, n_rows=200, n_features=5, n_classes={"regression": 0, "binary": 2}.get(task, 3))
    params = family.defaults(ctx)[0]
    weighted = family.build(params, ctx).fit(X, y, sample_weight=w)
    dropped = family.build(params, ctx).fit(X[keep], y[keep], sample_weight=w[keep])
    unweighted = family.build(params, ctx).fit(X, y)
    out = (lambda m: m.predict(X)) if task == "regression" else (lambda m: m.predict_proba(X))
    np.testing.assert_allclose(out(weighted), out(dropped), rtol=1e-5, atol=1e-6)
    assert np.abs(out(weighted) - out(unweighted)).max() > 1e-3  # the weights did change the model


class _IgnoresWeights(ClassifierMixin, BaseEstimator):
    """A logistic regression whose fit accepts sample_weight and drops it: the bug the battery must catch."""

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _IgnoresWeights:
        from sklearn.linear_model import LogisticRegression

        self.model_ = LogisticRegression(C=self.C).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.model_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        return self.model_.predict(X)


class _IgnoringFamily(LinearFamily):
    name = "ignores_weights"
    capabilities = Capabilities(tasks=("binary",), needs_scaling=True, sample_weight=True)

    def build(self, params: Any, ctx: FitContext) -> Any:
        return _IgnoresWeights(C=float(params["C"]))


def test_the_battery_refuses_a_family_that_declares_sample_weight_but_ignores_it():
    with pytest.raises(AssertionError, match="rows of weight 0 still shape the model"):
        check_model_family(_IgnoringFamily(), "binary")
