"""The second run on similar data: how much sooner a run with a knowledge base reaches a cold run's result.

    python scripts/second_run.py --suite ../shared/datasets --only chile,computers,benefits --out second-run

Per dataset: a knowledge base learns one half of its training rows; on the other half, a cold run and a run with
that knowledge base each get the same budget. Prints when each first reached the cold run's final best CV score.
"""
from __future__ import annotations

import argparse
import sys

from forgeml.bench.meta import second_run
from forgeml.bench.suite import read_suite


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", required=True)
    ap.add_argument("--only", required=True, help="comma-separated dataset names")
    ap.add_argument("--out", required=True)
    ap.add_argument("--time-budget", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    datasets, root = read_suite(a.suite)
    names = [s.strip() for s in a.only.split(",")]
    print("| dataset | metric | cold final | cold reached it at | second run reached it at | second/cold "
          "| within 1 SE: cold / second | first run final: first / second |")
    print("|---|---|---|---|---|---|---|---|")

    def sec(v):
        return f"{v:.1f} s" if v is not None else "not reached"

    def ratio(a, b):
        return f"{b / a:.2f}" if a and b is not None else "n/a"

    for e in (d for d in datasets if d["name"] in names):
        r = second_run(e, root, a.out, time_budget=a.time_budget, seed=a.seed)
        c, s = r["cold_reached_s"], r["second_reached_s"]
        c1, s1 = r["cold_reached_1se_s"], r["second_reached_1se_s"]
        f, sf = r.get("first_reached_s"), r.get("second_reached_first_s")
        print(f"| {e['name']} | {r['metric']} | {r['cold_final']:.4f} | {sec(c)} | {sec(s)} | {ratio(c, s)} "
              f"| {sec(c1)} / {sec(s1)} ({ratio(c1, s1)}) | {sec(f)} / {sec(sf)} ({ratio(f, sf)}) |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
