"""Clip extreme numeric values to bounds learned on the training fold (helps linear models, SVMs, nets)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from forgeml.errors import ConfigError
from forgeml.features._frame import as_frame, check_fitted


class OutlierClipper(TransformerMixin, BaseEstimator):
    """``method="quantile"`` clips to the ``q`` and ``1 - q`` quantiles; ``method="iqr"`` to
    ``[Q1 - k*IQR, Q3 + k*IQR]``. Missing values stay missing; all-missing columns are left alone."""

    def __init__(self, method: str = "quantile", q: float = 0.01, k: float = 1.5) -> None:
        self.method = method
        self.q = q
        self.k = k

    def fit(self, X: Any, y: Any = None) -> OutlierClipper:
        X = as_frame(X)
        if self.method not in ("quantile", "iqr"):
            raise ConfigError(f"OutlierClipper method must be 'quantile' or 'iqr', got {self.method!r}")
        if not 0 <= self.q < 0.5:
            raise ConfigError(f"OutlierClipper q must be in [0, 0.5), got {self.q}")
        a = X.to_numpy(dtype="float64", na_value=np.nan)
        a = np.where(np.isfinite(a), a, np.nan)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        lo = np.full(a.shape[1], -np.inf)
        hi = np.full(a.shape[1], np.inf)
        seen = ~np.all(np.isnan(a), axis=0) if a.shape[0] else np.zeros(a.shape[1], bool)
        if seen.any():
            sub = a[:, seen]
            if self.method == "quantile":
                lo[seen] = np.nanquantile(sub, self.q, axis=0)
                hi[seen] = np.nanquantile(sub, 1 - self.q, axis=0)
            else:
                q1, q3 = np.nanquantile(sub, [0.25, 0.75], axis=0)
                lo[seen], hi[seen] = q1 - self.k * (q3 - q1), q3 + self.k * (q3 - q1)
        self.lower_, self.upper_ = lo, hi
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        check_fitted(self, "lower_")
        X = as_frame(X, self.feature_names_in_)
        return pd.DataFrame(self.transform_array(X.to_numpy(dtype="float64", na_value=np.nan)), index=X.index,
                            columns=X.columns)

    def transform_array(self, a: np.ndarray) -> np.ndarray:
        """``transform`` of a float64 array whose columns are the fitted ones, in order."""
        with np.errstate(invalid="ignore"):
            return np.clip(a, self.lower_, self.upper_)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_fitted(self, "feature_names_in_")
        return self.feature_names_in_.copy()
