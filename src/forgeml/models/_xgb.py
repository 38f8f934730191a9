"""XGBoost's scikit-learn estimators with a ``deadline`` parameter, and a classifier that accepts any integer
labels (a cross-validation fold may lack a class, which ``xgboost.XGBClassifier`` rejects). Imports xgboost at
module level; only ``models/xgboost.py`` imports this."""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from forgeml._threads import predict_threads
from forgeml.data.coerce import FEW_ROWS, codes_are_values, request_memo


class _DeadlineCallback(xgb.callback.TrainingCallback):
    """Stop boosting once ``time.time()`` passes ``deadline``; the model keeps every finished round."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        return time.time() >= self.deadline


class _DeadlineMixin:
    def get_xgb_params(self) -> dict[str, Any]:
        params = super().get_xgb_params()
        params.pop("deadline", None)  # ours, not a booster parameter
        return params

    def _fit_until_deadline(self, fit: Any, X: Any, y: Any, **kwargs: Any) -> Any:
        init = self.__dict__.pop("_init_model", None)  # set by XGBoostFamily.continue_from, used once
        if init is not None:
            kwargs["xgb_model"] = init
        if self.deadline is None:
            return fit(X, y, **kwargs)
        saved = self.callbacks  # xgboost reads callbacks from the estimator: lend it ours for this fit only
        self.callbacks = [*(saved or []), _DeadlineCallback(float(self.deadline))]
        try:
            return fit(X, y, **kwargs)
        finally:
            self.callbacks = saved


class _PredictThreadsMixin:
    """Predict on ``predict_threads(rows)`` threads: the booster keeps the one thread it was fitted with (a
    trial's share) except while a large batch predicts where the cores are free."""

    def _on_threads(self, X: Any, call: Any) -> Any:
        # ``call`` takes the rows: the array XGBoost's own frame path would build from them, when that is certain
        booster = self.get_booster()
        X = _as_array(booster, X)
        fitted = max(1, int(self.n_jobs or 1))
        threads = predict_threads(X.shape[0])
        if threads <= fitted:
            return call(X)
        booster.set_param({"nthread": threads})
        try:
            return call(X)
        finally:
            booster.set_param({"nthread": fitted})

    def predict(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        return self._on_threads(X, lambda A: super(_PredictThreadsMixin, self).predict(A, *args, **kwargs))

    def reads_rows(self, columns: Any, categorical: set[int]) -> bool:
        """Whether a request's transformed rows may come as their array (``pipeline/fitted.py: rows_matrix``;
        ``categorical``: the positions holding category codes 0..k-1, NaN for missing): it is what ``_as_array``
        makes of their frame when the columns are the booster's, in order, categorical exactly where it has them."""
        booster = self.get_booster()
        names, types = booster.feature_names, booster.feature_types
        if names is None or types is None or len(names) != len(columns) or list(columns) != list(names):
            return False
        return all((t == "c") == (j in categorical) for j, t in enumerate(types))


class _ProbaThreadsMixin(_PredictThreadsMixin):
    def predict_proba(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        return self._on_threads(X, lambda A: super(_ProbaThreadsMixin, self).predict_proba(A, *args, **kwargs))


def _as_array(booster: Any, X: Any) -> Any:
    """A frame as the float64 matrix XGBoost's frame path makes of it (numbers as they are, a ``category``
    column as its codes, -1 as missing), when its columns are the booster's, in order, with the same kinds; else
    ``X``, for XGBoost to check and convert. That path inspects the frame on every call: 1.2 of the 1.45 ms of a
    one-row prediction."""
    if not isinstance(X, pd.DataFrame):
        return X
    names, types = booster.feature_names, booster.feature_types
    if names is None or types is None:
        return X
    if len(X) > FEW_ROWS:
        return _converted(X, names, types)
    # a request's few rows: the members that share a preprocessing get the same frame, converted once between them
    # (a batch's matrix is not kept for the request's length)
    return request_memo(X, ("xgboost", tuple(names), tuple(types)), lambda: _converted(X, names, types))


def _converted(X: pd.DataFrame, names: list[str], types: list[str]) -> Any:
    if list(X.columns) != names:
        return X
    categories, all_values = [], True
    for j, (t, kind) in enumerate(zip(X.dtypes.to_numpy(), types)):
        if isinstance(t, pd.CategoricalDtype) and kind == "c":
            categories.append(j)
            all_values = all_values and codes_are_values(t)
        elif not (isinstance(t, np.dtype) and t.kind in "fiub" and kind != "c"):
            return X
    if all_values:  # numbers only, or forgeml's own 0..k-1 categories: one call reads them all
        return X.to_numpy(dtype=np.float64)
    out = np.empty(X.shape, dtype=np.float64)
    for j, c in enumerate(names):
        if j in categories:
            codes = X[c].cat.codes.to_numpy()
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, j] = X[c].to_numpy()
    return out


# one mixin base per class: xgboost's ``get_params`` looks at the second base when the first is a mixin
class _ClassifierMixin(_ProbaThreadsMixin, _DeadlineMixin):
    pass


class _RegressorMixin(_PredictThreadsMixin, _DeadlineMixin):
    pass


class XGBClassifier(_ClassifierMixin, xgb.XGBClassifier):
    """``xgboost.XGBClassifier`` that stops at ``deadline`` and maps arbitrary integer labels to 0..k-1."""

    def __init__(self, *, deadline: float | None = None, **kwargs: Any) -> None:
        self.deadline = deadline
        super().__init__(**kwargs)

    def fit(self, X: Any, y: Any, **kwargs: Any) -> XGBClassifier:
        self.__dict__.pop("labels_", None)
        labels, codes = np.unique(np.asarray(y), return_inverse=True)
        self._fit_until_deadline(super().fit, X, codes.reshape(-1), **kwargs)
        self.labels_ = labels
        return self

    @property
    def classes_(self) -> np.ndarray:
        labels = self.__dict__.get("labels_")
        return labels if labels is not None else np.arange(self.n_classes_)

    def predict(self, X: Any, **kwargs: Any) -> np.ndarray:
        return self.classes_[np.asarray(super().predict(X, **kwargs), dtype=int)]


class XGBRegressor(_RegressorMixin, xgb.XGBRegressor):
    """``xgboost.XGBRegressor`` that stops at ``deadline`` (epoch seconds, None for no limit)."""

    def __init__(self, *, deadline: float | None = None, **kwargs: Any) -> None:
        self.deadline = deadline
        super().__init__(**kwargs)

    def fit(self, X: Any, y: Any, **kwargs: Any) -> XGBRegressor:
        return self._fit_until_deadline(super().fit, X, y, **kwargs)
