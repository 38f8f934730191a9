"""The second run on similar data: how much sooner a run with a knowledge base reaches a cold run's result.

    python scripts/second_run.py --suite ../shared/datasets --only chile,computers,benefits --out second-run

Per dataset: a knowledge base learns one half of its training rows; on the other half, a cold run and a run with
that knowledge base each get the same budget. Prints when each first reached the cold run's final best CV score.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from forgeml.bench.meta import anytime, second_run
from forgeml.bench.suite import read_suite


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", required=True)
    ap.add_argument("--only", required=True, help="comma-separated dataset names")
    ap.add_argument("--out", required=True)
    ap.add_argument("--time-budget", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--curves", action="store_true",
                    help="print the best-so-far CV scores of OUT's finished runs at a few times (no new runs)")
    a = ap.parse_args()
    datasets, root = read_suite(a.suite)
    names = [s.strip() for s in a.only.split(",")]
    if a.curves:
        return curves(Path(a.out), names, a.time_budget)
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


def curves(out: Path, names: list[str], budget: float) -> int:
    """The anytime curves of the runs in ``out``: each arm's best CV score so far at a few times."""
    at = [t for t in (1, 2, 5, 10, 20) if t < budget] + [budget]
    print("| dataset | run | " + " | ".join(f"{t:g} s" for t in at) + " |")
    print("|---|---|" + "---|" * len(at))
    for name in names:
        path = out / f"{name}-second-run.json"
        if not path.exists():
            print(f"{name}: no {path}", file=sys.stderr)
            continue
        row = json.loads(path.read_text())
        for arm in ("cold", "second"):
            cells = ["-" if v is None else f"{v:.4f}" for v in anytime(row["curves"][arm], at)]
            print(f"| {name} | {arm} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
