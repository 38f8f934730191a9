"""Metrics: pure functions plus a ``Metric`` record saying direction and what predictions they need.

Predictions passed to metrics are the evaluator's internal form: for classification an ``(n, k)`` probability
array over ``classes_`` order and integer-coded ``y`` in ``0..k-1``; for regression a float vector.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from sklearn import metrics as skm

from forgeml.errors import ConfigError


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[..., float]  # fn(y, pred) or fn(y, pred, sample_weight=None)
    greater_is_better: bool
    tasks: tuple[str, ...]
    needs_proba: bool = True

    def score(self, y: np.ndarray, pred: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """The metric on ``(y, pred)``, each row counted ``sample_weight`` times (all once when None).

        NaN when the weights of these rows sum to zero (e.g. a fold whose rows all weigh 0): nothing to measure.
        A function without a ``sample_weight`` parameter serves unweighted runs only; with weights it raises
        ``ConfigError`` rather than silently ignoring them.
        """
        if sample_weight is None:
            return float(self.fn(np.asarray(y), np.asarray(pred)))
        if not accepts_sample_weight(self.fn):
            raise ConfigError(f"metric {self.name!r} takes no sample_weight; give its function a "
                              "sample_weight=None parameter, or fit without sample_weight")
        w = np.asarray(sample_weight, dtype=float)
        if not w.sum() > 0:
            return float("nan")
        return float(self.fn(np.asarray(y), np.asarray(pred), sample_weight=w))

    def loss(self, score: float) -> float:
        """Turn a score into something to minimise."""
        return -score if self.greater_is_better else score

    def worst(self) -> float:
        return -np.inf if self.greater_is_better else np.inf


def accepts_sample_weight(fn: Callable[..., float]) -> bool:
    """Whether ``fn`` can be called with ``sample_weight=`` (a named parameter or ``**kwargs``)."""
    try:
        return _accepts(fn)
    except TypeError:  # an unhashable callable object: look again, uncached
        return _accepts.__wrapped__(fn)


@lru_cache(maxsize=256)
def _accepts(fn: Callable[..., float]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: assume the plain (y, pred) form
        return False
    return any(p.name == "sample_weight" or p.kind is p.VAR_KEYWORD for p in params)


def _labels(p: np.ndarray) -> np.ndarray:
    return p.argmax(axis=1) if p.ndim == 2 else p


# The ensembler scores thousands of candidate blends, so the common metrics are plain NumPy (scikit-learn's
# input validation costs ~30 ms a call); tests check them against scikit-learn, weighted and unweighted. Each takes
# ``sample_weight=None``: None keeps the unweighted fast path, an array counts row i ``sample_weight[i]`` times.
def _mean(values: np.ndarray, sample_weight: np.ndarray | None) -> float:
    return float(np.mean(values) if sample_weight is None else np.average(values, weights=sample_weight))


def _accuracy(y, p, sample_weight=None):
    return _mean(_labels(p) == y, sample_weight)


def _balanced_accuracy(y, p, sample_weight=None):
    return skm.balanced_accuracy_score(y, _labels(p), sample_weight=sample_weight)


def _f1(y, p, sample_weight=None):
    k = p.shape[1] if p.ndim == 2 else len(np.unique(y))
    return skm.f1_score(y, _labels(p), average="binary" if k == 2 else "macro", sample_weight=sample_weight)


def _rankdata(s: np.ndarray) -> np.ndarray:
    """1-based ranks with ties averaged (scipy.stats.rankdata, without importing scipy.stats: 1-2 s)."""
    order = np.argsort(s, kind="mergesort")
    ss = s[order]
    bounds = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1], True])
    ranks = np.empty(len(s))
    ranks[order] = np.repeat((bounds[:-1] + bounds[1:] + 1) / 2.0, np.diff(bounds))
    return ranks


def _binary_auc(pos: np.ndarray, s: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    if sample_weight is not None:
        return _weighted_binary_auc(pos, np.asarray(s, dtype=float), sample_weight)
    n1 = int(pos.sum())
    n0 = len(pos) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = _rankdata(np.asarray(s, dtype=float))
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _weighted_binary_auc(pos: np.ndarray, s: np.ndarray, w: np.ndarray) -> float:
    """The weighted Mann-Whitney statistic: over (positive i, negative j) pairs, w_i w_j for s_i > s_j and half
    that for a tie, over the total pair weight; equal to the trapezoidal area under scikit-learn's weighted ROC."""
    w1, w0 = float(w[pos].sum()), float(w[~pos].sum())
    if w1 <= 0 or w0 <= 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ss = s[order]
    starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])  # one group per distinct score, ascending
    wpos = np.add.reduceat(np.where(pos, w, 0.0)[order], starts)
    wneg = np.add.reduceat(np.where(pos, 0.0, w)[order], starts)
    below = np.cumsum(wneg) - wneg  # negative weight with a strictly lower score
    return float((wpos * (below + 0.5 * wneg)).sum() / (w1 * w0))


def _roc_auc(y, p, sample_weight=None):
    """Binary AUC, or the unweighted mean of one-vs-rest AUCs over the classes present (sklearn's 'ovr').

    With weights, rows of weight 0 are dropped first: a class seen only in such rows is not present."""
    y = np.asarray(y)
    w = sample_weight
    if w is not None:
        keep = np.asarray(w) > 0
        y, p, w = y[keep], p[keep], np.asarray(w, dtype=float)[keep]
    if p.ndim == 1:
        return _binary_auc(y == 1, p, w)
    if p.shape[1] == 2:
        return _binary_auc(y == 1, p[:, 1], w)
    present = np.unique(y)
    if len(present) == 2:
        pp = p[:, present]
        return _binary_auc(y == present[1], pp[:, 1] / np.clip(pp.sum(1), 1e-15, None), w)
    pp = p
    if len(present) < p.shape[1]:  # renormalise only when needed: dividing by sums of ~1 would break ties
        pp = p[:, present] / np.clip(p[:, present].sum(1, keepdims=True), 1e-15, None)
    return float(np.mean([_binary_auc(y == c, pp[:, i], w) for i, c in enumerate(present)]))


def _log_loss(y, p, sample_weight=None):
    p = np.clip(p, 1e-15, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    return _mean(-np.log(p[np.arange(len(y)), np.asarray(y, dtype=int)]), sample_weight)


def _rmse(y, p, sample_weight=None):
    return float(np.sqrt(_mean((np.asarray(y, dtype=float) - p) ** 2, sample_weight)))


def _mae(y, p, sample_weight=None):
    return _mean(np.abs(np.asarray(y, dtype=float) - p), sample_weight)


def _r2(y, p, sample_weight=None):
    return skm.r2_score(y, p, sample_weight=sample_weight)


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
        Metric("r2", _r2, True, ("regression",), needs_proba=False),
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
