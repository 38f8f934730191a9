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


# The ensembler scores thousands of candidate blends, so the common metrics are plain NumPy (scikit-learn's
# input validation costs ~30 ms a call); tests check them against scikit-learn.
def _accuracy(y, p):
    return float(np.mean(_labels(p) == y))


def _balanced_accuracy(y, p):
    return skm.balanced_accuracy_score(y, _labels(p))


def _f1(y, p):
    k = p.shape[1] if p.ndim == 2 else len(np.unique(y))
    return skm.f1_score(y, _labels(p), average="binary" if k == 2 else "macro")


def _rankdata(s: np.ndarray) -> np.ndarray:
    """1-based ranks with ties averaged (scipy.stats.rankdata, without importing scipy.stats: 1-2 s)."""
    order = np.argsort(s, kind="mergesort")
    ss = s[order]
    bounds = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1], True])
    ranks = np.empty(len(s))
    ranks[order] = np.repeat((bounds[:-1] + bounds[1:] + 1) / 2.0, np.diff(bounds))
    return ranks


def _binary_auc(pos: np.ndarray, s: np.ndarray) -> float:
    n1 = int(pos.sum())
    n0 = len(pos) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = _rankdata(np.asarray(s, dtype=float))
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _roc_auc(y, p):
    """Binary AUC, or the unweighted mean of one-vs-rest AUCs over the classes present (sklearn's 'ovr')."""
    y = np.asarray(y)
    if p.ndim == 1:
        return _binary_auc(y == 1, p)
    if p.shape[1] == 2:
        return _binary_auc(y == 1, p[:, 1])
    present = np.unique(y)
    if len(present) == 2:
        pp = p[:, present]
        return _binary_auc(y == present[1], pp[:, 1] / np.clip(pp.sum(1), 1e-15, None))
    pp = p
    if len(present) < p.shape[1]:  # renormalise only when needed: dividing by sums of ~1 would break ties
        pp = p[:, present] / np.clip(p[:, present].sum(1, keepdims=True), 1e-15, None)
    return float(np.mean([_binary_auc(y == c, pp[:, i]) for i, c in enumerate(present)]))


def _log_loss(y, p):
    p = np.clip(p, 1e-15, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(p[np.arange(len(y)), np.asarray(y, dtype=int)])))


def _rmse(y, p):
    return float(np.sqrt(np.mean((np.asarray(y, dtype=float) - p) ** 2)))


def _mae(y, p):
    return float(np.mean(np.abs(np.asarray(y, dtype=float) - p)))


_CLS = ("binary", "multiclass")
METRICS: dict[str, Metric] = {
    m.name: m for m in [
        Metric("accuracy", _accuracy, True, _CLS),
        Metric("balanced_accuracy", _balanced_accuracy, True, _CLS),
        Metric("f1", _f1, True, _CLS),
        Metric("roc_auc", _roc_auc, True, _CLS),
        Metric("log_loss", _log_loss, False, _CLS),
        Metric("rmse", _rmse, False, ("regression",), needs_proba=False),
        Metric("mae", _mae, False, ("regression",), needs_proba=False),
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
