"""Fitted scikit-learn scalers and linear models applied to a request's few rows without their input checks.

On one row, scikit-learn's check of its input (``validate_data``: namespace detection, dtype and finiteness checks,
the feature-count check) costs 60-100 us a call, ten times the arithmetic. A model of a few linear members walks
a scaler and a linear model per pipeline (fifteen pipelines for a bagged ensemble): 2-3 ms of a 20 ms request.

Each function here repeats the estimator's own arithmetic on the array the check would have passed on (a
float64 ndarray of the fitted width, finite where the estimator requires it), in the same numpy calls in the same
order, so the result is the estimator's to the last bit (tests compare them on random inputs). Anything else (a
subclass, a sparse or non-float64 input, a value the check would reject, more rows) returns None and the caller
uses the estimator's own method, which raises its own errors."""
from __future__ import annotations

from typing import Any

import numpy as np

from forgeml.data.coerce import FEW_ROWS


def _plain(X: Any, width: int) -> bool:
    return (type(X) is np.ndarray and X.ndim == 2 and X.dtype == np.float64 and X.shape[1] == width
            and 0 < X.shape[0] <= FEW_ROWS)


def scaled(scaler: Any, X: Any) -> np.ndarray | None:
    """``scaler.transform(X)`` for a fitted ``StandardScaler`` (which lets NaN through and rejects infinity)."""
    from sklearn.preprocessing import StandardScaler

    if type(scaler) is not StandardScaler or not _plain(X, int(getattr(scaler, "n_features_in_", -1))) \
            or np.isinf(X).any():
        return None
    out = np.array(X, copy=True)  # the check's copy (``copy=True``): the caller's array is not touched
    if scaler.with_mean:
        out -= scaler.mean_
    if scaler.with_std:
        out /= scaler.scale_
    return out


def linear_output(model: Any, X: Any, proba: bool) -> np.ndarray | None:
    """``model.predict_proba(X)`` (``proba``) or ``model.predict(X)`` for a fitted ``LogisticRegression``
    (probabilities only) or ``Ridge``, which reject missing and infinite values, and for a ``Ridge`` fitted on a
    standardized target (``models/_common.py: standardized_target``: how forgeml builds its linear regression)."""
    from sklearn.linear_model import LogisticRegression, Ridge

    kind = type(model)
    if not proba and standardized_regressor(model) is not None:
        return _standardized(model, X)
    if (kind is not LogisticRegression or not proba) and (kind is not Ridge or proba):
        return None
    if not _plain(X, int(getattr(model, "n_features_in_", -1))) or not np.isfinite(X).all():
        return None
    coef = model.coef_
    scores = X @ (coef.T if coef.ndim == 2 else coef) + model.intercept_  # decision_function's product
    if kind is Ridge:
        return scores
    if scores.ndim > 1 and scores.shape[1] == 1:
        scores = np.reshape(scores, (-1,))
    if model.classes_.size <= 2:  # _predict_proba_lr: the logistic function in place, then both classes
        from scipy.special import expit

        prob = expit(scores, out=scores)
        return np.stack([1 - prob, prob], axis=1)
    from sklearn.utils.extmath import softmax

    return softmax(scores, copy=False)


def standardized_regressor(model: Any) -> Any:
    """The fitted regressor inside a ``TransformedTargetRegressor`` whose target transform is a ``StandardScaler``
    (``models/_common.py: standardized_target``: how forgeml builds its linear regression and SVR), else None:
    its inverse is per row, ``* scale_ + mean_``."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.preprocessing import StandardScaler

    scaler = getattr(model, "transformer_", None)
    if type(model) is not TransformedTargetRegressor or type(scaler) is not StandardScaler:
        return None
    return getattr(model, "regressor_", None)


def _standardized(model: Any, X: Any) -> np.ndarray | None:
    """``TransformedTargetRegressor.predict`` for a ``Ridge`` and a ``StandardScaler``: the regressor's output
    through the scaler's ``inverse_transform`` (its copy, then ``*= scale_`` and ``+= mean_``), back to one column."""
    from sklearn.linear_model import Ridge

    reg, scaler = standardized_regressor(model), getattr(model, "transformer_", None)
    if type(reg) is not Ridge or getattr(model, "_training_dim", 0) != 1:
        return None
    pred = linear_output(reg, X, proba=False)
    if pred is None or pred.ndim != 1 or np.isinf(pred).any():  # infinity: the scaler's check raises its error
        return None
    out = pred.reshape(-1, 1).copy()
    if scaler.with_std:
        out *= scaler.scale_
    if scaler.with_mean:
        out += scaler.mean_
    return out.squeeze(axis=1)
