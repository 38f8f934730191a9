"""Exact SHAP values of one fitted pipeline from its model's own algebra: TreeSHAP as LightGBM
(``pred_contrib=True``), XGBoost (``pred_contribs=True``) and CatBoost (``ShapValues``) compute it, and linear SHAP
``coef * (x - mean of the background)`` for linear models.

These live on the model's input (the transformed features) and in its margin space (log-odds, or the scale a
regression target transform learns on). ``member_shap`` brings them to the explained output, one pipeline at a time:

* margins to output: the pipeline's actual output change ``out(x) - out(base margin)`` is shared among the
  features in proportion to their exact margin SHAP values (the same signs and ratios within a row; exact when
  the link is the identity, i.e. regression without a target transform). For class ``c`` the additive margin is
  ``L_c - mean_k L_k`` of the softmax logits ``L`` (``[0, m]`` for a binary model's log-odds ``m``).
* features to input columns: a feature made from several input columns (a product, a ratio) is split equally
  between them; a feature whose provenance is unknown is split equally over every modelled column.

Any model this module does not know, or whose SHAP values do not add up to its own predictions, raises
``Unsupported`` and is explained by sampling instead.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forgeml.features.report import feature_sources
from forgeml.pipeline.fitted import predict_matrix

CHECK_TOL = 1e-4  # how closely the SHAP values must add up to the model's own output to be trusted


class Unsupported(Exception):
    """This pipeline has no exact SHAP route here: sample it instead."""


def member_shap(pipe: Any, X: pd.DataFrame, background: pd.DataFrame | None, inputs: list[str],
                modelled: list[str], n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(phi, base, out)`` of one fitted pipeline on aligned raw rows ``X``: ``phi[i, j, o]`` the credit of input
    column ``inputs[j]`` for output ``o`` (a class probability, or the prediction), ``base[o]`` and ``out[i, o]`` the
    pipeline's predictions, with ``base + phi.sum(axis=1) == out``."""
    steps = list(getattr(pipe, "steps", []))
    if not steps:
        raise Unsupported(f"{type(pipe).__name__} is not a pipeline of steps")
    model = steps[-1][1]
    Xt = pipe[:-1].transform(X)
    bg = pipe[:-1].transform(background) if background is not None else Xt
    phi_m, base_m = _margin_shap(model, Xt, bg, n_classes)  # (n, r, d), (r,)
    out = np.asarray(predict_matrix(pipe, X, n_classes), dtype=float).reshape(len(X), -1)
    phi_d, margin_d, base_d, base_out = _additive(pipe, phi_m, base_m, n_classes)
    check = _link(pipe, base_m[None, :] + phi_m.sum(axis=2), n_classes)
    if not np.allclose(check, out, atol=CHECK_TOL, rtol=CHECK_TOL):
        raise Unsupported(f"the SHAP values of {type(model).__name__} do not add up to its predictions")
    phi_out = _rescale(phi_d, margin_d - base_d[None, :], out - base_out[None, :])  # (n, d, o)
    return np.einsum("ndo,dj->njo", phi_out, _source_matrix(pipe, list(Xt.columns), inputs, modelled)), \
        base_out, out


