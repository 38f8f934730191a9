"""Peak memory of one LightGBM fit on the preprocessed large table, in this process: forgeml's float32 matrix
against LightGBM's own pandas path (``--path pandas``), what issue 21's memory work measures one trial by.

    python scripts/mem_lightgbm.py --path matrix [--rows 600000] [--trees 50]

Run each path in its own process (the peak is the process's, Linux only). Prints the preprocessed frame's size,
the peak resident memory above it during the fit, the fit's seconds and the first predictions (equal on both
paths when the numbers are float32-exact; close otherwise).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_large_table import training_frame  # noqa: E402


def _status(field: str) -> float:
    with open("/proc/self/status") as fh:
        return int(fh.read().split(f"{field}:")[1].split()[0]) / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", choices=("matrix", "pandas"), default="matrix")
    ap.add_argument("--rows", type=int, default=600_000)
    ap.add_argument("--trees", type=int, default=50)
    args = ap.parse_args(argv)
    import gc

    from forgeml.features.preprocess import Preprocessor
    from forgeml.models._lgbm import LGBMClassifier

    schema, X, y = training_frame(args.rows, 0)
    Xt = Preprocessor.from_schema(schema, {"cat_encoding": "native", "impute": "none"}).fit_transform(X, y)
    del X
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:  # reset the peak (VmHWM) to what is resident now
        fh.write("5")
    base = _status("VmRSS")
    model = LGBMClassifier(n_estimators=args.trees, n_jobs=1, verbose=-1)
    start = time.time()
    model.fit(Xt, y, **({"categorical_feature": "auto"} if args.path == "pandas" else {}))
    seconds = time.time() - start
    peak = _status("VmHWM") - base
    first = model.predict_proba(Xt.iloc[:3])[:, 1].round(6).tolist()
    print(f"{args.path}: {args.rows:,} rows, preprocessed frame {Xt.memory_usage(deep=True).sum() / 2**20:.0f} MB, "
          f"fit peak above it {peak:.0f} MB, fit {seconds:.1f} s, first predictions {first}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
