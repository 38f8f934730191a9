"""Global importance of the INPUT columns of a whole fitted model (ensemble included).

* ``permutation_importance``: shuffle one input column of the raw rows, predict with the full model and measure
  how much the run's metric worsens (in the metric's own units: AUC points, RMSE...); mean and standard deviation
  over ``n_repeats`` shuffles. Works for every model and accounts for everything a column feeds (one-hot features,
  generated products, target encodings), but a column's importance is shared with the columns correlated with it.
* ``shap_importance``: the mean absolute Shapley attribution of each column over the rows (in the output's units:
  probability, or the target's), summed over the classes for multiclass; ``std`` is its spread over the rows.

Both return a frame with columns ``feature``, ``importance``, ``std``, most important first. Input columns that
are not modelled (ids, constants) have importance 0.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forgeml.explain.shapley import shap_values

COLUMNS = ["feature", "importance", "std"]


def permutation_importance(fitted: Any, X: pd.DataFrame, y: np.ndarray, metric: Any, *, n_repeats: int = 5,
                           seed: int = 0) -> pd.DataFrame:
    """``X``: aligned raw rows; ``y``: integer-coded classes (0..k-1) or values; ``metric``: a ``forgeml.metrics.
    Metric`` (scored on probabilities for classification, as the run scored). Seeded."""
    schema = fitted.schema
    k = 0 if schema.task == "regression" else len(schema.classes)
    modelled = set(schema.modelled)
    X = X.reset_index(drop=True)
    y = np.asarray(y)

    def loss(frame: pd.DataFrame) -> np.ndarray:  # one loss per block of len(X) rows
        pred = fitted.predict_proba(frame) if k else fitted.predict(frame)
        blocks = len(frame) // len(X)
        return np.array([metric.loss(metric.score(y, pred[b * len(X):(b + 1) * len(X)])) for b in range(blocks)])

    reference = float(loss(X)[0])
    rng = np.random.default_rng(seed)
    rows = []
    for col in schema.names():
        if col not in modelled:
            rows.append((col, 0.0, 0.0))
            continue
        shuffled = pd.concat([X] * n_repeats, ignore_index=True)
        values = X[col].array
        shuffled[col] = pd.concat([pd.Series(values.take(rng.permutation(len(X)))) for _ in range(n_repeats)],
                                  ignore_index=True)
        drop = loss(shuffled) - reference
        rows.append((col, float(np.mean(drop)), float(np.std(drop))))
    return _sorted(rows)


def shap_importance(fitted: Any, X: pd.DataFrame, background: pd.DataFrame, **options: Any) -> pd.DataFrame:
    """Mean |attribution| per input column over the rows of ``X`` (``options`` go to ``shap_values``)."""
    att = shap_values(fitted, X, background, **options)
    size = np.abs(att.phi).sum(axis=2) if att.phi.shape[2] > 2 else np.abs(att.phi[:, :, -1])
    return _sorted([(c, float(size[:, j].mean()), float(size[:, j].std())) for j, c in enumerate(att.inputs)])


def _sorted(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=COLUMNS)
    return out.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
