"""Time saved models: median of 300 one-row predictions and of 7 batches of 10,000 rows, on the held-out quarter.

    python scripts/latency_saved.py hdma=runs/hdma benefits=runs/benefits

Each NAME is a dataset of ../shared/datasets (``NAME@TAG`` for another model of the same one), each PATH a model
saved by a fit on its stratified 75 % (split seed 0, the held-out rows are the other 25 %). Run it with two
versions of forgeml on ``PYTHONPATH``, alternating, to compare predict paths on the same models (``forgeml
bench-predict`` fits a new model each time).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

import forgeml

SUITE = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def main(args: list[str]) -> None:
    manifest = {d["name"]: d for d in json.loads((SUITE / "manifest.json").read_text())["datasets"]}
    out = {}
    for arg in args:
        key, path = arg.split("=", 1)
        name = key.split("@")[0]  # NAME@TAG: another saved model of the same dataset
        m = manifest[name]
        df = pd.read_parquet(SUITE / m["file"])
        y = df[m["target"]]
        _, test = train_test_split(df, test_size=0.25, random_state=0,
                                   stratify=y if m["task"] != "regression" else None)
        model = forgeml.load(path)
        X = test.drop(columns=[m["target"]])
        predict = model.predict_proba if m["task"] != "regression" else model.predict
        rows = [X.iloc[[i % len(X)]] for i in range(300)]
        for r in rows[:20]:  # warm-up
            predict(r)
        one = []
        for r in rows:
            t = time.perf_counter()
            predict(r)
            one.append(time.perf_counter() - t)
        big = X.sample(10_000, replace=True, random_state=0)
        batch = []
        for _ in range(7):
            t = time.perf_counter()
            predict(big)
            batch.append(time.perf_counter() - t)
        out[key] = {"one_row_ms": round(float(np.median(one)) * 1000, 2),
                     "rows_10k_ms": round(float(np.median(batch)) * 1000, 1)}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
