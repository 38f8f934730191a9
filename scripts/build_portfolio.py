"""Build forgeml's zero-shot portfolio from benchmark runs (docs/meta.md).

    forgeml bench --suite ../shared/datasets --out bench-out          # one run per dataset, kept in bench-out/runs
    python scripts/build_portfolio.py --suite ../shared/datasets --runs bench-out/runs --out portfolio-build --install

Takes the best configuration of each dataset's run, cross-validates every one on every dataset's training rows
(the benchmark's 75 % split: no test row is seen), and grows the portfolio greedily (``forgeml.meta.portfolio``),
crediting a candidate on a dataset only for beating the best of the families' defaults in that dataset's run.
``--install`` writes it to src/forgeml/meta/portfolio.json, the portfolio a cold run tries first.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from forgeml.bench.meta import build_portfolio, candidates, default_scores, score_matrix
from forgeml.bench.suite import read_suite
from forgeml.meta import portfolio as pf


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", required=True, help="the suite's manifest.json, or its folder")
    ap.add_argument("--runs", required=True, help="the run directories of `forgeml bench` (OUT/runs)")
    ap.add_argument("--out", required=True, help="folder for candidates.json, matrix.csv and portfolio.json")
    ap.add_argument("--size", type=int, default=8, help="portfolio members (default 8)")
    ap.add_argument("--per-dataset", type=int, default=1, help="candidates taken from each dataset's run")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per candidate and dataset (default 30)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--install", action="store_true", help="also write src/forgeml/meta/portfolio.json")
    a = ap.parse_args()
    datasets, root = read_suite(a.suite)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    cpath = out / "candidates.json"
    cands = candidates(a.runs, datasets, per_dataset=a.per_dataset, root=root, seed=a.seed)
    if cpath.exists():  # resuming: the matrix rows refer to these candidates by position
        kept = json.loads(cpath.read_text())
        same = [c["config"] for c in kept] == [json.loads(json.dumps(c["config"], default=str)) for c in cands]
        if not same:
            ap.error(f"{cpath} was built from other runs than --runs {a.runs}: use another --out")
        for old, new in zip(kept, cands):  # one built before costs were recorded gains them
            if "cost" in new:
                old.setdefault("cost", new["cost"])
        cands = kept
    cpath.write_text(json.dumps(cands, indent=1, default=str))
    print(f"{len(cands)} candidates from {len({c['dataset'] for c in cands})} datasets", flush=True)
    matrix = score_matrix(cands, datasets, root, out / "matrix.csv", seed=a.seed, timeout=a.timeout)
    zero = default_scores(out, datasets, root, a.runs, seed=a.seed)  # what the defaults get: the portfolio adds to it
    entries = build_portfolio(cands, matrix, size=a.size, zero=zero)
    command = "python scripts/build_portfolio.py " + " ".join(shlex.quote(x) for x in sys.argv[1:])
    built_from = sorted(matrix["dataset"].unique())
    pf.write(out / "portfolio.json", entries, built_from=built_from, command=command)
    for i, e in enumerate(entries, 1):
        print(f"{i}. {e['family']:<10} from {e['from']:<16} mean best-so-far norm {e['mean_norm']:.4f}")
    if a.install:
        pf.write(pf.SHIPPED, entries, built_from=built_from, command=command)
        print(f"installed: {pf.SHIPPED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