def _margin_shap(model: Any, Xt: pd.DataFrame, bg: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact SHAP values in the model's margin space, ``(n, r, d)`` and bias ``(r,)``; r = 1 (regression, binary
    log-odds of class 1) or k (multiclass logits). The model must know every class (a fold may have lacked one)."""
    classes = getattr(model, "classes_", None)
    if k and (classes is None or not np.array_equal(np.asarray(classes).astype(int), np.arange(k))):
        raise Unsupported("the model does not predict every class")
    r = 1 if k <= 2 else k
    d = Xt.shape[1]
    mod = type(model).__module__
    if "lightgbm" in mod or "forgeml.models._lgbm" in mod:
        raw = np.asarray(model.predict(Xt, pred_contrib=True), dtype=float).reshape(len(Xt), r, d + 1)
    elif "xgboost" in mod or "forgeml.models._xgb" in mod:
        import xgboost as xgb

        booster = model.get_booster()
        dm = xgb.DMatrix(Xt, enable_categorical=True)
        raw = np.asarray(booster.predict(dm, pred_contribs=True, iteration_range=model._get_iteration_range(None)),
                         dtype=float).reshape(len(Xt), r, d + 1)
    elif hasattr(model, "model_") and hasattr(model, "cat_columns_") and "catboost" in mod:
        import catboost

        from forgeml.models.catboost import _as_catboost

        idx = [list(Xt.columns).index(c) for c in model.cat_columns_]
        pool = catboost.Pool(_as_catboost(Xt, model.cat_columns_), cat_features=idx or None)
        raw = np.asarray(model.model_.get_feature_importance(pool, type="ShapValues"), dtype=float)
        raw = raw.reshape(len(Xt), r, d + 1)
    else:
        return _linear_shap(model, Xt, bg, r)
    return raw[:, :, :d], raw[0, :, d]


def _linear_shap(model: Any, Xt: pd.DataFrame, bg: pd.DataFrame, r: int) -> tuple[np.ndarray, np.ndarray]:
    """``coef * (x - mean(background))`` for a model linear in its inputs (logistic regression, ridge, lasso,
    elastic net, also inside scikit-learn's ``TransformedTargetRegressor`` with a ``StandardScaler``)."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.preprocessing import StandardScaler

    scale = 1.0
    inner = model
    if isinstance(model, TransformedTargetRegressor):
        if not isinstance(model.transformer_, StandardScaler):
            raise Unsupported("a target transformer other than StandardScaler")
        inner = model.regressor_
        s = getattr(model.transformer_, "scale_", None)
        scale = 1.0 if s is None else float(np.ravel(s)[0])
    coef = getattr(inner, "coef_", None)
    if coef is None or not type(inner).__module__.startswith("sklearn.linear_model"):
        raise Unsupported(f"no exact SHAP route for {type(model).__name__}")
    W = np.asarray(coef, dtype=float).reshape(-1, Xt.shape[1]) * scale
    if W.shape[0] != r:
        raise Unsupported("unexpected coefficient shape")
    try:
        A = Xt.to_numpy(dtype=float)
        mu = bg.to_numpy(dtype=float).mean(axis=0)
    except (TypeError, ValueError):
        raise Unsupported("non-numeric model inputs") from None
    phi = (A - mu)[:, None, :] * W[None, :, :]
    margin = np.asarray(model.decision_function(Xt) if hasattr(model, "decision_function") else model.predict(Xt),
                        dtype=float).reshape(len(Xt), r)
    base = (margin - phi.sum(axis=2)).mean(axis=0)  # = W mu + b for every row of a linear model
    return phi, base


def _logits(m: np.ndarray, k: int) -> np.ndarray:
    """Softmax logits ``(n, k)`` from margins ``(n, r)``: a binary model's log-odds m become ``[0, m]``."""
    return np.concatenate([np.zeros_like(m), m], axis=1) if k == 2 else m


def _link(pipe: Any, m: np.ndarray, k: int) -> np.ndarray:
    """The pipeline's output from its margins: class probabilities, or the regression target's inverse."""
    if k:
        L = _logits(m, k)
        e = np.exp(L - L.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    target = getattr(pipe, "target_", None)
    return m if target is None else np.asarray(target.inverse(m.ravel()), dtype=float).reshape(-1, 1)


def _additive(pipe: Any, phi_m: np.ndarray, base_m: np.ndarray,
              k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per output: the additive margin's SHAP values ``(n, d, o)``, its value per row ``(n, o)`` and at the base
    ``(o,)``, and the output at the base margin ``(o,)``."""
    base_out = _link(pipe, base_m[None, :], k)[0]
    if not k:
        return phi_m.transpose(0, 2, 1), base_m[None, :] + phi_m.sum(axis=2), base_m, base_out
    phi_L = _logits(phi_m.transpose(0, 2, 1).reshape(-1, phi_m.shape[1]), k).reshape(
        phi_m.shape[0], phi_m.shape[2], k)
    phi_d = phi_L - phi_L.mean(axis=2, keepdims=True)
    L0 = _logits(base_m[None, :], k)[0]
    base_d = L0 - L0.mean()
    return phi_d, base_d[None, :] + phi_d.sum(axis=1), base_d, base_out


def _rescale(phi_d: np.ndarray, d_delta: np.ndarray, out_delta: np.ndarray) -> np.ndarray:
    """Share each row's output change among the features in proportion to their margin SHAP values; when those
    cancel out (a margin change of ~0 with an output change), share it in proportion to their sizes instead."""
    ok = np.abs(d_delta) > 1e-9
    ratio = np.where(ok, out_delta / np.where(ok, d_delta, 1.0), 0.0)
    phi = phi_d * ratio[:, None, :]
    rest = out_delta - phi.sum(axis=1)  # 0 wherever ok
    size = np.abs(phi_d)
    total = size.sum(axis=1, keepdims=True)
    share = np.where(total > 0, size / np.where(total > 0, total, 1.0), 1.0 / max(1, phi_d.shape[1]))
    return phi + share * rest[:, None, :]


def _source_matrix(pipe: Any, features: list[str], inputs: list[str], modelled: list[str]) -> np.ndarray:
    """``(features, inputs)`` shares: each feature's credit split equally over the input columns it came from."""
    sources = feature_sources(pipe, inputs)
    col = {c: j for j, c in enumerate(inputs)}
    M = np.zeros((len(features), len(inputs)))
    for i, name in enumerate(features):
        src = [c for c in sources.get(str(name), ()) if c in col] or [c for c in modelled if c in col]
        for c in src:
            M[i, col[c]] += 1.0 / len(src)
    return M
