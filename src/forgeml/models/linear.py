"""Regularised linear models: logistic regression for classification, ridge / lasso / elastic net for regression.

Cheap, hard to overfit and often competitive on wide or small data; a strong member of an ensemble.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forgeml.models._common import standardized_target
from forgeml.models.base import Capabilities, FitContext, ModelFamily
from forgeml.space import Categorical, Condition, Float, SearchSpace


class LinearFamily(ModelFamily):
    """``LogisticRegression`` (classification) or ``Ridge``/``Lasso``/``ElasticNet`` (regression).

    Regression penalties use one scale for all three models: ``alpha`` is the per-row penalty of a model fitted on
    a standardized target (``Ridge`` gets ``alpha * n_rows``), so the same value means the same shrinkage.
    """

    name = "linear"
    capabilities = Capabilities(needs_scaling=True, cost=0.2, sample_weight=True)

    def space(self, ctx: FitContext) -> SearchSpace:
        if ctx.task == "regression":
            return SearchSpace({
                "model": Categorical(("ridge", "lasso", "elasticnet")),
                "alpha": Float(1e-5, 10.0, log=True, default=1e-3),
                "l1_ratio": Float(0.05, 0.95, default=0.5),
            }, {"l1_ratio": Condition("model", ("elasticnet",))})
        return SearchSpace({
            "C": Float(1e-3, 1e3, log=True, default=1.0),
            "penalty": Categorical(("l2", "l1", "elasticnet")),
            "l1_ratio": Float(0.05, 0.95, default=0.5),
            "class_weight": Categorical(("none", "balanced")),
        }, {"l1_ratio": Condition("penalty", ("elasticnet",))})

    def defaults(self, ctx: FitContext) -> list[dict[str, Any]]:
        if ctx.task == "regression":
            return [
                {"model": "ridge", "alpha": 1e-3},
                {"model": "ridge", "alpha": 0.1},
                {"model": "elasticnet", "alpha": 1e-3, "l1_ratio": 0.5},
            ]
        return [
            {"C": 1.0, "penalty": "l2", "class_weight": "none"},
            {"C": 10.0, "penalty": "l2", "class_weight": "none"},
            {"C": 0.5, "penalty": "l1", "class_weight": "balanced"},
        ]

    def build(self, params: Mapping[str, Any], ctx: FitContext) -> Any:
        if ctx.task == "regression":
            return self._regressor(params, ctx)
        from sklearn.linear_model import LogisticRegression

        penalty = params["penalty"]
        l1_ratio = {"l2": 0.0, "l1": 1.0}.get(penalty, params.get("l1_ratio", 0.5))
        if penalty == "l2":
            solver, max_iter = "lbfgs", 500
        elif penalty == "l1" and ctx.task == "binary":
            solver, max_iter = "liblinear", 300  # liblinear handles binary problems only
        else:
            solver, max_iter = "saga", 300
        return LogisticRegression(
            C=float(params["C"]), l1_ratio=float(l1_ratio), solver=solver, max_iter=max_iter,
            class_weight=None if params["class_weight"] == "none" else params["class_weight"],
            random_state=ctx.seed,
        )

    @staticmethod
    def _regressor(params: Mapping[str, Any], ctx: FitContext) -> Any:
        from sklearn.linear_model import ElasticNet, Lasso, Ridge

        alpha = float(params["alpha"])
        model = params["model"]
        if model == "ridge":
            est = Ridge(alpha=alpha * max(1, ctx.n_rows))
        elif model == "lasso":
            est = Lasso(alpha=alpha, max_iter=2000, random_state=ctx.seed)
        else:
            est = ElasticNet(alpha=alpha, l1_ratio=float(params["l1_ratio"]), max_iter=2000, random_state=ctx.seed)
        return standardized_target(est)
