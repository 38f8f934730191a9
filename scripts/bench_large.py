"""Fit forgeml on the synthetic large table (``make_large_table.py``) within a budget and report what issue 21
asks of large data: the wall time against the budget, the test score, and the peak memory of the whole process
tree (this process and its workers) against the table's size in memory.

    python scripts/bench_large.py --time-budget 60 [--rows 1000000] [--seed 0] [--path RUN_DIR]

The table is split 75/25, stratified; forgeml fits on the 75 % with ``knowledge=None`` (a cold start, so runs on
different machines compare) and is scored by ROC AUC on the 25 %. One line of results is printed.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_large_table import make_table  # noqa: E402


class PeakRSS:
    """The largest resident memory of this process and its children, sampled every 0.2 s in a thread: of the
    whole tree (``peak``), of this process alone (``own``) and of the largest child (``child``)."""

    def __init__(self) -> None:
        self.peak = self.own = self.child = 0
        self.trace: list[tuple[float, int, int]] = []  # (seconds, this process, all children) per sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        me, t0 = psutil.Process(), time.time()
        while not self._stop.is_set():
            try:
                own = me.memory_info().rss
                kids = [c.memory_info().rss for c in me.children(recursive=True)]
            except psutil.Error:
                own, kids = 0, []
            self.peak = max(self.peak, own + sum(kids))
            self.own, self.child = max(self.own, own), max([self.child, *kids])
            self.trace.append((time.time() - t0, own, sum(kids)))
            self._stop.wait(0.2)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-budget", type=float, default=60.0)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--path", default=None, help="run directory (default: a temporary one)")
    ap.add_argument("--trace", default=None, help="write the memory samples (seconds, MB of this process, MB of "
                    "its workers) to this CSV file")
    args = ap.parse_args(argv)
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    import forgeml

    df = make_table(args.rows, args.seed)
    table_mb = df.memory_usage(deep=True).sum() / 2**20
    train, test = train_test_split(df, test_size=0.25, random_state=args.seed, stratify=df["target"])
    del df
    path = args.path or tempfile.mkdtemp(prefix="forgeml-large-")
    before = psutil.Process().memory_info().rss / 2**20
    model = forgeml.AutoML(time_budget=args.time_budget, seed=args.seed, verbose=0, knowledge=None, path=path)
    with PeakRSS() as peak:
        start = time.time()
        model.fit(train, target="target")
        wall = time.time() - start
    if args.trace:
        with open(args.trace, "w") as fh:
            fh.write("seconds,fitting_process_mb,workers_mb\n")
            fh.writelines(f"{t:.1f},{a / 2**20:.0f},{b / 2**20:.0f}\n" for t, a, b in peak.trace)
    proba = np.asarray(model.predict_proba(test.drop(columns=["target"])))
    auc = roc_auc_score(test["target"] == "yes", proba[:, list(model.classes_).index("yes")])
    print(f"rows {args.rows:,}, budget {args.time_budget:g} s: fit wall {wall:.1f} s ({wall / args.time_budget:.2f}x), "
          f"test ROC AUC {auc:.4f}, table {table_mb:.0f} MB, peak RSS of the process tree {peak.peak / 2**20:.0f} MB "
          f"(this process before the fit: {before:.0f} MB; added by the fit {peak.peak / 2**20 - before:.0f} MB = "
          f"{(peak.peak / 2**20 - before) / table_mb:.1f}x the table; this process's peak {peak.own / 2**20:.0f} MB, "
          f"the largest worker's {peak.child / 2**20:.0f} MB), trials {len(model.trials())}, model "
          f"{model.best_pipeline_}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
