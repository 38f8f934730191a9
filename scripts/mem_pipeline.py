"""Peak memory of one family's default pipeline on the large table, in this process: the preprocessing's peak
above the raw frame, then the model's peak above the preprocessed frame (issue 21's memory work, one trial).

    python scripts/mem_pipeline.py [--rows 750000] [--family linear] [--default 0]

Linux only (the peak is the process's ``VmHWM``, reset between the two steps). Prints the raw and preprocessed
frames' sizes, both peaks and their seconds.
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_large_table import training_frame  # noqa: E402


def _status(field: str) -> float:
    with open("/proc/self/status") as fh:
        return int(fh.read().split(f"{field}:")[1].split()[0]) / 1024


def _reset_peak() -> float:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return _status("VmRSS")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=750_000)
    ap.add_argument("--family", default="linear")
    ap.add_argument("--default", type=int, default=0, help="which of the family's defaults (0 = its first)")
    a = ap.parse_args(argv)

    from forgeml.models import get_families
    from forgeml.models.base import FitContext
    from forgeml.pipeline.builder import build_pipeline
    from forgeml.pipeline.joint import default_configs

    schema, X, y = training_frame(a.rows, 0)
    gc.collect()
    ctx = FitContext(task="binary", n_rows=len(X), n_features=X.shape[1], n_classes=2, seed=0, n_threads=1)
    fams = get_families([a.family], ctx)
    pipe = build_pipeline(default_configs(fams, schema, ctx)[a.default], schema, fams, ctx)
    base = _reset_peak()
    t0 = time.time()
    Xt = pipe.steps[0][1].fit_transform(X, y)
    prep_s, prep_peak = time.time() - t0, _status("VmHWM") - base
    after = _reset_peak()
    t0 = time.time()
    pipe.steps[-1][1].fit(Xt, y)
    fit_s, fit_peak = time.time() - t0, _status("VmHWM") - after
    raw_mb = X.memory_usage(deep=True).sum() / 2**20
    print(f"{a.family} default {a.default}, {a.rows:,} rows: raw frame {raw_mb:.0f} MB, "
          f"preprocessed {Xt.shape[1]} columns {Xt.memory_usage().sum() / 2**20:.0f} MB; preprocessing peak "
          f"{prep_peak:.0f} MB above the raw frame ({prep_s:.1f} s), model fit peak {fit_peak:.0f} MB above the "
          f"preprocessed frame ({fit_s:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
