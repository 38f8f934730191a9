"""Metrics: pure functions plus a ``Metric`` record saying direction and what predictions they need.

Predictions passed to metrics are the evaluator's internal form: for classification an ``(n, k)`` probability
array over ``classes_`` order and integer-coded ``y`` in ``0..k-1``; for regression a float vector.

User metrics (a plain callable, ``make_metric``, ``register_metric``) do not see that internal form: they are
wrapped in ``UserMetric``, which hands them the user's own labels (see its docstring for exactly what they get).
"""
from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

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
    """Whether ``fn`` can be called with ``sample_weight=`` (a named parameter or ``**kwargs``); for a user's
    metric, whether the user's own function can (``UserMetric`` passes the weights on to it)."""
    fn = fn.fn if isinstance(fn, UserMetric) else fn
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


def get_metric(name: str | Metric | Callable[..., float], task: str, classes: Sequence[Any] | None = None) -> Metric:
    """The metric for ``task``: ``"auto"`` (the AutoML Benchmark default), a name (built-in, registered or from an
    installed plug-in), a ``Metric`` (e.g. from ``make_metric``), or a plain callable ``f(y_true, y_pred)``, taken
    as higher-is-better on predicted labels or values.

    ``classes`` (the class labels in code order) lets a user metric receive the user's labels rather than codes.
    """
    if name is None or (isinstance(name, str) and name == "auto"):
        name = DEFAULT_METRIC[task]
    if isinstance(name, Metric):
        m = name
    elif isinstance(name, str):
        _load_metric_plugins()
        if name not in METRICS:
            raise ConfigError(f"unknown metric {name!r}; available: auto, {', '.join(METRICS)}")
        m = METRICS[name]
    elif callable(name):
        m = make_metric(name)
    else:
        raise ConfigError(f"metric must be a name, a callable f(y_true, y_pred) -> float or a Metric from "
                          f"forgeml.make_metric, got {type(name).__name__}")
    if task not in m.tasks:
        ok = [n for n, mm in METRICS.items() if task in mm.tasks]
        raise ConfigError(f"metric {m.name!r} does not apply to a {task} task (its tasks: {', '.join(m.tasks)}); "
                          f"use one of: {', '.join(ok)}")
    if isinstance(m.fn, UserMetric) and classes is not None and task != "regression":
        m = replace(m, fn=m.fn.bind(classes))
    return m


# -- user metrics --------------------------------------------------------------------------------------------
TASKS = ("binary", "multiclass", "regression")


