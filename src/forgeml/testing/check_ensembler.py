"""The conformance battery every ensembler must pass (our tests run it over ``ENSEMBLERS`` and the plug-ins;
plug-in authors can run it on their own ensembler).

It checks what the run relies on when it refits and blends the members an ensembler chose: weights are
non-negative, sum to 1 and name only members it was given; the reported score is the metric of the blend those
weights make; the same seed gives the same ensemble; chosen members' refit costs respect ``max_cost`` (the best
single member aside); one member is handled; the inputs are left as they were.

And what the fitted model relies on at predict time, for linear and non-linear (``Ensemble.combiner``) ensembles
alike: ``combine`` on new rows, given the predictions of the weighted members only (the run refits no others),
returns one prediction per row in the internal form (probability rows summing to 1 for classification); the
ensemble pickles, and the unpickled one is equal and combines those rows identically. An ensembler whose
``uses_features`` is True gets ``features=`` (raw rows with numeric, missing and categorical values) in ``fit``
and ``combine``.
"""
from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd

from forgeml.ensemble.base import Ensemble, Ensembler
from forgeml.metrics import METRICS, Metric

N_NEW = 60  # rows the members predict after the fit


def battery_members(task: str, seed: int = 0, n: int = 120) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Out-of-fold predictions of five members of different quality (ids not 0..n-1), and ``y``."""
    rng = np.random.default_rng(seed)
    if task == "regression":
        y = rng.normal(size=n) * 3
        return {k: y + rng.normal(scale=s, size=n) for k, s in zip((4, 9, 17, 23, 31), (0.5, 1, 1, 2, 4))}, y
    k = 2 if task == "binary" else 3
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)
    oof = {}
    for key, noise in zip((4, 9, 17, 23, 31), (0.5, 1.0, 1.0, 2.0, 4.0)):
        logits = np.eye(k)[y] * 2 + rng.normal(scale=noise, size=(n, k))
        e = np.exp(logits - logits.max(1, keepdims=True))
        oof[key] = e / e.sum(1, keepdims=True)
    return oof, y


def battery_features(y: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """Raw feature rows for ``y``: a column related to it, one with missing values, a categorical one."""
    rng = np.random.default_rng(seed + 7)
    n = len(y)
    x1 = rng.normal(size=n)
    x1[::7] = np.nan
    return pd.DataFrame({"x0": np.asarray(y, dtype=float) + rng.normal(size=n), "x1": x1,
                         "c": rng.choice(["a", "b", "c"], n)})


def battery_new_rows(task: str, seed: int = 0) -> tuple[dict[int, np.ndarray], pd.DataFrame]:
    """The same five members' predictions on ``N_NEW`` rows they were not fitted on, and those rows' features."""
    oof, y = battery_members(task, seed + 1000, n=N_NEW)
    return oof, battery_features(y, seed + 1000)


CASES: tuple[tuple[str, str], ...] = (("binary", "roc_auc"), ("multiclass", "log_loss"), ("binary", "accuracy"),
                                      ("regression", "rmse"), ("regression", "r2"))


def _uses_features(ensembler: Ensembler) -> bool:
    return bool(getattr(ensembler, "uses_features", False))


def _fit(ensembler: Ensembler, oof, y, metric: Metric, **kw: Any) -> Ensemble:
    if _uses_features(ensembler):
        kw["features"] = battery_features(y)
    ens = ensembler.fit(oof, y, metric, **kw)
    assert isinstance(ens, Ensemble), f"fit must return an Ensemble, got {type(ens).__name__}"
    return ens


def check_weights(ensembler: Ensembler, oof, y, metric: Metric, where: str) -> Ensemble:
    ens = _fit(ensembler, oof, y, metric, seed=0)
    features = battery_features(y) if _uses_features(ensembler) else None
    w = ens.weights
    assert w, f"{where}: no member was chosen"
    assert set(w) <= set(oof), f"{where}: weights name members it was not given: {sorted(set(w) - set(oof))}"
    assert all(np.isfinite(v) and v >= 0 for v in w.values()), f"{where}: weights must be non-negative: {w}"
    assert abs(sum(w.values()) - 1.0) < 1e-6, f"{where}: weights sum to {sum(w.values())}, not 1"
    blend = ens.combine(oof, features) if features is not None else ens.combine(oof)
    expected = metric.score(y, blend)
    assert np.isclose(ens.score, expected, rtol=1e-6, atol=1e-9), \
        f"{where}: score {ens.score} is not the metric of the blended predictions ({expected})"
    return ens


def check_new_rows(ensembler: Ensembler, ens: Ensemble, task: str, where: str) -> None:
    """``combine`` on rows the members were not fitted on, from the weighted members only; and after a pickle."""
    new, features = battery_new_rows(task)
    given = {k: new[k].copy() for k in ens.weights}  # the run refits, and so predicts with, these members only
    fx = features if _uses_features(ensembler) else None
    try:
        out = ens.combine(given, fx) if fx is not None else ens.combine(given)
    except KeyError as exc:
        raise AssertionError(f"{where}: combine reads member {exc} that has no weight; the run refits and "
                             f"predicts with the weighted members {sorted(ens.weights)} only") from None
    out = np.asarray(out)
    shape = (N_NEW,) if task == "regression" else (N_NEW, next(iter(new.values())).shape[1])
    assert out.shape == shape, f"{where}: combine on {N_NEW} new rows gave shape {out.shape}, not {shape}"
    assert np.isfinite(out).all(), f"{where}: combine on new rows gave non-finite predictions"
    if task != "regression":
        assert (out >= -1e-12).all() and np.allclose(out.sum(axis=1), 1.0, atol=1e-6), \
            f"{where}: combine on new rows must give probability rows summing to 1; row sums {out.sum(axis=1)[:5]}"
    try:
        back = pickle.loads(pickle.dumps(ens))
    except Exception as exc:
        raise AssertionError(f"{where}: the ensemble must pickle: {type(exc).__name__}: {exc}") from None
    assert back == ens, f"{where}: the unpickled ensemble is not equal to the original"
    again = back.combine(given, fx) if fx is not None else back.combine(given)
    assert np.array_equal(np.asarray(again), out), f"{where}: the unpickled ensemble combines new rows differently"


def check_ensembler(ensembler: Ensembler) -> list[str]:
    """Run every check on ``ensembler``; raise ``AssertionError`` naming the broken rule; return the checks run."""
    ran = []
    name = getattr(ensembler, "name", "") or type(ensembler).__name__
    for task, metric_name in CASES:
        metric = METRICS[metric_name]
        oof, y = battery_members(task)
        where = f"{name} on {task}/{metric_name}"
        copies = {k: v.copy() for k, v in oof.items()}
        ens = check_weights(ensembler, oof, y, metric, where)
        check_new_rows(ensembler, ens, task, where)
        assert all(np.array_equal(oof[k], copies[k]) for k in oof), f"{where}: fit changed its input predictions"
        best = min(oof, key=lambda k: metric.loss(metric.score(y, oof[k])))
        assert metric.loss(ens.score) <= metric.loss(metric.score(y, oof[best])) + 1e-9 or len(ens.weights) > 1, \
            f"{where}: a single member that is not the best one was chosen"
        again = _fit(ensembler, oof, y, metric, seed=0)
        assert again == ens, f"{where}: not deterministic for a fixed seed ({ens} then {again})"
        costs = {k: 1.0 + i for i, k in enumerate(oof)}
        for max_cost in (0.0, 3.5, 1e9):
            tight = _fit(ensembler, oof, y, metric, seed=0, costs=costs, max_cost=max_cost)
            spent = sum(costs[k] for k in tight.weights)
            assert len(tight.weights) == 1 or spent <= max_cost + 1e-9, \
                f"{where}: members costing {spent} s were chosen with max_cost={max_cost}"
        alone_key = next(iter(oof))
        one = _fit(ensembler, {alone_key: oof[alone_key]}, y, metric, seed=0)
        assert one.weights == {alone_key: 1.0}, f"{where}: one member must get weight 1, got {one.weights}"
        assert np.isclose(one.score, metric.score(y, oof[alone_key])), f"{where}: one member's score is wrong"
        ran.append(where)
    return ran
