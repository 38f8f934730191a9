"""Quantile scaling to a normal distribution, with the normal quantile function called once per transform.

scikit-learn's ``QuantileTransformer`` calls ``scipy.stats.norm.ppf`` three times per column (the values, then
the two clip bounds), and each call costs about 50 microseconds of argument checking whatever the number of rows:
a one-row prediction through a pipeline scaled this way spent 1 ms of its 1.9 on it (eight columns). For a
probability strictly between 0 and 1, ``norm.ppf(q)`` is ``ndtri(q) * 1.0 + 0.0``, and at 0, 1 and NaN ``ndtri``
gives what ``ppf`` gives (-inf, inf, NaN: written as ``ppf`` writes it), so this is the same arithmetic; a test
compares the two outputs to the bit.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special, stats
from sklearn.preprocessing import QuantileTransformer
from sklearn.preprocessing._data import BOUNDS_THRESHOLD

_CLIP_MIN = stats.norm.ppf(BOUNDS_THRESHOLD - np.spacing(1))
_CLIP_MAX = stats.norm.ppf(1 - (BOUNDS_THRESHOLD - np.spacing(1)))


class NormalQuantiles(QuantileTransformer):
    """``QuantileTransformer`` whose forward transform to a normal distribution maps every column through the
    quantiles first and through the normal quantile function once, for all of them."""

    def _transform(self, X: Any, inverse: bool = False) -> Any:
        if inverse or self.output_distribution != "normal" or not isinstance(X, np.ndarray):
            return super()._transform(X, inverse)
        for j in range(X.shape[1]):
            X[:, j] = self._uniform_col(X[:, j], self.quantiles_[:, j])
        with np.errstate(invalid="ignore"):
            out = special.ndtri(X) + 0.0
            out[np.isnan(out)] = np.nan  # ppf's NaN (ndtri's may carry another sign bit)
            return np.clip(out, _CLIP_MIN, _CLIP_MAX, out=X)

    def _uniform_col(self, X_col: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
        """scikit-learn's ``_transform_col`` (forward, normal output) up to the normal quantile function."""
        with np.errstate(invalid="ignore"):
            lower = X_col - BOUNDS_THRESHOLD < quantiles[0]
            upper = X_col + BOUNDS_THRESHOLD > quantiles[-1]
        finite = ~np.isnan(X_col)
        x = X_col[finite]
        X_col[finite] = 0.5 * (np.interp(x, quantiles, self.references_)
                               - np.interp(-x, -quantiles[::-1], -self.references_[::-1]))
        X_col[upper] = 1
        X_col[lower] = 0
        return X_col
