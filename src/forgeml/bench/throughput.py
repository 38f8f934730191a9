"""Trials completed per minute with ``n_jobs=1`` and ``n_jobs=2`` on the same data and budget.

Both runs use random search with the same seed, so they draw the same configurations in the same order;
the figure is completed cross-validation trials per minute of search (fit start to the last trial's end).
Two regimes: a time budget (one worker can be held up by one slow configuration while two keep going, so this
favours ``n_jobs=2``), and a fixed number of trials (the same work for both; batches wait for their slowest
trial, which favours ``n_jobs=1``).
"""
from __future__ import annotations

import tempfile
import time

import pandas as pd


def measure(df: pd.DataFrame, target: str, *, n_jobs: int, time_budget: float | None, seed: int = 0,
            families: list[str] | None = None, max_trials: int | None = None) -> dict:
    from forgeml import AutoML

    with tempfile.TemporaryDirectory(prefix="forgeml-tp-") as path:
        t0 = time.time()
        m = AutoML(time_budget=time_budget, n_jobs=n_jobs, search="random", seed=seed, families=families,
                   knowledge=None, portfolio=None, ensemble=False, verbose=0, path=path, max_trials=max_trials)
        m.fit(df, target=target)
        trials = m.trials()
    cv = trials[(trials.kind == "cv") & (trials.status == "complete")]
    search_s = float(cv["ended_at"].max() - t0) if len(cv) else float("nan")
    regime = f"{max_trials} trials" if max_trials else f"{time_budget:g} s"
    return {"regime": regime, "n_jobs": n_jobs, "completed": len(cv), "search_s": search_s,
            "trials_per_min": len(cv) / search_s * 60 if len(cv) else 0.0, "fit_wall_s": time.time() - t0}


def run_throughput(data: str, target: str, *, time_budget: float = 60.0, seed: int = 0,
                   families: list[str] | None = None, max_trials: int = 40) -> pd.DataFrame:
    from forgeml.data.load import read_table

    df = read_table(data)
    rows = []
    for kw in ({"time_budget": time_budget}, {"time_budget": None, "max_trials": max_trials}):
        pair = [measure(df, target, n_jobs=n, seed=seed, families=families, **kw) for n in (1, 2)]
        for r in pair:
            r["speedup"] = r["trials_per_min"] / max(pair[0]["trials_per_min"], 1e-9)
        rows.extend(pair)
    frame = pd.DataFrame(rows)
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return frame
