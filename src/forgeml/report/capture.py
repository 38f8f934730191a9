"""What ``AutoML.fit`` keeps for the report: a model file carries no training data, yet the report must be drawn
from a saved run in a fresh process.

``capture`` runs at the end of ``fit`` and returns a small dict of plain lists and numbers (``report_data_``,
pickled with the model; a few tens of KB): the dataset's profile (per column: kind, dtype, missing values, distinct
values; the target's class counts or histogram) and honest out-of-fold predictions with their labels, at most
``MAX_ROWS`` of them. Honest means no model or ensemble weight behind a prediction saw its row: the chosen ensemble
method's cross-fitted predictions (``ensemble.select``: fitted on the other folds of the out-of-fold rows), or,
when the kept ensemble is not one of the compared candidates (``ensemble=None`` with a single pipeline, an
ensemble chosen again after a failed refit), the out-of-fold predictions of the pipeline itself when it is one
trial, else of the best trial, and the report says which.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

MAX_ROWS = 2000  # out-of-fold rows kept (a seeded sample when there are more)
MAX_PROBA_CLASSES = 10  # above this many classes only the predicted labels are kept (no ROC curves)
HIST_BINS = 30
VERSION = 1  # of this dict's layout


def capture(df: pd.DataFrame, target: str, outcome: Any, run_dir: str, *, weight_column: str | None = None,
            seed: int = 0) -> dict[str, Any] | None:
    """The report's data from the training frame ``df`` and the run's ``Outcome`` (``orchestrate.run``), read
    while ``run_dir`` (with the trials' out-of-fold files) still exists. None if it cannot be collected: a
    finished search is never lost to its report (which then shows the schema only)."""
    try:
        return _capture(df, target, outcome, run_dir, weight_column, seed)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        import warnings

        warnings.warn(f"no report data kept ({type(exc).__name__}: {exc}); the report will show less",
                      RuntimeWarning, stacklevel=3)
        return None


def _capture(df: pd.DataFrame, target: str, outcome: Any, run_dir: str, weight_column: str | None,
             seed: int) -> dict[str, Any]:
    schema = outcome.schema
    features = df.drop(columns=[c for c in (target, weight_column) if c and c in df.columns])
    missing = features.isna().sum()
    columns = [{"name": str(c.name), "kind": c.kind, "dtype": c.dtype, "n_missing": int(missing.get(c.name, 0)),
                "n_unique": int(c.n_unique)} for c in schema.columns]
    return {"version": VERSION, "target": str(target), "task": schema.task, "n_rows": int(len(df)),
            "n_columns": int(features.shape[1]), "columns": columns, "classes": [str(c) for c in schema.classes],
            "target_distribution": _target_distribution(df[target], schema),
            "oof": _oof(outcome, run_dir, seed)}


def _target_distribution(y: pd.Series, schema: Any) -> dict[str, Any]:
    n_missing = int(y.isna().sum())
    y = y.dropna()
    if schema.task != "regression":
        counts = y.value_counts()
        return {"kind": "classes", "labels": [str(c) for c in schema.classes],
                "counts": [int(counts.get(c, 0)) for c in schema.classes], "n_missing": n_missing}
    values = pd.to_numeric(y, errors="coerce").to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    counts, edges = np.histogram(values, bins=HIST_BINS) if len(values) else (np.zeros(0), np.zeros(0))
    return {"kind": "histogram", "counts": [int(c) for c in counts], "edges": [float(e) for e in edges],
            "n_missing": n_missing}


def _oof(outcome: Any, run_dir: str, seed: int) -> dict[str, Any] | None:
    """Honest out-of-fold predictions with their labels (see the module docstring); None without any."""
    y, rows = getattr(outcome, "y", None), getattr(outcome, "oof_rows", None)
    if y is None or rows is None or not len(rows):
        return None
    kept = getattr(outcome, "kept", None)
    chosen = next((c for c in outcome.candidates if kept is not None and c.ensemble is kept
                   and c.nested_pred is not None and getattr(c, "nested_rows", None) is not None), None)
    if chosen is not None:
        labels, pred = np.asarray(y)[rows][chosen.nested_rows], np.asarray(chosen.nested_pred, dtype=float)
        source = (f"cross-fitted out-of-fold predictions of the chosen ensemble method ({chosen.name}): each row "
                  "predicted by members and weights fitted without it")
    else:
        trial_id, why = _stand_in(outcome)
        pred = _trial_oof(run_dir, outcome.run_id, trial_id)
        if pred is None:
            return None
        labels, pred = np.asarray(y)[rows], pred[rows]
        source = f"out-of-fold predictions of trial #{trial_id} ({why})"
    if len(labels) > MAX_ROWS:
        keep = np.sort(np.random.default_rng(seed).choice(len(labels), MAX_ROWS, replace=False))
        labels, pred = labels[keep], pred[keep]
    out: dict[str, Any] = {"source": source, "n_rows": int(len(labels))}
    if outcome.schema.task == "regression":
        out.update(y=[float(v) for v in labels], pred=np.round(pred.ravel(), 6).tolist())
        return out
    proba = pred if pred.ndim == 2 else np.column_stack([1 - pred, pred])
    out.update(y=[int(v) for v in labels], label=np.argmax(proba, axis=1).tolist())
    if proba.shape[1] <= MAX_PROBA_CLASSES:
        out["proba"] = np.round(proba, 4).tolist()
    return out


def _stand_in(outcome: Any) -> tuple[int | None, str]:
    """The trial whose out-of-fold predictions stand in: the model's only member, else the best trial."""
    ids = outcome.pipeline.member_ids or []
    if len(ids) == 1:
        return int(ids[0]), "the model's only pipeline"
    lb = outcome.leaderboard
    trials = lb[(lb["family"] != "ensemble") & lb["trial_id"].notna()]
    if not len(trials):
        return None, ""
    return int(trials["trial_id"].iloc[0]), "the best single pipeline; the kept ensemble has no held-out predictions"


def _trial_oof(run_dir: str, run_id: str, trial_id: int | None) -> np.ndarray | None:
    if trial_id is None:
        return None
    from forgeml.store import Store

    try:
        with Store.open(run_dir, create=False) as store:
            frame = store.trials(run_id)
        path = frame.loc[frame["trial_id"] == trial_id, "oof_path"].dropna()
        return np.load(path.iloc[0]).astype(float) if len(path) else None
    except (OSError, ValueError, IndexError):
        return None
