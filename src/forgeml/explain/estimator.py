"""``AutoML.explain`` and ``AutoML.feature_importance``: the checks at the user's edge (rows read with the
estimator's own schema and value policy, labels coded, defaults for the data), then ``forgeml.explain``'s
functions on the fitted model."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forgeml.errors import ConfigError, DataError
from forgeml.explain.importance import permutation_importance, shap_importance
from forgeml.explain.shapley import shap_values

IMPORTANCE_METHODS = ("permutation", "shap", "auto")


def explain(est: Any, X: Any, *, method: str = "auto", class_: Any = None, background: Any = None,
            n_samples: int = 64) -> pd.DataFrame:
    """Per-row attributions over the input columns plus ``base_value``; see ``AutoML.explain``."""
    est._check_fitted()
    rows = est._read(X)
    index = X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(len(rows))
    o, output = _output_index(est, class_)
    att = shap_values(est.best_pipeline_, rows, _background(est, background, rows), method=method,
                      n_samples=n_samples, seed=est.seed)
    out = pd.DataFrame(att.phi[:, :, o], columns=att.inputs, index=index)
    name = "base_value"
    while name in out.columns:
        name = f"_{name}"
    out[name] = float(att.base[o])
    out.attrs.update({"output": output, "base_value": float(att.base[o]), "routes": att.routes})
    return out


def feature_importance(est: Any, X: Any = None, y: Any = None, *, method: str = "permutation",
                       n_repeats: int = 5) -> pd.DataFrame:
    """``feature``, ``importance``, ``std`` over the input columns, most important first; see
    ``AutoML.feature_importance``."""
    est._check_fitted()
    if method not in IMPORTANCE_METHODS:
        raise ConfigError(f"method must be one of {', '.join(map(repr, IMPORTANCE_METHODS))}, got {method!r}")
    if not isinstance(n_repeats, int) or isinstance(n_repeats, bool) or n_repeats < 1:
        raise ConfigError(f"n_repeats must be a positive integer, got {n_repeats!r}")
    sample = getattr(est, "_report_rows", None)
    if X is None:
        if sample is None or not len(sample):
            raise ConfigError("feature_importance() needs rows to measure on: the training sample it uses by default "
                              "is kept in memory after fit but not saved with the model; pass X and y (rows with "
                              "their true target), e.g. a held-out set")
        X, y = sample.drop(columns=[est.schema_.target]), sample[est.schema_.target]
    rows = est._read(X)
    if method in ("shap", "auto"):
        try:
            return shap_importance(est.best_pipeline_, rows, _background(est, None, rows),
                                   method="exact" if method == "auto" else "auto", seed=est.seed)
        except ConfigError:
            if method == "shap":
                raise
    if y is None:
        raise ConfigError("permutation importance needs the true target of the rows: pass y with X")
    return permutation_importance(est.best_pipeline_, rows, _codes(est, y, len(rows)), est.metric_,
                                  n_repeats=n_repeats, seed=est.seed)


def _output_index(est: Any, class_: Any) -> tuple[int, str]:
    """Which output is explained: the prediction (regression) or the probability of ``class_`` (default: the
    second class of a binary model, its positive class)."""
    if est.task_ == "regression":
        if class_ is not None:
            raise ConfigError("class_ applies to classification; this model is a regression model")
        return 0, "prediction"
    classes = list(est.classes_.tolist())
    if class_ is None:
        if len(classes) != 2:
            raise ConfigError(f"a multiclass model explains one class at a time: pass class_= one of {classes}")
        class_ = classes[1]
    if class_ not in classes:
        raise ConfigError(f"class_={class_!r} is not a class of this model; use one of {classes}")
    return classes.index(class_), f"probability of class {class_!r}"


def _background(est: Any, background: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """What "this column's value is unknown" means: the given rows, else the training sample kept after fit,
    else (after ``load``) the rows being explained themselves."""
    if background is not None:
        return est._read(background)
    sample = getattr(est, "_report_rows", None)
    if sample is not None and len(sample):
        return est._read(sample.drop(columns=[est.schema_.target]))
    return rows


def _codes(est: Any, y: Any, n: int) -> np.ndarray:
    yv = y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y)
    yv = yv.ravel()
    if len(yv) != n:
        raise DataError(f"X has {n} rows but y has {len(yv)}; they must match")
    if est.task_ == "regression":
        return yv.astype(float)
    index = {c: i for i, c in enumerate(est.classes_.tolist())}
    try:
        return np.array([index[v] for v in yv.tolist()], dtype=int)
    except KeyError as exc:
        raise DataError(f"y holds the label {exc.args[0]!r}, which was not seen in training") from None
