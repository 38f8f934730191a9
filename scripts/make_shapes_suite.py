"""Write six synthetic tables of shapes ``../shared/datasets`` lacks, as a suite for ``run_suite.py``: a measure on
tables the search was not tuned on (issue 21 asks for one).

    python scripts/make_shapes_suite.py --out /tmp/shapes
    python ../shared/bench/run_suite.py --manifest /tmp/shapes/manifest.json --budget 60 --out DIR --system ...

- ``wide``: 1,500 rows x 2,000 numeric columns, 30 of them informative (binary);
- ``manyclass``: 10,000 rows x 20 columns, 30 classes (string labels);
- ``mixed``: 20,000 rows with a date, a 3,000-level city, a short text, digit-string codes and missing numbers
  (binary; the target reads the weekday, a word of the text and two numbers);
- ``friedman``: Friedman #1, 200,000 rows x 10 columns (regression, above the multi-fidelity threshold);
- ``imbalanced``: 30,000 rows x 25 columns, 1 % positives (binary);
- ``smallcat``: 400 rows, two categorical columns with effects, a missing price, a quadratic age (regression).

Everything is seeded: the same files on every machine.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification, make_friedman1


def wide() -> pd.DataFrame:
    X, y = make_classification(1500, 2000, n_informative=30, random_state=0)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]).assign(y=y)


def manyclass() -> pd.DataFrame:
    X, y = make_classification(10000, 20, n_informative=15, n_classes=30, n_clusters_per_class=1, random_state=0)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(20)]).assign(y=[f"c{v}" for v in y])


def mixed() -> pd.DataFrame:
    r = np.random.default_rng(0)
    n = 20000
    words = np.array("red green blue fast slow cheap costly new old big small".split())
    df = pd.DataFrame({
        "when": pd.Timestamp("2020-01-01") + pd.to_timedelta(r.integers(0, 1500, n), unit="D"),
        "city": r.choice([f"city{i}" for i in range(3000)], n),
        "text": [" ".join(r.choice(words, 6)) for _ in range(n)],
        "a": r.normal(size=n), "b": r.exponential(size=n), "code": r.integers(10000, 99999, n).astype(str)})
    df.loc[r.random(n) < 0.1, "a"] = np.nan
    logit = (df["a"].fillna(0) + np.log1p(df["b"]) + (df["when"].dt.dayofweek >= 5)
             + df["text"].str.contains("fast"))
    return df.assign(y=(logit + r.normal(size=n) > 1.5).astype(int))


def friedman() -> pd.DataFrame:
    X, y = make_friedman1(200000, 10, noise=1.0, random_state=0)
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(10)]).assign(y=y)


def imbalanced() -> pd.DataFrame:
    X, y = make_classification(30000, 25, weights=[0.99], random_state=0)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(25)]).assign(y=y)


def smallcat() -> pd.DataFrame:
    r = np.random.default_rng(2)
    n = 400
    df = pd.DataFrame({"shop": r.choice(list("ABCDEFGH"), n), "size": r.choice(["S", "M", "L"], n),
                       "price": r.gamma(2, 10, n), "age": r.integers(18, 80, n).astype(float)})
    df.loc[r.random(n) < 0.05, "price"] = np.nan
    effect = dict(zip("ABCDEFGH", r.normal(0, 3, 8)))
    y = (df["shop"].map(effect) + df["size"].map({"S": 0, "M": 2, "L": 5}) + 0.1 * df["price"].fillna(20)
         + 0.002 * (df["age"] - 50) ** 2 + r.normal(0, 1.5, n))
    return df.assign(y=y)


TABLES = {"wide": (wide, "binary"), "manyclass": (manyclass, "multiclass"), "mixed": (mixed, "binary"),
          "friedman": (friedman, "regression"), "imbalanced": (imbalanced, "binary"),
          "smallcat": (smallcat, "regression")}


def write_suite(out: Path, only: list[str] | None = None) -> Path:
    """The tables as Parquet files in ``out`` and their ``manifest.json`` (the shape ``run_suite.py`` reads)."""
    unknown = sorted(set(only or ()) - set(TABLES))
    if unknown:
        raise SystemExit(f"unknown table(s): {', '.join(unknown)}; choose from {', '.join(TABLES)}")
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, (make, task) in TABLES.items():
        if only and name not in only:
            continue
        df = make()
        df.to_parquet(out / f"{name}.parquet")
        entries.append({"name": name, "file": f"{name}.parquet", "target": "y", "task": task, "rows": len(df),
                        "cols": df.shape[1] - 1, "kind": "tabular", "source": "scripts/make_shapes_suite.py"})
    path = out / "manifest.json"
    path.write_text(json.dumps({"datasets": entries}, indent=1))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--only", default="", help="comma-separated names (default: all six)")
    a = ap.parse_args()
    print(write_suite(a.out, [s for s in a.only.split(",") if s] or None))


if __name__ == "__main__":
    main()
