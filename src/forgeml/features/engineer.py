"""Feature-engineering transformers the ``Preprocessor`` uses: skew transforms, count encoding, group statistics.

All are fitted on the rows passed to ``fit`` (the training fold) only.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from forgeml.data.coerce import FEW_ROWS, as_text, scalar_missing, to_string
from forgeml.data.infer import SKEW_THRESHOLD
from forgeml.errors import ConfigError
from forgeml.features._frame import as_frame, check_fitted

SKEWS = ("none", "log1p", "sqrt", "yeo-johnson", "box-cox")
GROUP_MAX_COLUMNS = 5  # categorical columns that get group statistics (the first ones in schema order)
GROUP_SMOOTHING = 10.0  # a category's statistics are shrunk towards the global ones as if it had 10 more rows
SKEW_FIT_ROWS = 10_000  # finite values per column (seeded sample) the skewness and the power are fitted on


class SkewTransformer(TransformerMixin, BaseEstimator):
    """Columns whose |skewness| on the fit rows exceeds ``threshold`` (``SKEW_THRESHOLD`` = 1.0), with more than
    two distinct values, go through ``method``; the others pass unchanged.

    ``"log1p"`` is ``sign(x) * log1p(|x|)`` and ``"sqrt"`` ``sign(x) * sqrt(|x|)``, so any real value is
    defined; ``"yeo-johnson"`` and ``"box-cox"`` fit a power per column by maximum likelihood. Box-Cox needs
    strictly positive values: a column with a value <= 0 on the fit rows gets Yeo-Johnson instead, and values
    below the fit rows' minimum are raised to it at transform time. Transformed values are kept within the range
    they had on the fit rows (a large power of an unseen extreme value cannot overflow). Missing values stay
    missing. The skewness and the power are fitted on a seeded sample of at most ``SKEW_FIT_ROWS`` finite values
    per column (maximum likelihood on every row of a large frame is slow and gains nothing).
    """

    def __init__(self, method: str = "yeo-johnson", threshold: float = SKEW_THRESHOLD, seed: int = 0) -> None:
        self.method = method
        self.threshold = threshold
        self.seed = seed

    def fit(self, X: Any, y: Any = None) -> SkewTransformer:
        if self.method not in SKEWS:
            raise ConfigError(f"skew={self.method!r} is not one of {', '.join(SKEWS)}")
        X = as_frame(X)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        # column -> (method, power, fit minimum, transformed minimum, transformed maximum)
        self.columns_: dict[str, tuple[str, float, float, float, float]] = {}
        if self.method == "none":
            return self
        from scipy import stats

        for c in X.columns:
            v = X[c].to_numpy(dtype="float64", na_value=np.nan)
            v = v[np.isfinite(v)]
            s = v
            if len(v) > SKEW_FIT_ROWS:
                s = v[np.sort(np.random.default_rng(self.seed).choice(len(v), SKEW_FIT_ROWS, replace=False))]
            if len(np.unique(v)) <= 2 or abs(_skew(s)) <= self.threshold:
                continue
            method, power = self.method, 1.0
            if method == "box-cox" and v.min() <= 0:
                method = "yeo-johnson"
            with np.errstate(all="ignore"):
                if method == "box-cox":
                    power = float(stats.boxcox_normmax(s, method="mle"))
                elif method == "yeo-johnson":
                    power = float(stats.yeojohnson_normmax(s))
            power = float(np.clip(power, -3.0, 3.0)) if np.isfinite(power) else 1.0
            t = _apply(method, power, float(v.min()), v)
            t = t[np.isfinite(t)]
            lo, hi = (float(t.min()), float(t.max())) if len(t) else (-np.inf, np.inf)
            self.columns_[str(c)] = (method, power, float(v.min()), lo, hi)
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        check_fitted(self, "columns_")
        X = as_frame(X, self.feature_names_in_)
        if not self.columns_:
            return X
        names = [str(c) for c in X.columns]
        if not all(isinstance(t, np.dtype) and t.kind in "fiu" for t in X.dtypes.to_numpy()):
            out = X.copy()
            for c, (method, power, low, lo, hi) in self.columns_.items():
                t = _apply(method, power, low, X[c].to_numpy(dtype="float64", na_value=np.nan))
                with np.errstate(invalid="ignore"):
                    out[c] = np.clip(t, lo, hi)
            return out
        # numbers only: one array, columns replaced in place
        return pd.DataFrame(self.transform_array(X.to_numpy(dtype="float64"), names), index=X.index,
                            columns=X.columns)

    def transform_array(self, a: np.ndarray, names: list[str] | None = None) -> np.ndarray:
        """``transform`` of a float64 array whose columns are ``names`` (by default the fitted ones, in order)."""
        a = np.array(a, dtype="float64", copy=True)
        where = {c: j for j, c in enumerate(self.feature_names_in_ if names is None else names)}
        for c, (method, power, low, lo, hi) in self.columns_.items():
            j = where[c]
            with np.errstate(invalid="ignore"):
                a[:, j] = np.clip(_apply(method, power, low, a[:, j]), lo, hi)
        return a

    def describe(self) -> dict[str, str]:
        """Transformed column -> ``"log1p(x)"`` and the like."""
        return {c: f"{m[0]}({c})" for c, m in self.columns_.items()}


class CountEncoder(TransformerMixin, BaseEstimator):
    """Each categorical column becomes ``<col>__count``: the share of fit rows holding its value (missing is a
    value of its own; a value unseen at fit time gets 0)."""

    def fit(self, X: Any, y: Any = None) -> CountEncoder:
        X = as_frame(X)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        self.shares_ = {c: _keys(X[c]).value_counts(normalize=True).to_dict() for c in X.columns}
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        check_fitted(self, "shares_")
        X = as_frame(X, self.feature_names_in_)
        if len(X) <= FEW_ROWS:  # a request's few rows: each cell's key as ``_keys`` makes it, looked up directly
            data = {f"{c}__count": np.array([s.get(_key(v), 0.0) for v in X[c].to_numpy(dtype=object)],
                                            dtype="float64")
                    for c, s in self.shares_.items()}  # (pandas' map and fills: 1 ms on one row of four columns)
        else:
            data = {f"{c}__count": _keys(X[c]).map(s).fillna(0.0).to_numpy(dtype="float64")
                    for c, s in self.shares_.items()}
        return pd.DataFrame(data, index=X.index, dtype="float64")

    def describe(self) -> dict[str, str]:
        return {f"{c}__count": f"count of {c}" for c in self.shares_}


class GroupStats(TransformerMixin, BaseEstimator):
    """Mean and standard deviation of the numeric column ``value`` per category of each of the (at most
    ``GROUP_MAX_COLUMNS``) categorical columns ``groups``, shrunk towards the global statistics by
    ``GROUP_SMOOTHING`` rows. ``fit_transform`` gives each training row statistics computed out of fold
    (``n_splits`` folds, as the out-of-fold target encoding does), so a row never sees a summary that includes
    itself; ``transform`` uses all fit rows. Input frame: the group columns, then ``value``."""

    def __init__(self, groups: tuple[str, ...] = (), value: str = "", n_splits: int = 5, seed: int = 0) -> None:
        self.groups = groups
        self.value = value
        self.n_splits = n_splits
        self.seed = seed

    def fit(self, X: Any, y: Any = None) -> GroupStats:
        X = as_frame(X)
        self.stats_ = self._stats(X)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        from sklearn.model_selection import KFold

        X = as_frame(X)
        self.fit(X)
        out = pd.DataFrame(index=X.index, columns=self._names(), dtype="float64")
        k = min(self.n_splits, len(X))
        if k < 2:
            return self.transform(X)
        for train, valid in KFold(k, shuffle=True, random_state=self.seed).split(X):
            part = self._apply(X.iloc[valid], self._stats(X.iloc[train]))
            out.iloc[valid] = part.to_numpy()
        return out.astype("float64")

    def _stats(self, X: pd.DataFrame) -> dict[str, Any]:
        v = pd.to_numeric(X[self.value], errors="coerce").astype("float64")
        gm, gs = float(np.nan_to_num(v.mean())), float(np.nan_to_num(v.std(ddof=0)))
        out: dict[str, Any] = {"_global": (gm, gs)}
        m = GROUP_SMOOTHING
        for c in self.groups:
            keys = _keys(X[c]).to_numpy()
            g = v.groupby(keys)
            n, mean = g.count(), g.mean()
            sq = ((v - g.transform("mean")) ** 2).groupby(keys).sum()
            sm = (n * mean.fillna(gm) + m * gm) / (n + m)
            sv = (sq.fillna(0.0) + m * gs ** 2) / (n + m)
            out[c] = (sm.to_dict(), np.sqrt(sv).to_dict())
        return out

    def _apply(self, X: pd.DataFrame, stats: dict[str, Any]) -> pd.DataFrame:
        gm, gs = stats["_global"]
        data = {}
        for c in self.groups:
            means, stds = stats[c]
            keys = _keys(X[c])
            data[f"{c}__mean_{self.value}"] = keys.map(means).fillna(gm).to_numpy(dtype="float64")
            data[f"{c}__std_{self.value}"] = keys.map(stds).fillna(gs).to_numpy(dtype="float64")
        return pd.DataFrame(data, index=X.index, columns=self._names(), dtype="float64")

    def _names(self) -> list[str]:
        return [f"{c}__{s}_{self.value}" for c in self.groups for s in ("mean", "std")]

    def transform_rows(self, cells: Mapping[str, np.ndarray]) -> np.ndarray:
        """``transform``'s values for a few rows (a request), from each group column's cells: a dictionary lookup
        per cell, as ``_apply`` maps them (missing is a group of its own; a group not seen takes the global
        statistic)."""
        check_fitted(self, "stats_")
        gm, gs = self.stats_["_global"]
        n = len(cells[self.groups[0]]) if self.groups else 0
        out = np.empty((n, 2 * len(self.groups)))
        for i, c in enumerate(self.groups):
            means, stds = self.stats_[c]
            keys = [_MISSING_KEY if scalar_missing(v) else as_text(v) for v in cells[c]]
            out[:, 2 * i] = [_known(means.get(k), gm) for k in keys]
            out[:, 2 * i + 1] = [_known(stds.get(k), gs) for k in keys]
        return out

    def transform(self, X: Any) -> pd.DataFrame:
        check_fitted(self, "stats_")
        return self._apply(as_frame(X, self.feature_names_in_), self.stats_)

    def describe(self) -> dict[str, str]:
        return {f"{c}__{s}_{self.value}": f"{s} of {self.value} per {c}" for c in self.groups
                for s in ("mean", "std")}


_MISSING_KEY = "\x00missing"


def _keys(s: pd.Series) -> pd.Series:
    return to_string(s).fillna(_MISSING_KEY)


def _key(v: Any) -> str:
    """One cell's ``_keys`` value."""
    return _MISSING_KEY if scalar_missing(v) else as_text(v)


def _known(v: Any, default: float) -> float:
    """A looked-up statistic, or ``default`` where there is none (as ``map(...).fillna(default)``)."""
    return default if scalar_missing(v) else float(v)


def _skew(v: np.ndarray) -> float:
    sd = v.std() if len(v) > 2 else 0.0
    return float(np.mean(((v - v.mean()) / sd) ** 3)) if sd > 0 else 0.0


def _apply(method: str, power: float, low: float, v: np.ndarray) -> np.ndarray:
    from scipy import stats

    with np.errstate(all="ignore"):
        if method == "log1p":
            return np.sign(v) * np.log1p(np.abs(v))
        if method == "sqrt":
            return np.sign(v) * np.sqrt(np.abs(v))
        if method == "box-cox":
            return _nan_apply(np.maximum(v, low), lambda a: stats.boxcox(a, lmbda=power))
        return _nan_apply(v, lambda a: stats.yeojohnson(a, lmbda=power))


def _nan_apply(v: np.ndarray, fn: Any) -> np.ndarray:
    out = np.full_like(v, np.nan)
    ok = np.isfinite(v)
    if ok.any():
        out[ok] = fn(v[ok])
    return out
