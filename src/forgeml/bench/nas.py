"""``forgeml bench-nas``: each NAS strategy × space against a fixed, hand-designed network trained for the same
time, on the test rows of the bench split (75/25, stratified, ``random_state=seed``).

Two references: ``baseline``, the macro space's default genotype (two 128-wide ReLU layers) trained once for up to
the whole budget, with the same early stopping; and ``mlp_family``, the MLP family's first default configuration
fitted through forgeml's own pipeline (what ``AutoML`` tries first for networks). Image datasets are read with
their manifest ``shape``; ``space="auto"`` is the cell space for images and the macro space for tables.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forgeml.bench.runner import HEADLINE, split, test_score
from forgeml.bench.suite import read_suite
from forgeml.nas.base import NASStrategy

BASELINE = "baseline"


class FixedArchitecture(NASStrategy):
    """Not a search: the space's default network, trained once for as long as the budget allows."""

    name = BASELINE

    def search(self, ctx: Any) -> None:
        ctx.evaluate(ctx.space.default(), 100_000, source=self.name, keep=True)


def _fit_one(strategy: Any, space: str, train: pd.DataFrame, test: pd.DataFrame, entry: dict,
             time_budget: float, seed: int) -> dict[str, Any]:
    from forgeml.nas.search import NASearch

    target, task = entry["target"], entry["task"]
    shape = tuple(entry["shape"]) if entry.get("kind") == "image" and entry.get("shape") else None
    row: dict[str, Any] = {"dataset": entry["name"], "strategy": getattr(strategy, "name", strategy),
                           "space": space, "budget": time_budget}
    start = time.time()
    try:
        search = NASearch(strategy=strategy, space=space, time_budget=time_budget, image_shape=shape, seed=seed)
        search.fit(train, target=target)
        X = test.drop(columns=[target])
        pred = search.predict(X)
        proba = search.predict_proba(X) if task != "regression" else None
        y = test[target].to_numpy()
        row.update(space=search.genotype_["space"], candidates=len(search.history_),
                   failed=int((search.history_["status"] != "ok").sum()), valid_score=search.best_score_,
                   genotype=search.architecture_)
        row["test_accuracy" if task != "regression" else "test_r2"] = (
            float(np.mean(pred == y)) if task != "regression"
            else 1 - float(np.mean((pred - y) ** 2) / np.var(y)))
        row[f"test_{HEADLINE[task][0]}"] = test_score(task, y, pred, proba, search.classes_ if proba is not None
                                                      else None)
    except Exception as exc:  # a benchmark row records the failure and the suite goes on
        row["error"] = f"{type(exc).__name__}: {exc}"[:200]
    row["wall"] = time.time() - start
    return row


def _mlp_family(train: pd.DataFrame, test: pd.DataFrame, entry: dict, seed: int) -> dict[str, Any]:
    """The MLP family's first default configuration through forgeml's own pipeline (one trial, no ensemble)."""
    from forgeml import AutoML

    target, task = entry["target"], entry["task"]
    row: dict[str, Any] = {"dataset": entry["name"], "strategy": "mlp_family", "space": "-", "candidates": 1}
    start = time.time()
    try:
        model = AutoML(families=["mlp"], max_trials=1, time_budget=None, ensemble=None, knowledge=None,
                       portfolio=None, feature_engineering=False, seed=seed, verbose=0, n_jobs=1)
        model.fit(train, target=target)
        X, y = test.drop(columns=[target]), test[target].to_numpy()
        pred = np.asarray(model.predict(X))
        proba = np.asarray(model.predict_proba(X)) if task != "regression" else None
        if task != "regression":
            row["test_accuracy"] = float(np.mean(pred == y))
        else:
            row["test_r2"] = 1 - float(np.mean((pred - y) ** 2) / np.var(y))
        row[f"test_{HEADLINE[task][0]}"] = test_score(task, y, pred, proba, model.classes_ if proba is not None
                                                      else None)
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"[:200]
    row["wall"] = time.time() - start
    return row


def run_bench_nas(suite: str, out: str, *, strategies: list[str], spaces: list[str], time_budget: float = 150.0,
                  seed: int = 0, only: list[str] | None = None) -> pd.DataFrame:
    """Every dataset × strategy × space (plus the baseline); writes ``nas.csv`` in ``out`` after each row."""
    from forgeml.nas import NAS_SPACES, NAS_STRATEGIES

    entries, root = read_suite(suite)
    if only:
        entries = [e for e in entries if e["name"] in only]
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for entry in entries:
        df = pd.read_parquet(root / entry["file"])
        train, test = split(df, entry["target"], entry["task"], seed)
        runs: list[tuple[Any, str]] = [(FixedArchitecture(), "macro")]
        for s in strategies:
            for sp in spaces:
                if NAS_STRATEGIES[s].needs_supernet and sp != "auto" and not hasattr(NAS_SPACES[sp], "supernet"):
                    continue  # e.g. DARTS over the macro space: no continuous relaxation
                runs.append((s, sp))
        for strategy, space in [("mlp_family", "-"), *runs]:
            rows.append(_mlp_family(train, test, entry, seed) if strategy == "mlp_family"
                        else _fit_one(strategy, space, train, test, entry, time_budget, seed))
            pd.DataFrame(rows).to_csv(out_dir / "nas.csv", index=False)
            r = rows[-1]
            print(f"{entry['name']:>14} {r['strategy']:>9} {r['space']:>9}: "
                  + (f"test acc {r['test_accuracy']:.4f}" if "test_accuracy" in r and pd.notna(r.get('test_accuracy'))
                     else f"test r2 {r.get('test_r2', float('nan')):.4f}" if "test_r2" in r else r.get("error", ""))
                  + f"  ({r.get('candidates', 0)} candidates, {r['wall']:.0f}s)", flush=True)
    return pd.DataFrame(rows)
