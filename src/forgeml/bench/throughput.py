"""Trials completed per minute with ``n_jobs=1`` and ``n_jobs=2`` on the same data and budget.

Both runs use random search with the same seed, so they draw the same configurations in the same order;
the figure is completed cross-validation trials per minute of search (fit start to the last trial's end).
"""
from __future__ import annotations

import tempfile
import time

import pandas as pd


def measure(df: pd.DataFrame, target: str, *, n_jobs: int, time_budget: float, seed: int = 0,
            families: list[str] | None = None) -> dict:
    from forgeml import AutoML

    with tempfile.TemporaryDirectory(prefix="forgeml-tp-") as path:
        t0 = time.time()
        m = AutoML(time_budget=time_budget, n_jobs=n_jobs, search="random", seed=seed, families=families,
                   ensemble=False, verbose=0, path=path)
        m.fit(df, target=target)
        trials = m.trials()
    cv = trials[(trials.kind == "cv") & (trials.status == "complete")]
    search_s = float(cv["ended_at"].max() - t0) if len(cv) else float("nan")
    return {"n_jobs": n_jobs, "completed": len(cv), "search_s": search_s,
            "trials_per_min": len(cv) / search_s * 60 if len(cv) else 0.0, "fit_wall_s": time.time() - t0}


def run_throughput(data: str, target: str, *, time_budget: float = 60.0, seed: int = 0,
                   families: list[str] | None = None) -> pd.DataFrame:
    from forgeml.data.load import read_table

    df = read_table(data)
    rows = [measure(df, target, n_jobs=n, time_budget=time_budget, seed=seed, families=families) for n in (1, 2)]
    frame = pd.DataFrame(rows)
    ratio = frame.loc[1, "trials_per_min"] / max(frame.loc[0, "trials_per_min"], 1e-9)
    print(frame.to_string(index=False))
    print(f"speed-up n_jobs=2 / n_jobs=1: {ratio:.2f}x")
    return frame
