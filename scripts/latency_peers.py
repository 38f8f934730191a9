"""Predict latency of one system after a fit, the same way for forgeml, FLAML and AutoGluon (issue 21's table).

    python scripts/latency_peers.py --system forgeml --only fair,benefits --budget 30 [--save DIR]
    /tmp/peers/flaml/bin/python scripts/latency_peers.py --system flaml --only fair,benefits --budget 30

Each system is fitted as ``../shared/bench/run_peer.py`` fits it (the same stratified 75 % split, seed 0, the same
encoding for FLAML), on 2 cores, then timed on the held-out quarter: the median of 50 one-row ``predict_proba``
calls (after 5 unrecorded ones) and of 5 calls on 10,000 rows drawn from it with replacement. Run it with each
system's own Python (the benchmark's peer environments); it prints one JSON line per dataset.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[2] / "shared"
sys.path.insert(0, str(SHARED / "bench"))
from run_peer import encode_for_sklearn, split  # noqa: E402  (the benchmark's own split and encoding)


def fitted(system: str, train: pd.DataFrame, target: str, task: str, budget: float, workdir: str):
    """The fitted model and the held-out rows as that system predicts from them."""
    if system == "forgeml":
        import forgeml

        m = forgeml.AutoML(time_budget=budget, seed=0, task=task, verbose=0).fit(train, target=target)
        return m, (lambda X: X)
    if system == "flaml":
        from flaml import AutoML

        m = AutoML()
        Xtr, _ = encode_for_sklearn(train, train.iloc[:1], target)
        m.fit(Xtr, train[target], task="classification", time_budget=budget, n_jobs=2, seed=0, verbose=0,
              log_file_name=os.path.join(workdir, "flaml.log"))
        return m, (lambda X: encode_for_sklearn(train, X.assign(**{target: train[target].iloc[0]}), target)[1])
    if system == "autogluon":
        from autogluon.tabular import TabularPredictor

        m = TabularPredictor(label=target, problem_type=task, path=os.path.join(workdir, "ag"), verbosity=0)
        m.fit(train, time_limit=budget, presets="medium_quality", num_cpus=2, num_gpus=0)
        return m, (lambda X: X)
    raise SystemExit(f"unknown system {system}")


def median_ms(call, inputs) -> float:
    times = []
    for x in inputs:
        t = time.perf_counter()
        call(x)
        times.append(time.perf_counter() - t)
    return round(float(np.median(times)) * 1000, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--system", required=True, choices=["forgeml", "flaml", "autogluon"])
    ap.add_argument("--only", required=True, help="comma-separated binary or multiclass datasets")
    ap.add_argument("--budget", type=float, default=30.0)
    ap.add_argument("--save", metavar="DIR", help="forgeml only: save each fitted model to DIR/<dataset> (fresh "
                    "fits differ; `scripts/latency_saved.py NAME=DIR/NAME` times a saved one again)")
    args = ap.parse_args()
    if args.save and args.system != "forgeml":
        raise SystemExit("--save keeps forgeml models only")
    manifest = {d["name"]: d for d in json.loads((SHARED / "datasets" / "manifest.json").read_text())["datasets"]}
    for name in args.only.split(","):
        m = manifest[name]
        df = pd.read_parquet(SHARED / "datasets" / m["file"])
        train, test = split(df, m["target"], m["task"], 0)
        with tempfile.TemporaryDirectory() as workdir:
            start = time.perf_counter()
            model, prepare = fitted(args.system, train, m["target"], m["task"], args.budget, workdir)
            fit_s = time.perf_counter() - start
            if args.save:
                model.save(str(Path(args.save) / name))
            X = prepare(test.drop(columns=[m["target"]]))
            rows = [X.iloc[[i % len(X)]] for i in range(55)]
            batch = X.sample(10_000, replace=True, random_state=0)
            for first in [batch, *rows[:5]]:  # first calls: lazy loading and caches, not timed
                model.predict_proba(first)
            one = median_ms(model.predict_proba, rows[5:])
            many = median_ms(model.predict_proba, [batch] * 5)
        print(json.dumps({"system": args.system, "dataset": name, "fit_s": round(fit_s, 1), "one_row_ms": one,
                          "rows_10k_ms": many, "rows": len(df)}), flush=True)


if __name__ == "__main__":
    main()
