"""Write the synthetic large table of issue 21: by default 1,000,000 rows x 50 feature columns (35 numeric, some
skewed, 15 categorical of 3 to 2,000 levels, missing values in both) and a binary target that depends on
numbers, categories and an interaction, with label noise, so more data and more time can keep paying.

    python scripts/make_large_table.py --out /tmp/large.parquet [--rows 1000000] [--seed 0]

Categorical columns are written as pandas ``category`` (Parquet dictionaries), the form that avoids copies.
"""
from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import pandas as pd

N_NUMERIC, N_CATEGORICAL = 35, 15


def make_table(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray | pd.Categorical] = {}
    X = rng.normal(size=(rows, N_NUMERIC)).astype(np.float32)
    X[:, 5:10] = np.exp(X[:, 5:10])  # skewed, as incomes and counts are
    levels = np.geomspace(3, 2000, N_CATEGORICAL).astype(int)
    codes = [rng.integers(0, k, size=rows) for k in levels]
    effects = [rng.normal(0, 0.6, size=k) for k in levels]
    logit = (0.8 * X[:, 0] - 0.6 * X[:, 1] + 0.5 * X[:, 2] * X[:, 3] + 0.4 * np.sin(2 * X[:, 4])
             + 0.3 * np.log1p(X[:, 5]) - 0.25 * (X[:, 6] > 2.0))
    for j in range(4):  # the first categories matter, one high-cardinality one included
        logit = logit + effects[j][codes[j]]
    logit = logit + effects[N_CATEGORICAL - 1][codes[N_CATEGORICAL - 1]] * 0.8
    y = rng.random(rows) < 1 / (1 + np.exp(-(logit - np.median(logit))))
    for i in range(N_NUMERIC):
        col = X[:, i].copy()
        col[rng.random(rows) < (0.05 if i % 3 == 0 else 0.0)] = np.nan
        cols[f"num{i:02d}"] = col
    for j, k in enumerate(levels):
        c = codes[j].copy()
        c[rng.random(rows) < 0.02] = -1  # missing
        cols[f"cat{j:02d}"] = pd.Categorical.from_codes(c, categories=[f"c{j}_{v}" for v in range(k)])
    cols["target"] = np.where(y, "yes", "no")
    return pd.DataFrame(cols)



def training_frame(rows: int, seed: int = 0) -> tuple[Any, pd.DataFrame, np.ndarray]:
    """``(schema, X, y)`` of the table as a run holds it (categoricals as ``category`` codes): what the memory
    scripts measure one trial on."""
    from forgeml.data.infer import infer_schema
    from forgeml.data.validate import align_for_predict, compact_categoricals

    df = make_table(rows, seed)
    schema = infer_schema(df, "target", task="binary")
    X = compact_categoricals(schema, align_for_predict(schema, df.drop(columns=["target"]), keep_categories=True))
    return schema, X, (df["target"] == "yes").to_numpy().astype(int)

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    df = make_table(args.rows, args.seed)
    df.to_parquet(args.out, index=False)
    mb = df.memory_usage(deep=True).sum() / 2**20
    print(f"{args.out}: {len(df):,} rows x {df.shape[1] - 1} features, {mb:.0f} MB in memory, "
          f"{(df['target'] == 'yes').mean():.1%} yes")


if __name__ == "__main__":
    main()
