"""Regression target transforms with an exact inverse (used by ``ForgePipeline(target_transform=...)``).

A skewed target (prices, counts, durations) is often learned better on a compressed scale; predictions come back
through the exact inverse, so every score is still computed on the original scale.

* ``"log1p"`` needs every training y > -1, ``"sqrt"`` every y >= 0, ``"box-cox"`` every y > 0. When the training
  target breaks that condition the transform falls back to ``"yeo-johnson"``, which applies to any real y.
* A prediction whose inverse is not finite (e.g. ``expm1`` overflowing, or a Box-Cox value outside the
  transform's range) becomes the nearest end of the training target range.
* Every inverse is then clipped to the training target range widened by its span on each side
  (``[low - span, high + span]``): exact inside the training range, but a wild prediction on the transformed
  scale (``expm1`` of a large value) scores badly instead of overflowing the metric to inf.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TARGET_TRANSFORMS = ("none", "log1p", "sqrt", "yeo-johnson", "box-cox")


def applicable(method: str, y: np.ndarray) -> bool:
    """Whether ``method`` is defined on every value of ``y``."""
    if method == "log1p":
        return bool(np.all(y > -1))
    if method == "sqrt":
        return bool(np.all(y >= 0))
    if method == "box-cox":
        return bool(np.all(y > 0))
    return True


@dataclass(frozen=True)
class FittedTarget:
    """A target transform fitted on one training target: ``method`` as applied (after any fallback)."""

    method: str
    lmbda: float  # the power of Yeo-Johnson / Box-Cox (unused otherwise)
    low: float  # the training target range, for predictions whose inverse is not finite
    high: float
    mid: float  # the transformed training target's median: which end a non-finite inverse maps to

    def forward(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype="float64")
        if self.method == "log1p":
            return np.log1p(y)
        if self.method == "sqrt":
            return np.sqrt(y)
        from scipy import stats

        if self.method == "box-cox":
            return stats.boxcox(y, lmbda=self.lmbda)
        return stats.yeojohnson(y, lmbda=self.lmbda)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype="float64")
        with np.errstate(all="ignore"):
            if self.method == "log1p":
                out = np.expm1(z)
            elif self.method == "sqrt":
                out = np.square(np.clip(z, 0, None))
            elif self.method == "box-cox":
                from scipy.special import inv_boxcox

                out = inv_boxcox(z, self.lmbda)
            else:
                out = _inv_yeojohnson(z, self.lmbda)
        bad = ~np.isfinite(out)
        if bad.any():
            out = np.where(bad, np.where(z > self.mid, self.high, self.low), out)
        span = self.high - self.low
        if not span > 0:
            span = 1e-6 * max(1.0, abs(self.high))
        return np.clip(out, self.low - span, self.high + span)


def fit_target(method: str, y: np.ndarray) -> FittedTarget | None:
    """The transform ``method`` fitted on ``y`` (``None`` for ``"none"``), falling back to Yeo-Johnson when
    ``method`` is not defined on every training value."""
    if method == "none":
        return None
    y = np.asarray(y, dtype="float64").ravel()
    if not applicable(method, y):
        method = "yeo-johnson"
    lmbda = 1.0
    if method in ("box-cox", "yeo-johnson"):
        from scipy import stats

        with np.errstate(all="ignore"):
            lmbda = float(stats.boxcox_normmax(y, method="mle") if method == "box-cox"
                          else stats.yeojohnson_normmax(y))
        if not np.isfinite(lmbda):
            lmbda = 1.0
        lmbda = float(np.clip(lmbda, -3.0, 3.0))  # extreme powers overflow on new values
    ft = FittedTarget(method, lmbda, float(np.min(y)), float(np.max(y)), 0.0)
    return FittedTarget(method, lmbda, ft.low, ft.high, float(np.median(ft.forward(y))))


def _inv_yeojohnson(z: np.ndarray, lmbda: float) -> np.ndarray:
    out = np.empty_like(z)
    pos = z >= 0
    if abs(lmbda) < 1e-12:
        out[pos] = np.expm1(z[pos])
    else:
        out[pos] = np.power(z[pos] * lmbda + 1, 1 / lmbda) - 1
    if abs(lmbda - 2) < 1e-12:
        out[~pos] = -np.expm1(-z[~pos])
    else:
        out[~pos] = 1 - np.power(-(2 - lmbda) * z[~pos] + 1, 1 / (2 - lmbda))
    return out
