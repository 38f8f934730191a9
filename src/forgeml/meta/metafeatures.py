"""Meta-features: a dataset described by a few numbers, so that runs on similar data can be found again.

Simple ones (size, dimensionality, the shares of column kinds and of missing cells, class entropy and imbalance,
skewness) cost a pass over a sample. Landmarkers (the cross-validated score of a decision stump, 1-nearest
neighbour and naive Bayes, or for regression a stump, 1-NN and ridge) say how the data responds to very different
inductive biases. All of it runs on a seeded sample of at most ``max_rows`` rows and, for the landmarkers, at most
``MAX_COLUMNS`` columns: the work is bounded by size, never cut by the clock, so the same data always gets the
same values (a clock would make the neighbours, and so the warm start, depend on the machine's load).

Every value is scale-free or log-scaled, so that distances between datasets are meaningful after the per-feature
standardisation ``distance`` applies.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forgeml.data.coerce import to_bool, to_numeric
from forgeml.data.schema import BOOLEAN, CATEGORICAL, DATETIME, NUMERIC, TEXT, Schema

SIMPLE = ("log_rows", "log_features", "log_ratio", "share_numeric", "share_categorical", "share_boolean",
          "share_datetime", "share_text", "share_missing_cells", "share_missing_columns", "log_classes",
          "class_entropy", "class_imbalance", "target_skew", "mean_abs_skew", "log_mean_cardinality")
LANDMARKS = ("lm_stump", "lm_1nn", "lm_simple")
MAX_COLUMNS = 100  # columns the landmarkers see (a seeded choice when there are more)
NAMES = SIMPLE + LANDMARKS
VERSION = 1  # bump when a value's definition changes: older knowledge is then not compared with newer


@dataclass(frozen=True)
class MetaFeatures:
    """Named values (NaN where not applicable or not computed in time) and the seconds they took."""

    task: str
    values: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    version: int = VERSION

    def vector(self, names: tuple[str, ...] = NAMES) -> np.ndarray:
        return np.array([self.values.get(n, np.nan) for n in names], dtype=float)


def compute(X: pd.DataFrame, y: Any, schema: Schema, *, seed: int = 0, max_rows: int = 1000) -> MetaFeatures:
    """The meta-features of ``X`` (raw input columns) and ``y`` (class codes ``0..k-1`` or numbers)."""
    start = time.monotonic()
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(X), max_rows, replace=False)) if len(X) > max_rows else np.arange(len(X))
    Xs, ys = X.iloc[rows], y[rows]
    values = _simple(X, Xs, y, schema)
    values.update(_landmarks(Xs, ys, schema, seed))
    return MetaFeatures(schema.task, values, time.monotonic() - start)


def size(X: pd.DataFrame, schema: Schema) -> dict[str, float]:
    """The size meta-features alone (free to compute): what a past trial's cost is scaled by
    (``warmstart.scaled_cost``), also in a run without a knowledge base."""
    n, d = len(X), max(sum(1 for c in schema.columns if c.name in X.columns), 1)
    return {"log_rows": float(np.log10(max(n, 1))), "log_features": float(np.log10(d)),
            "log_ratio": float(np.log10(d / max(n, 1)))}


def _simple(X: pd.DataFrame, Xs: pd.DataFrame, y: np.ndarray, schema: Schema) -> dict[str, float]:
    cols = [c for c in schema.columns if c.name in X.columns]
    d = max(len(cols), 1)
    kinds = [c.kind for c in cols]
    out = size(X, schema)
    for kind, name in ((NUMERIC, "numeric"), (CATEGORICAL, "categorical"), (BOOLEAN, "boolean"),
                       (DATETIME, "datetime"), (TEXT, "text")):
        out[f"share_{name}"] = kinds.count(kind) / d
    miss = Xs[[c.name for c in cols]].isna() if cols else pd.DataFrame()
    out["share_missing_cells"] = float(miss.to_numpy().mean()) if miss.size else 0.0
    out["share_missing_columns"] = float(miss.any().mean()) if miss.size else 0.0
    nan = float("nan")
    if schema.task in ("binary", "multiclass"):
        counts = np.bincount(y.astype(int))
        counts = counts[counts > 0]
        p = counts / counts.sum()
        k = len(counts)
        out["log_classes"] = np.log2(max(k, 2))
        out["class_entropy"] = float(-(p * np.log(p)).sum() / np.log(k)) if k > 1 else 0.0
        out["class_imbalance"] = float(counts.min() / counts.max())
        out["target_skew"] = nan
    else:
        out["log_classes"], out["class_entropy"], out["class_imbalance"] = nan, nan, nan
        out["target_skew"] = _skew(np.asarray(y, dtype=float))
    skews = [_skew(to_numeric(Xs[c.name]).to_numpy(dtype=float, na_value=np.nan))
             for c in cols if c.kind == NUMERIC]
    skews = [abs(s) for s in skews if np.isfinite(s)]
    out["mean_abs_skew"] = float(np.mean(skews)) if skews else 0.0
    card = [max(c.n_unique, 1) for c in cols if c.kind == CATEGORICAL]
    out["log_mean_cardinality"] = float(np.log10(np.mean(card))) if card else 0.0
    return {k: float(v) for k, v in out.items()}


def _skew(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    if len(v) < 3 or v.std() == 0:
        return 0.0
    z = (v - v.mean()) / v.std()
    return float(np.clip((z ** 3).mean(), -50, 50))


def _matrix(X: pd.DataFrame, schema: Schema, seed: int) -> np.ndarray:
    """Numbers for the landmarkers: at most ``MAX_COLUMNS`` numeric, boolean and categorical columns (a seeded
    choice), categoricals as codes, missing values as the column median; dates and text are left out (a
    landmarker only needs a rough view)."""
    cols = [c for c in schema.columns if c.name in X.columns and c.kind in (NUMERIC, BOOLEAN, CATEGORICAL)]
    if len(cols) > MAX_COLUMNS:
        pick = np.sort(np.random.default_rng(seed).choice(len(cols), MAX_COLUMNS, replace=False))
        cols = [cols[i] for i in pick]
    parts = []
    for c in cols:
        s = X[c.name]
        if c.kind == CATEGORICAL:
            v = pd.Series(pd.Categorical(s.astype("string")).codes, index=X.index).astype(float).replace(-1, np.nan)
        else:
            v = (to_bool(s) if c.kind == BOOLEAN else to_numeric(s)).astype(float)
        med = v.median()
        parts.append(v.fillna(0.0 if np.isnan(med) else med).to_numpy(dtype=float))
    return np.column_stack(parts) if parts else np.zeros((len(X), 1))


def _landmarks(X: pd.DataFrame, y: np.ndarray, schema: Schema, seed: int) -> dict[str, float]:
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    out = {n: float("nan") for n in LANDMARKS}
    classification = schema.task in ("binary", "multiclass")
    if len(y) < 10:
        return out
    x = _matrix(X, schema, seed)
    if classification:
        if np.bincount(y.astype(int)).max() == len(y) or np.min(np.bincount(y.astype(int))[
                np.bincount(y.astype(int)) > 0]) < 3:
            return out
        cv, scoring = StratifiedKFold(3, shuffle=True, random_state=seed), "balanced_accuracy"
        models = {"lm_stump": DecisionTreeClassifier(max_depth=1, random_state=seed),
                  "lm_1nn": make_pipeline(StandardScaler(), KNeighborsClassifier(1)),
                  "lm_simple": GaussianNB()}
    else:
        cv, scoring = KFold(3, shuffle=True, random_state=seed), "r2"
        models = {"lm_stump": DecisionTreeRegressor(max_depth=1, random_state=seed),
                  "lm_1nn": make_pipeline(StandardScaler(), KNeighborsRegressor(1)),
                  "lm_simple": make_pipeline(StandardScaler(), Ridge(1.0))}
    for name, model in models.items():
        try:
            score = float(np.mean(cross_val_score(model, x, y, cv=cv, scoring=scoring)))
        except ValueError:
            continue
        out[name] = float(np.clip(score, -1.0, 1.0))
    return out


def distance(a: np.ndarray, b: np.ndarray, scale: np.ndarray) -> float:
    """Euclidean distance over the values both datasets have, each divided by ``scale`` (a spread per value,
    e.g. the standard deviation across the knowledge base), averaged per value so missing ones do not shrink it."""
    both = np.isfinite(a) & np.isfinite(b) & (scale > 0)
    if not both.any():
        return float("inf")
    return float(np.sqrt(np.mean(((a[both] - b[both]) / scale[both]) ** 2)))
