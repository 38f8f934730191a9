"""AutoML(infer_limit=...) on real tables: the same 20 trials (max_trials) fitted without a limit and with a limit of
FRAC x the unlimited model's measured seconds per row; prints both models' test score and 10,000-row seconds.

    python scripts/bench_infer_limit.py hdma,benefits 0.4
"""
import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for tests.conftest

from sklearn.model_selection import train_test_split  # noqa: E402
from tests.conftest import shared_dataset  # noqa: E402

from forgeml import AutoML  # noqa: E402
from forgeml.orchestrate.infer import batch, measured_s_per_row  # noqa: E402

FRAC = float(sys.argv[2]) if len(sys.argv) > 2 else 0.4
for name in sys.argv[1].split(","):
    df, entry = shared_dataset(name)
    t = entry["target"]
    strat = df[t] if entry["task"] != "regression" else None
    tr, te = train_test_split(df, test_size=0.25, random_state=0, stratify=strat)
    kw = dict(max_trials=20, time_budget=600, seed=0, n_jobs=2, verbose=0, knowledge=None)
    free = AutoML(**kw).fit(tr, target=t)
    rows = batch(tr.drop(columns=[t]))
    base = min(measured_s_per_row(free.best_pipeline_, rows) for _ in range(3))
    limit = FRAC * base
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lim = AutoML(infer_limit=limit, **kw).fit(tr, target=t)
    took = min(measured_s_per_row(lim.best_pipeline_, rows) for _ in range(3))
    board = lim.leaderboard_
    chosen = board[board.chosen.astype(bool)].iloc[0]
    Xte, yte = te.drop(columns=[t]), te[t]
    print(name, json.dumps(dict(
        free_members=len(free.best_pipeline_.members), free_s_10k=base * 1e4, free_test=free.score(Xte, yte),
        limit_s_10k=limit * 1e4, kept=chosen["pipeline"], kept_members=len(lim.best_pipeline_.members),
        kept_s_10k=took * 1e4, kept_test=lim.score(Xte, yte),
        warn=[str(x.message)[:80] for x in caught if "infer_limit" in str(x.message)])), flush=True)
