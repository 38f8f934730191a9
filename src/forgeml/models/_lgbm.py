"""LightGBM's scikit-learn estimators with one extra parameter, ``deadline``: boosting stops at that epoch time
and keeps the trees built so far. Imports lightgbm at module level; only ``models/lightgbm.py`` imports this."""
from __future__ import annotations

import time
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from forgeml._threads import predict_threads


def as_matrix(X: pd.DataFrame, categories: list[pd.Index] | None = None, dtype: Any = None
              ) -> tuple[np.ndarray, list[int], list[pd.Index]]:
    """``X`` as one row-ordered matrix for LightGBM, the positions of its unordered ``category`` columns (given as
    their codes, missing as NaN; what LightGBM's ``categorical_feature="auto"`` takes) and the categories of every
    ``category`` column.

    LightGBM's own pandas path holds a float64 copy of the frame in column order and then a row-ordered copy of
    that for its C API: four times a float32 matrix, the largest allocation of a trial on a large table. The matrix
    is float32 (``dtype`` None: unless a number is beyond float32's range, then float64), which LightGBM bins as
    it would the float64 values except where two of them are closer than float32 tells apart (XGBoost and CatBoost
    read float32 anyway). With ``categories`` (those seen at fit time) a column whose categories differ is recoded
    to them, as LightGBM's pandas path does."""
    dtypes = list(X.dtypes)
    cat_pos = [j for j, t in enumerate(dtypes) if isinstance(t, pd.CategoricalDtype)]
    seen = [X.iloc[:, j].cat.categories for j in cat_pos] if categories is None else categories
    if len(seen) != len(cat_pos):
        raise ValueError(f"the model was fitted with {len(seen)} categorical columns; this frame has {len(cat_pos)}")
    unordered = [j for j in cat_pos if not dtypes[j].ordered]
    cats = dict(zip(cat_pos, seen))
    columns = [col for _, col in X.items()]  # views; ``.array`` below skips Series overhead (one-row calls)
    if dtype is None:
        dtype = np.float64 if any(_beyond_float32(col) for j, col in enumerate(columns) if j not in cats) \
            else np.float32
    out = np.empty(X.shape, dtype=dtype)
    with np.errstate(over="ignore"):  # at predict time a number beyond float32 reads as +-inf: the same branch
        for j, col in enumerate(columns):
            if j in cats:
                values = col.array
                if not values.categories.equals(cats[j]):
                    values = values.set_categories(cats[j])
                codes = values.codes
                out[:, j] = codes
                if (codes < 0).any():
                    out[codes < 0, j] = np.nan
            elif isinstance(col.dtype, np.dtype):
                out[:, j] = col.array.to_numpy()  # the column's own array, cast as it is written
            else:  # a pandas extension type (nullable numbers)
                out[:, j] = col.to_numpy(dtype=dtype, na_value=np.nan)
    return out, unordered, seen


def _beyond_float32(col: pd.Series) -> bool:
    """Whether a float64 column holds a finite number float32 cannot (it would become inf)."""
    if not (isinstance(col.dtype, np.dtype) and col.dtype.kind == "f" and col.dtype.itemsize > 4) or not len(col):
        return False
    a = col.array.to_numpy()
    return bool(np.nanmax(np.abs(a), initial=0.0) > np.finfo(np.float32).max)


class _DeadlineCallback:
    """Stop boosting once ``time.time()`` passes ``deadline``; the booster keeps every finished round."""

    order = 40  # after LightGBM's own callbacks

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, env: Any) -> None:
        if time.time() >= self.deadline:
            raise lgb.callback.EarlyStopException(env.iteration, [])


class _DeadlineMixin:
    def fit(self, X: Any, y: Any, **kwargs: Any) -> Any:
        init = self.__dict__.pop("_init_model", None)  # set by LightGBMFamily.continue_from, used once
        if init is not None:
            kwargs["init_model"] = init
        if self.deadline is not None:
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), _DeadlineCallback(float(self.deadline))]
        for name in ("frame_categories_", "frame_dtype_"):
            self.__dict__.pop(name, None)
        if isinstance(X, pd.DataFrame) and not {"feature_name", "categorical_feature", "eval_set"} & set(kwargs):
            names = [str(c) for c in X.columns]
            X, cat_pos, categories = as_matrix(X)
            super().fit(X, y, feature_name=names, categorical_feature=cat_pos, **kwargs)
            self.frame_categories_, self.frame_dtype_ = categories, X.dtype  # how a frame is read at predict time
            # as LightGBM's pandas path leaves it: the booster maps a frame's categories (booster_.predict(frame),
            # a saved model file) to the codes it was trained on
            self.booster_.pandas_categorical = [list(c) for c in categories]
            # the booster keeps the names; the matrix passed at predict time has none, which scikit-learn's
            # check would warn about on every call if the estimator claimed ``feature_names_in_``
            self._fitted_with_feature_names = False
            return self
        return super().fit(X, y, **kwargs)

    def _matrix(self, X: Any) -> Any:
        """``X`` as at fit time: a frame becomes ``as_matrix`` when the model was fitted on one that way (a
        model pickled before has no ``frame_categories_`` and reads frames through LightGBM's pandas path)."""
        categories = self.__dict__.get("frame_categories_")
        if categories is None or not isinstance(X, pd.DataFrame):
            return X
        return as_matrix(X, categories, self.frame_dtype_)[0]


class _PredictThreadsMixin:
    """Predict on ``predict_threads(rows)`` threads: fitted on one (a trial's share), predicting where the cores
    are free. An explicit ``num_threads`` wins."""

    def predict(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("num_threads", predict_threads(X.shape[0]))
        return super().predict(self._matrix(X), *args, **kwargs)


class _ProbaThreadsMixin(_PredictThreadsMixin):
    def predict_proba(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("num_threads", predict_threads(X.shape[0]))
        return super().predict_proba(self._matrix(X), *args, **kwargs)


# one mixin base per class: LightGBM's ``get_params`` looks at the second base when the first is a mixin
class _ClassifierMixin(_ProbaThreadsMixin, _DeadlineMixin):
    pass


class _RegressorMixin(_PredictThreadsMixin, _DeadlineMixin):
    pass


class LGBMClassifier(_ClassifierMixin, lgb.LGBMClassifier):
    """``lightgbm.LGBMClassifier`` that stops at ``deadline`` (epoch seconds, None for no limit)."""

    def __init__(self, *, deadline: float | None = None, **kwargs: Any) -> None:
        self.deadline = deadline
        super().__init__(**kwargs)


class LGBMRegressor(_RegressorMixin, lgb.LGBMRegressor):
    """``lightgbm.LGBMRegressor`` that stops at ``deadline`` (epoch seconds, None for no limit)."""

    def __init__(self, *, deadline: float | None = None, **kwargs: Any) -> None:
        self.deadline = deadline
        super().__init__(**kwargs)
