"""Numeric imputation with optional missing-value indicator columns."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from forgeml.errors import ConfigError
from forgeml.features._frame import as_frame, check_fitted

STRATEGIES = ("none", "mean", "median", "most_frequent", "constant")
INDICATOR_SUFFIX = "__missing"


class NumericImputer(TransformerMixin, BaseEstimator):
    """Fill missing numbers with a statistic learned on the training fold, and optionally append a 0/1
    ``<col>__missing`` column for each column missing in at least ``min_missing`` training rows (missingness is
    often informative; like a one-hot category below ``min_frequency``, an indicator set in one or two rows is an
    identifier of those rows, which a network memorises). ``strategy="none"`` leaves NaN for models that handle
    it. A column entirely missing in training is filled with ``fill_value``. Infinite values are treated as
    missing."""

    min_missing: int = 5  # the default for an imputer pickled before the parameter existed

    def __init__(self, strategy: str = "median", indicators: bool = False, fill_value: float = 0.0,
                 min_missing: int = 5) -> None:
        self.strategy = strategy
        self.indicators = indicators
        self.fill_value = fill_value
        self.min_missing = min_missing

    def fit(self, X: Any, y: Any = None) -> NumericImputer:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"unknown imputation {self.strategy!r}; use one of {', '.join(STRATEGIES)}")
        X = _numeric(as_frame(X))
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        stats = {}
        for c in X.columns:
            s = X[c].dropna()
            if self.strategy == "none":
                continue
            if len(s) == 0 or self.strategy == "constant":
                stats[c] = float(self.fill_value)
            elif self.strategy == "mean":
                stats[c] = float(s.mean())
            elif self.strategy == "median":
                stats[c] = float(s.median())
            else:
                stats[c] = float(s.mode().iloc[0])
        self.statistics_ = stats
        n_missing = X.isna().sum()
        self.indicator_columns_ = [c for c in X.columns if self.indicators and n_missing[c] >= max(1, self.min_missing)]
        self.value_columns_ = list(X.columns)
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        check_fitted(self, "statistics_")
        X = as_frame(X, self.feature_names_in_)
        cols = list(self.value_columns_)
        same = list(X.columns) == cols  # as the Preprocessor passes it: no column selection to pay for
        a = self.transform_array((X if same else X[cols]).to_numpy(dtype="float64", na_value=np.nan))
        return pd.DataFrame(a, index=X.index,
                            columns=cols + [f"{c}{INDICATOR_SUFFIX}" for c in self.indicator_columns_])

    def transform_array(self, a: np.ndarray) -> np.ndarray:
        """``transform`` of a float64 array whose columns are ``value_columns_``: the values, then the indicators."""
        cols = self.value_columns_
        a = _finite(a)
        where = {c: j for j, c in enumerate(cols)}
        miss = np.isnan(a[:, [where[c] for c in self.indicator_columns_]]).astype("float64")
        for j, c in enumerate(cols):
            if c in self.statistics_:
                a[:, j] = np.where(np.isnan(a[:, j]), self.statistics_[c], a[:, j])
        return np.hstack([a, miss]) if miss.shape[1] else a

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_fitted(self, "statistics_")
        return np.asarray(self.value_columns_ + [f"{c}{INDICATOR_SUFFIX}" for c in self.indicator_columns_],
                          dtype=object)


def _numeric(X: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(_finite(X.to_numpy(dtype="float64", na_value=np.nan)), index=X.index, columns=X.columns)


def _finite(a: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(a), a, np.nan)
