"""Metrics: pure functions plus a ``Metric`` record saying direction and what predictions they need.

Predictions passed to metrics are the evaluator's internal form: for classification an ``(n, k)`` probability
array over ``classes_`` order and integer-coded ``y`` in ``0..k-1``; for regression a float vector.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

from forgeml.errors import ConfigError


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    greater_is_better: bool
    tasks: tuple[str, ...]
    needs_proba: bool = True

    def score(self, y: np.ndarray, pred: np.ndarray) -> float:
        return float(self.fn(np.asarray(y), np.asarray(pred)))

    def loss(self, score: float) -> float:
        """Turn a score into something to minimise."""
        return -score if self.greater_is_better else score

    def worst(self) -> float:
        return -np.inf if self.greater_is_better else np.inf


def _labels(p: np.ndarray) -> np.ndarray:
    return p.argmax(axis=1) if p.ndim == 2 else p


def _accuracy(y, p):
    return skm.accuracy_score(y, _labels(p))


def _balanced_accuracy(y, p):
    return skm.balanced_accuracy_score(y, _labels(p))


def _f1(y, p):
    k = p.shape[1] if p.ndim == 2 else len(np.unique(y))
    return skm.f1_score(y, _labels(p), average="binary" if k == 2 else "macro")


def _roc_auc(y, p):
    if p.ndim == 2 and p.shape[1] == 2:
        return skm.roc_auc_score(y, p[:, 1])
    if len(np.unique(y)) < p.shape[1]:  # a fold without some class: macro AUC over the present ones
        present = np.unique(y)
        pp = p[:, present] / np.clip(p[:, present].sum(1, keepdims=True), 1e-15, None)
        return skm.roc_auc_score(np.searchsorted(present, y), pp, multi_class="ovr") if len(present) > 2 \
            else skm.roc_auc_score(y == present[1], pp[:, 1])
    return skm.roc_auc_score(y, p, multi_class="ovr")


def _log_loss(y, p):
    p = np.clip(p, 1e-15, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    return skm.log_loss(y, p, labels=np.arange(p.shape[1]))


def _rmse(y, p):
    return float(np.sqrt(skm.mean_squared_error(y, p)))


_CLS = ("binary", "multiclass")
METRICS: dict[str, Metric] = {
    m.name: m for m in [
        Metric("accuracy", _accuracy, True, _CLS),
        Metric("balanced_accuracy", _balanced_accuracy, True, _CLS),
        Metric("f1", _f1, True, _CLS),
        Metric("roc_auc", _roc_auc, True, _CLS),
        Metric("log_loss", _log_loss, False, _CLS),
        Metric("rmse", _rmse, False, ("regression",), needs_proba=False),
        Metric("mae", skm.mean_absolute_error, False, ("regression",), needs_proba=False),
        Metric("r2", skm.r2_score, True, ("regression",), needs_proba=False),
    ]
}

DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


def get_metric(name: str, task: str) -> Metric:
    """The metric called ``name`` (``"auto"`` picks the AutoML Benchmark default for ``task``)."""
    if name in (None, "auto"):
        name = DEFAULT_METRIC[task]
    if name not in METRICS:
        raise ConfigError(f"unknown metric {name!r}; available: auto, {', '.join(METRICS)}")
    m = METRICS[name]
    if task not in m.tasks:
        ok = [n for n, mm in METRICS.items() if task in mm.tasks]
        raise ConfigError(f"metric {name!r} does not apply to a {task} task; use one of: {', '.join(ok)}")
    return m
