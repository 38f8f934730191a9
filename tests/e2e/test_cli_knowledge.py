"""`forgeml fit --knowledge PATH / --no-knowledge` and `forgeml knowledge PATH`."""
import subprocess
import sys

import numpy as np
import pandas as pd

from forgeml.cli.main import _automl, build_parser

CLI = [sys.executable, "-m", "forgeml.cli.main"]


def _knowledge_of(*flags):
    a = build_parser().parse_args(["fit", "data.csv", "--target", "y", "--out", "o", *flags])
    return _automl(a, a.out).knowledge


def test_knowledge_options_reach_automl():
    assert _knowledge_of() == "auto"
    assert _knowledge_of("--knowledge", "kb.db") == "kb.db"
    assert _knowledge_of("--no-knowledge") is None


def test_a_fit_is_remembered_and_summarised(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    df["y"] = df["a"] * 2 + rng.normal(size=200)
    df.to_csv(tmp_path / "train.csv", index=False)
    kb = str(tmp_path / "kb.db")
    empty = subprocess.run([*CLI, "knowledge", kb], capture_output=True, text=True, timeout=120)
    assert empty.returncode == 1 and "no knowledge base" in empty.stdout
    fit = subprocess.run([*CLI, "fit", str(tmp_path / "train.csv"), "--target", "y", "--out", str(tmp_path / "run"),
                          "--max-trials", "3", "--families", "linear", "--n-jobs", "1", "--verbose", "0",
                          "--knowledge", kb], capture_output=True, text=True, timeout=300)
    assert fit.returncode == 0, fit.stderr[-3000:]
    out = subprocess.run([*CLI, "knowledge", kb], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "1 runs on 1 datasets" in out.stdout and "y (200 rows x 2 columns)" in out.stdout and "rmse" in out.stdout
