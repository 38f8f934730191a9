"""Predict latency of a fitted model: one row per call, and batches of 10,000 rows.

``forgeml bench-predict DATA --target y`` fits on 75 % of the rows (30 s by default), then times the median of
``single`` one-row ``predict_proba`` calls (``predict`` for regression) and of ``batches`` calls on ``rows`` rows
drawn with replacement from the held-out quarter. It times the plain path too (each member predicted on its own
through scikit-learn's ``Pipeline``, nothing shared) and checks that both give identical predictions, on the batch
and on each one-row call, so the figures say what the fast path buys and that it changes nothing.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def plain_predict(model: Any, X: Any) -> np.ndarray:
    """The fitted pipeline's output computed member by member with no shared steps: the reference path."""
    from forgeml.pipeline.fitted import predict_matrix

    fitted = model.best_pipeline_
    Xa = fitted._align(model._read(X))
    k = 0 if fitted.task == "regression" else len(fitted.schema.classes)
    if fitted.combiner is not None:
        out = fitted.combiner.combine({i: predict_matrix(m, Xa, k) for i, m in zip(fitted.member_ids,
                                                                                     fitted.members)}, Xa)
    else:
        out = sum(w * predict_matrix(m, Xa, k) for w, m in zip(fitted.weights, fitted.members))
    out = np.asarray(out, dtype=float)
    return out if k == 0 else out / np.clip(out.sum(axis=1, keepdims=True), 1e-15, None)


def _median_ms(fn: Callable[[Any], Any], inputs: list[Any]) -> float:
    times = []
    for x in inputs:
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return 1000.0 * statistics.median(times)


def measure_latency(model: Any, X: pd.DataFrame, *, single: int = 50, batches: int = 5, rows: int = 10_000,
                    seed: int = 0) -> dict[str, Any]:
    """Median milliseconds per call, fast and plain path, and whether their predictions are identical."""
    regression = getattr(model, "task_", None) == "regression"
    fast = model.predict if regression else (lambda x: np.asarray(model.predict_proba(x)))
    big = X.sample(rows, replace=True, random_state=seed).reset_index(drop=True)
    ones = [X.iloc[[i % len(X)]] for i in range(single)]
    fast(X.iloc[:5])
    plain_predict(model, X.iloc[:5])  # warm both paths (imports, digests) before timing
    # identical on the batch and on every one-row call: a row takes paths of its own (pipeline/fitted.py: Rows)
    same = bool(np.array_equal(np.asarray(fast(big), dtype=float), plain_predict(model, big))) and all(
        np.array_equal(np.asarray(fast(one), dtype=float), plain_predict(model, one)) for one in ones)
    return {"single_ms": _median_ms(fast, ones), "batch_ms": _median_ms(fast, [big] * batches),
            "plain_single_ms": _median_ms(lambda x: plain_predict(model, x), ones),
            "plain_batch_ms": _median_ms(lambda x: plain_predict(model, x), [big] * batches),
            "batch_rows": rows, "identical": same}


def run_bench_predict(data: str, target: str, *, time_budget: float = 30.0, seed: int = 0,
                      single: int = 50, batches: int = 5, rows: int = 10_000) -> pd.DataFrame:
    from sklearn.model_selection import train_test_split

    from forgeml import AutoML
    from forgeml.data.load import read_table

    df = read_table(data)
    y = df[target]
    stratify = y if y.nunique() <= 20 and y.value_counts().min() >= 2 else None
    train, test = train_test_split(df, test_size=0.25, random_state=seed, stratify=stratify)
    with tempfile.TemporaryDirectory(prefix="forgeml-latency-") as path:
        model = AutoML(time_budget=time_budget, seed=seed, verbose=0, path=path).fit(train, target=target)
        result = measure_latency(model, test.drop(columns=[target]), single=single, batches=batches, rows=rows,
                                 seed=seed)
    frame = pd.DataFrame([{"data": str(data), "train_rows": len(train), "model": repr(model.best_pipeline_),
                           **result}])
    print(frame.drop(columns=["model"]).to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print(f"model: {frame.loc[0, 'model']}")
    return frame


__all__ = ["measure_latency", "plain_predict", "run_bench_predict"]
