"""XGBoost gradient boosting (histogram trees, native categorical support)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forgeml.models._common import histogram_bins, threads
from forgeml.models.base import Capabilities, FitContext, ModelFamily
from forgeml.space import Float, Int, SearchSpace


class XGBoostFamily(ModelFamily):
    """``XGBClassifier`` / ``XGBRegressor`` with ``tree_method="hist"`` and ``enable_categorical=True``.

    Depth-wise trees complement LightGBM's leaf-wise growth in an ensemble. Defaults: XGBoost's own (cheap), a
    slower-rate bagged configuration close to AutoGluon's, and a deeper one for interaction-heavy data.
    """

    name = "xgboost"
    capabilities = Capabilities(handles_missing=True, native_categorical=True, iterative_param="n_estimators",
                                cost=1.5, library="xgboost", sample_weight=True)

    def space(self, ctx: FitContext) -> SearchSpace:
        return SearchSpace({
            "n_estimators": Int(20, 3000, log=True, default=100),
            "learning_rate": Float(0.005, 0.5, log=True, default=0.3),
            "max_depth": Int(2, 12, default=6),
            "min_child_weight": Float(0.1, 32.0, log=True, default=1.0),
            "subsample": Float(0.4, 1.0, default=1.0),
            "colsample_bytree": Float(0.3, 1.0, default=1.0),
            "reg_alpha": Float(1e-4, 10.0, log=True, default=1e-4),
            "reg_lambda": Float(1e-3, 10.0, log=True, default=1.0),
        })

    def defaults(self, ctx: FitContext) -> list[dict[str, Any]]:
        base = dict(self.space(ctx).default())  # XGBoost's defaults: 100 trees, rate 0.3, depth 6
        return [
            base,
            {**base, "n_estimators": 400, "learning_rate": 0.05, "subsample": 0.8, "colsample_bytree": 0.8},
            {**base, "n_estimators": 500, "learning_rate": 0.03, "max_depth": 9, "min_child_weight": 3.0,
             "subsample": 0.8, "colsample_bytree": 0.6},
        ]

    def build(self, params: Mapping[str, Any], ctx: FitContext) -> Any:
        from forgeml.models._xgb import XGBClassifier, XGBRegressor

        cls = XGBRegressor if ctx.task == "regression" else XGBClassifier
        return cls(
            n_estimators=int(params["n_estimators"]), learning_rate=float(params["learning_rate"]),
            max_depth=int(params["max_depth"]), min_child_weight=float(params["min_child_weight"]),
            subsample=float(params["subsample"]), colsample_bytree=float(params["colsample_bytree"]),
            reg_alpha=float(params["reg_alpha"]), reg_lambda=float(params["reg_lambda"]),
            tree_method="hist", max_bin=histogram_bins(ctx, 256), enable_categorical=True, n_jobs=threads(ctx),
            random_state=ctx.seed,
            verbosity=0, deadline=ctx.deadline,
        )

    def continue_from(self, fitted: Any, params: Mapping[str, Any], ctx: FitContext) -> Any:
        est = self.build(params, ctx)
        est._init_model = fitted.get_booster()  # boosting goes on from these trees (XGBoost's xgb_model)
        return est
