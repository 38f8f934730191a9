"""Predict cost: estimated from the trials' cross-validation, measured on a 10,000-row batch for ``infer_limit``.

``AutoML(infer_limit=S)`` promises that the returned model predicts a batch of ``BATCH_ROWS`` rows in at most
``S`` seconds per row. Before the refits, candidates are screened with the per-row predict time each member
showed on its validation folds (the ensemble's is the sum over its members; a bagged member predicts with every
fold model, so it counts once per fold). After the refits the kept model is timed on a batch of training rows
(sampled with replacement when there are fewer), and when it is over the limit the next best candidate whose
members are already fitted is tried, down to the fastest single pipeline.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

BATCH_ROWS = 10_000


def estimated_s_per_row(members: Iterable[int], per_1k: Mapping[int, float], folds: Mapping[int, int] | None = None
                        ) -> float:
    """Seconds per row an ensemble of ``members`` should take, from each member's CV predict seconds per 1,000 rows
    (times its number of fold models when it is bagged)."""
    folds = folds or {}
    return sum(float(per_1k.get(m, 0.0)) * folds.get(m, 1) for m in members) / 1000.0


def batch(X: pd.DataFrame, rows: int = BATCH_ROWS, seed: int = 0) -> pd.DataFrame:
    """``rows`` rows of ``X`` to time predictions on; sampled with replacement when ``X`` has fewer."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), rows, replace=len(X) < rows)
    return X.iloc[idx].reset_index(drop=True)


def measured_s_per_row(pipeline: Any, rows: pd.DataFrame) -> float:
    """Seconds per row ``pipeline`` takes to predict ``rows`` (probabilities for a classifier), after a warm-up
    on a few rows so one-off costs (lazy imports, caches) are not counted."""
    predict = pipeline.predict if pipeline.task == "regression" else pipeline.predict_proba
    predict(rows.iloc[:min(len(rows), 16)])
    t0 = time.perf_counter()
    predict(rows)
    return (time.perf_counter() - t0) / max(len(rows), 1)
