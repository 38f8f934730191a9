"""Random forests and extremely randomised trees (scikit-learn).

Robust with no tuning, handle NaN natively (scikit-learn >= 1.4 for random forests, >= 1.6 for extra trees) and
take ordinal-coded categoricals well, so they receive category columns as they are. Full-depth trees on big data
are large in memory, so the space caps the forest size and the cheap default bags subsamples.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from forgeml.models._common import threads
from forgeml.models.base import Capabilities, FitContext, ModelFamily
from forgeml.space import Categorical, Condition, Float, Int, SearchSpace

_CAPS = dict(handles_missing=True, native_categorical=True, iterative_param="n_estimators", sample_weight=True)


class _ForestFamily(ModelFamily):
    """The shared space and builder; subclasses pick the scikit-learn classes and bagging default."""

    bootstrap_default: bool = True

    def _max_trees(self, ctx: FitContext) -> int:
        return 1000 if ctx.n_rows <= 20_000 else 300 if ctx.n_rows <= 200_000 else 150

    def space(self, ctx: FitContext) -> SearchSpace:
        p = max(1, ctx.n_features)
        sqrt_frac = min(1.0, max(0.05, math.sqrt(p) / p))
        params: dict[str, Any] = {
            "n_estimators": Int(16, self._max_trees(ctx), log=True, default=min(300, self._max_trees(ctx))),
            "max_features": Float(0.05, 1.0, default=sqrt_frac if ctx.task != "regression" else 1.0),
            "min_samples_leaf": Int(1, 32, log=True, default=1),
        }
        if ctx.task != "regression":
            params["criterion"] = Categorical(("gini", "entropy"))
        params["bootstrap"] = Categorical((True, False), default=self.bootstrap_default)
        # bags of fewer than ~200 rows make useless trees: the lower bound grows as the data shrinks
        low = float(min(1.0, max(0.05, 200 / max(1, ctx.n_rows))))
        params["max_samples"] = Float(low, 1.0, default=max(low, self._cheap_samples(ctx)))
        return SearchSpace(params, {"max_samples": Condition("bootstrap", (True,))})

    @staticmethod
    def _cheap_samples(ctx: FitContext) -> float:
        """A bag of about 20k rows per tree: keeps the cheap default fast and small on 100k+ rows."""
        return float(min(1.0, max(0.05, 20_000 / max(1, ctx.n_rows))))

    def defaults(self, ctx: FitContext) -> list[dict[str, Any]]:
        base = dict(self.space(ctx).default())
        cheap = {**base, "n_estimators": min(100, base["n_estimators"])}
        if ctx.n_rows > 20_000:
            cheap.update(bootstrap=True, max_samples=self._cheap_samples(ctx))
        full = dict(base)
        if ctx.n_rows > 50_000:  # full-depth trees on all rows would take gigabytes: bag 50k rows per tree
            full.update(n_estimators=min(150, full["n_estimators"]), bootstrap=True,
                        max_samples=float(min(1.0, 50_000 / ctx.n_rows)))
        elif full["bootstrap"]:
            full["max_samples"] = 1.0
        # an alternative: feature bagging at half the columns and slightly larger leaves (smoother probabilities)
        alt = {**full, "max_features": 0.5, "min_samples_leaf": 2 if ctx.task != "regression" else 3}
        if ctx.task != "regression":
            alt["criterion"] = "entropy"
        out: list[dict[str, Any]] = []
        for d in (cheap, full, alt):
            if d not in out:
                out.append(d)
        return out

    def build(self, params: Mapping[str, Any], ctx: FitContext) -> Any:
        cls = self._classes()[0 if ctx.task == "regression" else 1]
        kwargs: dict[str, Any] = dict(
            n_estimators=int(params["n_estimators"]), max_features=float(params["max_features"]),
            min_samples_leaf=int(params["min_samples_leaf"]), bootstrap=bool(params["bootstrap"]),
            n_jobs=threads(ctx), random_state=ctx.seed,
        )
        if params["bootstrap"] and float(params.get("max_samples", 1.0)) < 1.0:
            kwargs["max_samples"] = float(params["max_samples"])
        if "criterion" in params:
            kwargs["criterion"] = params["criterion"]
        return cls(**kwargs)

    def continue_from(self, fitted: Any, params: Mapping[str, Any], ctx: FitContext) -> Any:
        import copy

        est = copy.deepcopy(fitted)  # scikit-learn's warm_start grows this forest by the new trees
        new = self.build(params, ctx).get_params()
        new.update(warm_start=True, n_estimators=len(fitted.estimators_) + int(params["n_estimators"]))
        return est.set_params(**new)

    def _classes(self) -> tuple[type, type]:
        raise NotImplementedError


class RandomForestFamily(_ForestFamily):
    name = "random_forest"
    capabilities = Capabilities(**_CAPS, cost=2.0)
    bootstrap_default = True

    def _classes(self) -> tuple[type, type]:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        return RandomForestRegressor, RandomForestClassifier


class ExtraTreesFamily(_ForestFamily):
    name = "extra_trees"
    capabilities = Capabilities(**_CAPS, cost=1.5)
    bootstrap_default = False

    def _classes(self) -> tuple[type, type]:
        from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

        return ExtraTreesRegressor, ExtraTreesClassifier
