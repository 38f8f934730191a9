"""A model family plug-in: scikit-learn's decision tree, searched over depth and leaf size."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.tree import DecisionTreeClassifier

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


class RefitRefusingTreeFamily(DecisionTreeFamily):
    """A decision tree (classification) that fails to fit more than 100 rows: it cross-validates on small data
    (each fold trains on fewer rows) but its refit on all rows fails, as a refit over a memory limit would."""

    name = "refit_refusing_tree"

    def build(self, params: Mapping[str, Any], ctx: FitContext) -> Any:
        return RowCappedTree(**params, random_state=ctx.seed)


class RowCappedTree(DecisionTreeClassifier):
    def fit(self, X, y, sample_weight=None, check_input=True):
        if len(X) > 100:
            raise ValueError(f"refusing to fit {len(X)} rows (more than 100)")
        return super().fit(X, y, sample_weight=sample_weight, check_input=check_input)