class UserMetric:
    """A user's ``f(y_true, y_pred[, sample_weight=...]) -> float`` adapted to forgeml's internal predictions.

    What ``f`` receives, as scikit-learn's scorers would give it:

    - regression: ``y_true`` and the predicted values, float arrays;
    - classification, ``needs_proba=False``: ``y_true`` and the predicted labels, both in the user's own labels
      (the values of the target column, e.g. ``"yes"``/``"no"``);
    - classification, ``needs_proba=True``: ``y_true`` in the user's labels and, for a binary task, the
      probability of the second class in sorted order (``classes_[1]``, a 1-d array); for a multiclass task the
      ``(n, k)`` probability array whose columns follow ``classes_``;
    - ``sample_weight=...`` only when the run has weights, so ``f`` need not accept it otherwise.

    Until the run binds the class labels (``bind``), ``y_true`` and predicted labels are the codes ``0..k-1``.
    """

    def __init__(self, fn: Callable[..., float], needs_proba: bool = False, classes: Sequence[Any] | None = None):
        self.fn = fn
        self.needs_proba = needs_proba
        self.classes = None if classes is None else np.asarray(classes)

    def bind(self, classes: Sequence[Any]) -> UserMetric:
        return UserMetric(self.fn, self.needs_proba, classes)

    def __call__(self, y: np.ndarray, p: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        y, p = np.asarray(y), np.asarray(p)
        if p.ndim == 2:  # classification: codes 0..k-1 and (n, k) probabilities
            labels = self.classes if self.classes is not None else np.arange(p.shape[1])
            y_true = labels[y.astype(int)]
            if self.needs_proba:
                y_pred = p[:, 1] if p.shape[1] == 2 else p
            else:
                y_pred = labels[p.argmax(axis=1)]
        else:
            y_true, y_pred = y, p
        kwargs = {} if sample_weight is None else {"sample_weight": np.asarray(sample_weight)}
        return self.fn(y_true, y_pred, **kwargs)

    def _key(self) -> tuple:
        return (self.fn, self.needs_proba, None if self.classes is None else tuple(self.classes.tolist()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UserMetric) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"UserMetric({getattr(self.fn, '__qualname__', self.fn)!r}, needs_proba={self.needs_proba})"


def make_metric(fn: Callable[..., float], *, greater_is_better: bool = True, needs_proba: bool = False,
                name: str | None = None, tasks: Sequence[str] | None = None) -> Metric:
    """A ``Metric`` from ``fn(y_true, y_pred) -> float`` (what ``fn`` receives: see ``UserMetric``).

    The metric is checked on a tiny example of each of its ``tasks``; a broken one raises ``ConfigError`` naming
    the rule. Without ``tasks``, it keeps the tasks (classification only with ``needs_proba``) whose example it
    passes, and raises when it passes none. To run in worker
    processes ``fn`` must be importable: a top-level ``def`` in a module, not a lambda or a nested function.
    """
    if isinstance(fn, Metric):  # already a metric (a built-in one, or made before): keep it as it is
        return fn
    if not callable(fn):
        raise ConfigError(f"a metric must be callable as f(y_true, y_pred) -> float, got {type(fn).__name__}")
    name = name or getattr(fn, "__name__", None) or type(fn).__name__
    explicit = tasks is not None
    tasks = tuple(tasks) if tasks is not None else (("binary", "multiclass") if needs_proba else TASKS)
    bad = [t for t in tasks if t not in TASKS]
    if not tasks or bad:
        raise ConfigError(f"metric {name!r}: tasks must be some of {', '.join(TASKS)}, got {tasks!r}")
    if needs_proba and "regression" in tasks:
        raise ConfigError(f"metric {name!r}: needs_proba=True applies to classification only; "
                          "drop 'regression' from tasks")
    m = Metric(str(name), fn if isinstance(fn, UserMetric) else UserMetric(fn, needs_proba), bool(greater_is_better),
               tasks, needs_proba=bool(needs_proba))
    if explicit:
        check_metric(m)
        return m
    # tasks not given: keep those it works on (f1_score with its default average is binary only); none is an error
    works = [t for t in tasks if _metric_problem(m, t) is None]
    if not works:
        check_metric(m)  # raises, naming the first task's problem
    return replace(m, tasks=tuple(works))


def check_metric(metric: Metric) -> None:
    """Raise ``ConfigError`` unless ``metric`` gives a real number on a tiny example of each of its tasks."""
    if not isinstance(metric.name, str) or not metric.name:
        raise ConfigError(f"a metric needs a non-empty string name, got {metric.name!r}")
    if not isinstance(metric.greater_is_better, bool):
        raise ConfigError(f"metric {metric.name!r}: greater_is_better must be True or False")
    for task in metric.tasks:
        problem = _metric_problem(metric, task)
        if problem:
            raise ConfigError(f"metric {metric.name!r} must return a float on a tiny {task} example, {problem}")


def _metric_problem(metric: Metric, task: str) -> str | None:
    import warnings

    y, p = _tiny_example(task)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = metric.fn(y, p)
    except Exception as exc:
        return f"but it raised {type(exc).__name__}: {exc}"
    # NaN is allowed here: the example has codes 0..k-1 for labels, which a label-specific metric may not expect
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return f"got {value!r}"
    return None


def _tiny_example(task: str) -> tuple[np.ndarray, np.ndarray]:
    if task == "regression":
        return np.array([1.0, 2.0, 3.0, 4.5, 5.0, 7.0]), np.array([1.2, 1.9, 3.3, 4.0, 5.5, 6.5])
    k = 2 if task == "binary" else 3
    y = np.arange(8) % k
    p = np.full((8, k), 0.2 / (k - 1))
    p[np.arange(8), (y + (np.arange(8) == 7)) % k] = 0.8  # right on 7 rows, wrong on one
    return y, p


def register_metric(name: str, fn: Callable[..., float] | Metric, *, greater_is_better: bool = True,
                    needs_proba: bool = False, tasks: Sequence[str] | None = None, overwrite: bool = False) -> Metric:
    """Make ``fn`` usable by name (``AutoML(metric=name)``, ``forgeml fit --metric name``); returns the ``Metric``.

    ``fn`` is a callable (wrapped as in ``make_metric``) or a ``Metric``; a built-in or registered name is
    refused unless ``overwrite=True``. A broken metric raises ``ConfigError`` naming the rule it breaks.
    """
    if not isinstance(name, str) or not name.strip() or name == "auto":
        raise ConfigError(f"a metric needs a non-empty string name other than 'auto', got {name!r}")
    _load_metric_plugins()
    if name in METRICS and not overwrite:
        raise ConfigError(f"a metric named {name!r} is already registered; pass overwrite=True to replace it, or "
                          "choose another name")
    if isinstance(fn, Metric):
        m = replace(fn, name=name)
        check_metric(m)
    else:
        m = make_metric(fn, greater_is_better=greater_is_better, needs_proba=needs_proba, name=name, tasks=tasks)
    METRICS[name] = m
    return m


def unregister_metric(name: str) -> None:
    """Remove a registered metric (tests and plug-in reloads)."""
    if name not in METRICS:
        raise ConfigError(f"unknown metric {name!r}; available: {', '.join(METRICS)}")
    del METRICS[name]


_plugins_loaded = False


def _load_metric_plugins() -> None:
    """Register the ``forgeml.metrics`` entry points once (a ``Metric`` or a higher-is-better callable each)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from forgeml.registry import ENTRY_POINT_GROUPS, load_entry_points

    load_entry_points(ENTRY_POINT_GROUPS["metric"], "metric", lambda n, obj: register_metric(n, obj),
                      lambda n: n in METRICS)


def metric_names(task: str | None = None) -> list[str]:
    """Every metric name (built-in, registered and installed plug-ins), optionally only those for ``task``."""
    _load_metric_plugins()
    return [n for n, m in METRICS.items() if task is None or task in m.tasks]
