"""LightGBM gradient boosting: the first family to try (fast, strong, native NaN and categorical handling)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forgeml.models._common import histogram_bins, threads
from forgeml.models.base import Capabilities, FitContext, ModelFamily
from forgeml.space import Categorical, Float, Int, SearchSpace


class LightGBMFamily(ModelFamily):
    """``LGBMClassifier`` / ``LGBMRegressor`` with a deadline callback.

    ``subsample_freq`` is derived (1 when ``subsample < 1``) rather than searched, so row bagging is never a no-op.
    Defaults: a cheap one, LightGBM's own, a slower-rate bagged one and an ``extra_trees`` one (randomised split
    thresholds: much better on noisy data, as in AutoGluon's portfolio), with fixed tree counts since there is no
    inner validation split.
    """

    name = "lightgbm"
    capabilities = Capabilities(handles_missing=True, native_categorical=True, iterative_param="n_estimators",
                                cost=1.0, library="lightgbm", sample_weight=True)

    def space(self, ctx: FitContext) -> SearchSpace:
        return SearchSpace({
            "n_estimators": Int(20, 3000, log=True, default=100),
            "learning_rate": Float(0.005, 0.3, log=True, default=0.1),
            "num_leaves": Int(4, 256, log=True, default=31),
            "min_child_samples": Int(2, 128, log=True, default=20),
            "subsample": Float(0.4, 1.0, default=1.0),
            "colsample_bytree": Float(0.3, 1.0, default=1.0),
            "reg_alpha": Float(1e-4, 10.0, log=True, default=1e-4),
            "reg_lambda": Float(1e-4, 10.0, log=True, default=1e-4),
            "extra_trees": Categorical((False, True)),
        })

    def defaults(self, ctx: FitContext) -> list[dict[str, Any]]:
        base = dict(self.space(ctx).default())  # LightGBM's defaults: 100 trees, rate 0.1, 31 leaves
        return [
            {**base, "n_estimators": 50, "learning_rate": 0.15, "num_leaves": 15, "colsample_bytree": 0.8},
            base,
            {**base, "n_estimators": 400, "learning_rate": 0.05, "num_leaves": 31, "subsample": 0.8,
             "colsample_bytree": 0.8, "reg_lambda": 1.0},
            {**base, "n_estimators": 500, "learning_rate": 0.04, "num_leaves": 31, "min_child_samples": 20,
             "colsample_bytree": 0.7, "extra_trees": True},
        ]

    def build(self, params: Mapping[str, Any], ctx: FitContext) -> Any:
        from forgeml.models._lgbm import LGBMClassifier, LGBMRegressor

        cls = LGBMRegressor if ctx.task == "regression" else LGBMClassifier
        subsample = float(params["subsample"])
        return cls(
            n_estimators=int(params["n_estimators"]), learning_rate=float(params["learning_rate"]),
            num_leaves=int(params["num_leaves"]), min_child_samples=int(params["min_child_samples"]),
            subsample=subsample, subsample_freq=1 if subsample < 1.0 else 0,
            colsample_bytree=float(params["colsample_bytree"]), reg_alpha=float(params["reg_alpha"]),
            reg_lambda=float(params["reg_lambda"]), extra_trees=bool(params["extra_trees"]),
            max_bin=histogram_bins(ctx, 255), n_jobs=threads(ctx), random_state=ctx.seed, verbose=-1,
            deadline=ctx.deadline,
        )

    def continue_from(self, fitted: Any, params: Mapping[str, Any], ctx: FitContext) -> Any:
        est = self.build(params, ctx)
        est._init_model = fitted.booster_  # boosting goes on from these trees (LightGBM's init_model)
        return est
