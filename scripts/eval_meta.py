"""Leave one dataset out: warm-started runs (portfolio + knowledge base built without the dataset) against cold
ones, at the same budget, on each dataset's test rows (docs/meta.md).

    python scripts/build_portfolio.py --suite ../shared/datasets --runs bench-out/runs --out portfolio-build
    python scripts/eval_meta.py --suite ../shared/datasets --runs bench-out/runs --out portfolio-build --time-budget 30

Writes OUT/loo.csv (one row per dataset and seed, resumable) and OUT/loo.md (the table and the summary).
"""
from __future__ import annotations

import argparse
import sys

from forgeml.bench.meta import leave_one_out, summarize_loo


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", required=True, help="the suite's manifest.json, or its folder")
    ap.add_argument("--runs", required=True, help="the run directories of `forgeml bench` (OUT/runs)")
    ap.add_argument("--out", required=True, help="the folder of scripts/build_portfolio.py (candidates, matrix)")
    ap.add_argument("--time-budget", type=float, default=30.0)
    ap.add_argument("--size", type=int, default=8, help="portfolio members (default 8)")
    ap.add_argument("--only", default=None, help="comma-separated dataset names")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds: one 75/25 split and run seed each "
                    "(default 0); the table shows the mean over seeds")
    a = ap.parse_args()
    only = [s.strip() for s in a.only.split(",")] if a.only else None
    frame = leave_one_out(a.suite, a.runs, a.out, time_budget=a.time_budget,
                          seeds=tuple(int(s) for s in a.seeds.split(",")), size=a.size, only=only)
    print(summarize_loo(frame))
    return 0


if __name__ == "__main__":
    sys.exit(main())
