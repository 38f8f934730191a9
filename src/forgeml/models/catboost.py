"""CatBoost: ordered target statistics for categoricals make it the strongest family on high-cardinality data.

CatBoost does not read pandas ``category`` columns by itself, so ``CatBoostClassifier`` / ``CatBoostRegressor``
here are small scikit-learn estimators that pass those columns as ``cat_features`` and stop at a deadline.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from forgeml._threads import predict_threads
from forgeml.models._common import histogram_bins, require_fitted, threads
from forgeml.models.base import Capabilities, FitContext, ModelFamily
from forgeml.space import Float, Int, SearchSpace


class _DeadlineCallback:
    """Tell CatBoost to stop once ``time.time()`` passes ``deadline``; the model keeps the finished trees."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def after_iteration(self, info: Any) -> bool:
        return time.time() < self.deadline


def _categorical_columns(X: Any) -> list[str]:
    if not isinstance(X, pd.DataFrame):
        return []
    return [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]


def _as_catboost(X: Any, cat_columns: list, model: Any = None) -> Any:
    """Category columns as CatBoost wants them: integers (missing = -1) or, for other categories, strings. The other
    columns are shared with ``X``, not copied (a whole copy of a large training frame was a trial's largest
    allocation after CatBoost's own); ``X`` is not changed.

    At predict time (``model``: the fitted CatBoost model), a frame of numbers only, in its columns, goes as
    one float64 array: CatBoost reads numbers as float32 either way, and building its pool from a frame cost 1 of
    the 1.3 ms of a one-row prediction."""
    if not cat_columns:
        if model is not None and isinstance(X, pd.DataFrame) and all(
                isinstance(t, np.dtype) and t.kind in "fiub" for t in X.dtypes) and \
                list(X.columns) == model.feature_names_:
            return X.to_numpy(dtype=np.float64)
        return X
    X = X.copy(deep=False)
    for c in cat_columns:
        col = X[c]
        cats = col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else None
        if cats is not None and pd.api.types.is_integer_dtype(cats.dtype):
            X[c] = col.astype("float64").fillna(-1).astype("int64")
        else:
            X[c] = col.astype(str)
    return X


class _CatBoostBase(BaseEstimator):
    _model_class = ""
    border_count: int | None = None  # models pickled before it was a parameter read it from here

    def __init__(self, iterations: int = 500, learning_rate: float | None = None, depth: int = 6,
                 l2_leaf_reg: float = 3.0, thread_count: int = 1, random_seed: int = 0,
                 deadline: float | None = None, border_count: int | None = None) -> None:
        self.iterations = iterations
        self.learning_rate = learning_rate
        self.depth = depth
        self.l2_leaf_reg = l2_leaf_reg
        self.thread_count = thread_count
        self.random_seed = random_seed
        self.deadline = deadline
        self.border_count = border_count

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _CatBoostBase:
        import catboost

        self.cat_columns_ = _categorical_columns(X)
        self.n_features_in_ = X.shape[1]
        model = getattr(catboost, self._model_class)(
            iterations=int(self.iterations), learning_rate=self.learning_rate, depth=int(self.depth),
            l2_leaf_reg=float(self.l2_leaf_reg), thread_count=int(self.thread_count),
            random_seed=int(self.random_seed), verbose=False, allow_writing_files=False,
            **({} if self.border_count is None else {"border_count": int(self.border_count)}),
        )
        cat_idx = [list(X.columns).index(c) for c in self.cat_columns_]
        callbacks = None if self.deadline is None else [_DeadlineCallback(float(self.deadline))]
        init = self.__dict__.pop("_init_model", None)  # set by CatBoostFamily.continue_from, used once
        model.fit(_as_catboost(X, self.cat_columns_), np.asarray(y), cat_features=cat_idx or None,
                  callbacks=callbacks, init_model=init,
                  sample_weight=None if sample_weight is None else np.asarray(sample_weight, dtype=float))
        self.model_ = model
        return self

    def _check(self) -> None:
        require_fitted(self)

    def predict(self, X: Any) -> np.ndarray:
        self._check()
        pred = np.asarray(self.model_.predict(_as_catboost(X, self.cat_columns_, self.model_),
                                              thread_count=predict_threads(X.shape[0])))
        return pred.reshape(-1) if pred.ndim > 1 and pred.shape[1] == 1 else pred


class CatBoostClassifier(ClassifierMixin, _CatBoostBase):
    """A scikit-learn classifier around ``catboost.CatBoostClassifier``; ``predict_proba`` follows ``classes_``."""

    _model_class = "CatBoostClassifier"

    @property
    def classes_(self) -> np.ndarray:
        self._check()
        return np.asarray(self.model_.classes_)

    def predict_proba(self, X: Any) -> np.ndarray:
        self._check()
        return np.asarray(self.model_.predict_proba(_as_catboost(X, self.cat_columns_, self.model_),
                                                    thread_count=predict_threads(X.shape[0])))

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class CatBoostRegressor(RegressorMixin, _CatBoostBase):
    """A scikit-learn regressor around ``catboost.CatBoostRegressor``."""

    _model_class = "CatBoostRegressor"


class CatBoostFamily(ModelFamily):
    """Symmetric (oblivious) trees; slower per tree than LightGBM but needs little tuning."""

    name = "catboost"
    capabilities = Capabilities(handles_missing=True, native_categorical=True, iterative_param="iterations",
                                cost=3.0, library="catboost", sample_weight=True)

    def space(self, ctx: FitContext) -> SearchSpace:
        return SearchSpace({
            "iterations": Int(20, 3000, log=True, default=500),
            "learning_rate": Float(0.005, 0.3, log=True, default=0.08),
            "depth": Int(3, 10, default=6),
            "l2_leaf_reg": Float(0.5, 30.0, log=True, default=3.0),
        })

    def defaults(self, ctx: FitContext) -> list[dict[str, Any]]:
        base = dict(self.space(ctx).default())
        return [
            {**base, "iterations": 100, "learning_rate": 0.2},
            base,
            {**base, "iterations": 1000, "learning_rate": 0.05, "depth": 7},
        ]

    def build(self, params: Mapping[str, Any], ctx: FitContext) -> Any:
        cls = CatBoostRegressor if ctx.task == "regression" else CatBoostClassifier
        return cls(iterations=int(params["iterations"]), learning_rate=float(params["learning_rate"]),
                   depth=int(params["depth"]), l2_leaf_reg=float(params["l2_leaf_reg"]),
                   thread_count=threads(ctx), random_seed=ctx.seed, deadline=ctx.deadline,
                   border_count=histogram_bins(ctx, 254))

    def continue_from(self, fitted: Any, params: Mapping[str, Any], ctx: FitContext) -> Any:
        est = self.build(params, ctx)
        est._init_model = fitted.model_  # boosting goes on from these trees (CatBoost's init_model)
        return est
