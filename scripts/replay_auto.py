"""Replay ``AutoML(ensemble="auto")``'s choice, as this checkout makes it (``forgeml.ensemble.select.best``), on the
candidates a ``forgeml bench-ensembles`` run recorded, and summarise as ``bench-ensembles`` does.

Each method's test score in that run comes from its ensemble and refit members built from the run's trials, so a
new selection rule can be measured on the same trials without searching again: the replayed ``auto`` row takes
the test score of the method the rule picks from the recorded nested scores and ``beats_single`` shares. A method
whose rebuild failed (no test score) is left out of the choice.

    python scripts/replay_auto.py bench-ens/ensembles.csv --out bench-ens/replay.csv
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from forgeml.bench.ensembles import summarize
from forgeml.bench.runner import HEADLINE
from forgeml.ensemble.base import Ensemble
from forgeml.ensemble.select import Candidate, best
from forgeml.metrics import METRICS


def replay(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    keys = ["dataset", "seed"] if "seed" in frame else ["dataset"]
    for _, g in frame.groupby(keys, sort=False):
        metric = METRICS[HEADLINE[g["task"].iloc[0]][0]]
        cands = []
        for r in g[~g["method"].isin(["auto", "constant"])].itertuples():
            ok = np.isfinite(r.test_score) and np.isfinite(r.nested_cv)
            cands.append(Candidate(r.method, nested_score=r.nested_cv, p_better=r.beats_single,
                                   ensemble=Ensemble({0: 1.0}, r.nested_cv) if ok else None,
                                   error=None if ok else "not scored"))
        chosen = best(cands, metric)
        auto = g.index[g["method"] == "auto"]
        if chosen is None or not len(auto):
            continue
        score = g.loc[g["method"] == chosen.name, "test_score"].iloc[0]
        out.loc[auto, ["test_score", "chosen", "p_worse"]] = [score, chosen.name, np.nan]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", help="OUT/ensembles.csv of forgeml bench-ensembles")
    ap.add_argument("--out", default=None, help="write the replayed rows here (CSV)")
    a = ap.parse_args()
    frame = replay(pd.read_csv(a.csv))
    if a.out:
        frame.to_csv(a.out, index=False)
    print(summarize(frame))
    return 0


if __name__ == "__main__":
    sys.exit(main())
