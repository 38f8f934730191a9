"""A model family plug-in: scikit-learn's decision tree, searched over depth and leaf size."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forgeml.models import Capabilities, FitContext, ModelFamily
from forgeml.space import Int, SearchSpace


class DecisionTreeFamily(ModelFamily):
    name = "decision_tree"
    capabilities = Capabilities(tasks=("binary", "multiclass", "regression"), handles_missing=True,
                                native_categorical=True, cost=0.1)

    def space(self, ctx: FitContext) -> SearchSpace:
        return SearchSpace({
            "max_depth": Int(1, 12, default=4),
            "min_samples_leaf": Int(1, 32, log=True, default=4),
        })

    def build(self, params: Mapping[str, Any], ctx: FitContext) -> Any:
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

        model = DecisionTreeRegressor if ctx.task == "regression" else DecisionTreeClassifier
        return model(**params, random_state=ctx.seed)
