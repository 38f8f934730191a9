"""Datetime columns as numbers a model can split on."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from forgeml.data.coerce import epoch_seconds, to_datetime
from forgeml.features._frame import as_frame, check_fitted

DATE_PARTS = ("year", "month", "day", "dayofweek", "dayofyear")
#: Periods of the cyclic parts: with ``cyclic=True`` each gets ``_sin``/``_cos`` columns, so December sits next
#: to January and Sunday next to Monday (hour only when the column has a time of day).
CYCLES = {"month": 12.0, "dayofweek": 7.0, "dayofyear": 365.25, "hour": 24.0}


class DatetimeParts(TransformerMixin, BaseEstimator):
    """Year, month, day, day of week, day of year, hour (only if the training data has a time of day) and,
    with ``epoch=True``, seconds since 1970 (keeps the trend); with ``cyclic=True`` also sin/cos of the parts in
    ``CYCLES``. Missing or unparseable dates give NaN."""

    cyclic: bool = False  # an older pickle lacks it

    def __init__(self, epoch: bool = True, cyclic: bool = False) -> None:
        self.epoch = epoch
        self.cyclic = cyclic

    def fit(self, X: Any, y: Any = None) -> DatetimeParts:
        X = as_frame(X)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        self.has_time_ = {}
        names = []
        for c in X.columns:
            d = to_datetime(X[c])
            d = d[d.notna()]
            self.has_time_[c] = bool(len(d)) and bool(((d - d.dt.normalize()) != pd.Timedelta(0)).any())
            parts = list(DATE_PARTS) + (["hour"] if self.has_time_[c] else []) + (["epoch"] if self.epoch else [])
            names += [f"{c}_{p}" for p in parts]
            if self.cyclic:
                names += [f"{c}_{p}_{f}" for p in CYCLES if p != "hour" or self.has_time_[c] for f in ("sin", "cos")]
        self.feature_names_out_ = np.asarray(names, dtype=object)
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        check_fitted(self, "has_time_")
        X = as_frame(X, self.feature_names_in_)
        out = {}
        for c, has_time in self.has_time_.items():
            d = to_datetime(X[c])
            for p in DATE_PARTS:
                out[f"{c}_{p}"] = getattr(d.dt, p).astype("float64")
            if has_time:
                out[f"{c}_hour"] = d.dt.hour.astype("float64")
            if self.epoch:
                out[f"{c}_epoch"] = epoch_seconds(d)
            if self.cyclic:
                for p, period in CYCLES.items():
                    if p == "hour" and not has_time:
                        continue
                    angle = 2 * np.pi * getattr(d.dt, p).astype("float64") / period
                    out[f"{c}_{p}_sin"], out[f"{c}_{p}_cos"] = np.sin(angle), np.cos(angle)
        return pd.DataFrame(out, index=X.index, columns=list(self.feature_names_out_), dtype="float64")

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()
