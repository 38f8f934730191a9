"""Support vector machines (RBF or linear kernel): strong on small, scaled, dense data; cubic cost beyond that.

Probabilities come from Platt scaling fitted on 3-fold cross-validated decision values
(``CalibratedClassifierCV(SVC(), ensemble=False)``, scikit-learn's replacement for ``SVC(probability=True)``).
Regression fits ``SVR`` on a standardized target so ``epsilon`` is in target standard deviations.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forgeml.models._common import standardized_target
from forgeml.models.base import Capabilities, FitContext, ModelFamily
from forgeml.space import Categorical, Condition, Float, SearchSpace

MAX_ROWS = 10_000


class SVMFamily(ModelFamily):
    name = "svm"
    capabilities = Capabilities(needs_scaling=True, max_rows=MAX_ROWS, cost=5.0, sample_weight=True)

    def space(self, ctx: FitContext) -> SearchSpace:
        params: dict[str, Any] = {
            "kernel": Categorical(("rbf", "linear")),
            "C": Float(1e-2, 1e3, log=True, default=1.0),
            "gamma_scale": Float(1e-2, 1e1, log=True, default=1.0),
        }
        conds = {"gamma_scale": Condition("kernel", ("rbf",))}
        if ctx.task == "regression":
            params["epsilon"] = Float(1e-3, 1.0, log=True, default=0.1)
        else:
            params["class_weight"] = Categorical(("none", "balanced"))
        return SearchSpace(params, conds)

    def defaults(self, ctx: FitContext) -> list[dict[str, Any]]:
        base = dict(self.space(ctx).default())  # RBF, C=1, gamma about "scale"
        linear = {k: v for k, v in base.items() if k != "gamma_scale"}
        return [base, {**base, "C": 10.0}, {**linear, "kernel": "linear", "C": 0.1}]

    def build(self, params: Mapping[str, Any], ctx: FitContext) -> Any:
        """RBF ``gamma`` is ``gamma_scale / n_features``: scikit-learn's ``gamma="scale"`` for standardized inputs
        times a factor, so the searched range means the same at any width (``n_features`` counts the schema's
        columns, so one-hot expansion makes the kernel a little wider than "scale" would)."""
        from sklearn.svm import SVC, SVR

        kernel = params["kernel"]
        gamma: Any = "scale"
        if kernel == "rbf":
            gamma = float(params["gamma_scale"]) / max(1, ctx.n_features)
        common = dict(kernel=kernel, C=float(params["C"]), gamma=gamma, cache_size=500, max_iter=1_000_000)
        if ctx.task == "regression":
            return standardized_target(SVR(epsilon=float(params["epsilon"]), **common))
        from sklearn.calibration import CalibratedClassifierCV

        weight = None if params["class_weight"] == "none" else params["class_weight"]
        return CalibratedClassifierCV(SVC(class_weight=weight, random_state=ctx.seed, **common),
                                      method="sigmoid", cv=3, ensemble=False)
