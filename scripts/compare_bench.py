"""Compare forgeml across `forgeml bench` outputs of the same suite, split and budget (for example feature
engineering on against off, docs/benchmarks.md): per dataset the test score of each arm, which is better, and the
mean normalised score (0 = the constant predictor, 1 = the best arm on that dataset).

    python scripts/compare_bench.py fe-off fe-on [more ...] [--names off,on]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from forgeml.bench.runner import HEADLINE


def compare(outs: list[Path], names: list[str]) -> tuple[pd.DataFrame, str]:
    frames = {n: pd.read_csv(o / "results.csv") for n, o in zip(names, outs)}
    rows = []
    first = frames[names[0]]
    for ds in first.dataset.drop_duplicates():
        row: dict = {"dataset": ds}
        for n, f in frames.items():
            g = f[f.dataset == ds].set_index("system")
            if "forgeml" not in g.index or "constant" not in g.index:
                break
            row["task"], row["metric"] = g.loc["forgeml", "task"], g.loc["forgeml", "metric"]
            row["constant"] = float(g.loc["constant", "test_score"])
            row[n] = float(g.loc["forgeml", "test_score"])
            row[f"trials_{n}"] = g.loc["forgeml"].get("n_trials")
            row[f"wall_{n}"] = float(g.loc["forgeml", "wall_over_budget"])
        else:
            rows.append(row)
    table = pd.DataFrame(rows)
    for i, r in table.iterrows():
        higher = HEADLINE[r["task"]][1]
        scores = {n: r[n] for n in names}
        best = max(scores.values()) if higher else min(scores.values())
        span = best - r["constant"]
        for n in names:
            table.loc[i, f"norm_{n}"] = (scores[n] - r["constant"]) / span if span else 1.0
        top = [n for n in names if scores[n] == best]
        table.loc[i, "better"] = "tie" if len(top) == len(names) else ",".join(top)
    lines = ["| dataset | task | metric | " + " | ".join(names) + " | better | trials " + " / ".join(names) + " |",
             "|---|---|---|" + "---|" * len(names) + "---|---|"]
    for _, r in table.iterrows():
        lines.append(f"| {r['dataset']} | {r['task']} | {r['metric']} | "
                     + " | ".join(f"{r[n]:.4f}" for n in names) + f" | {r['better']} | "
                     + " / ".join(str(int(r[f'trials_{n}'])) if pd.notna(r[f'trials_{n}']) else "-" for n in names)
                     + " |")
    lines.append("")
    for n in names:
        wins = int((table["better"] == n).sum())
        lines.append(f"- {n}: better on {wins}, mean norm {table[f'norm_{n}'].mean():.4f}, "
                     f"trials {int(pd.to_numeric(table[f'trials_{n}']).sum())}, "
                     f"max wall/budget {table[f'wall_{n}'].max():.2f}")
    lines.append(f"- tie: {int((table['better'] == 'tie').sum())} of {len(table)} datasets")
    return table, "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outs", nargs="+", help="OUT folders of `forgeml bench` (each holds results.csv)")
    ap.add_argument("--names", default=None, help="comma-separated arm names (default: the folder names)")
    a = ap.parse_args()
    outs = [Path(o) for o in a.outs]
    names = a.names.split(",") if a.names else [o.name for o in outs]
    if len(names) != len(outs) or len(outs) < 2:
        ap.error("give at least two OUT folders and one name per folder")
    _, text = compare(outs, names)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
