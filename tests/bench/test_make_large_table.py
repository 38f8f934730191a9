"""The synthetic large table's script (issue 21), at a small size: its columns, types, missing values, and a
target a model can learn from the numbers, the categories and the interaction."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_large_table.py"


def test_the_script_writes_a_learnable_table_of_numbers_and_categories_with_missing_values(tmp_path):
    out = tmp_path / "large.parquet"
    run = subprocess.run([sys.executable, str(SCRIPT), "--rows", "20000", "--out", str(out)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "20,000 rows x 50 features" in run.stdout
    df = pd.read_parquet(out)
    assert df.shape == (20_000, 51)
    cats = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)]
    assert len(cats) == 15 and df[cats[-1]].nunique() > 1000  # one high-cardinality column
    assert df["num00"].isna().mean() > 0.02 and df["cat00"].isna().mean() > 0.01
    assert 0.3 < (df["target"] == "yes").mean() < 0.7
    out2 = tmp_path / "again.parquet"  # the same seed writes the same table
    subprocess.run([sys.executable, str(SCRIPT), "--rows", "20000", "--out", str(out2)], check=True, timeout=120,
                   capture_output=True)
    pd.testing.assert_frame_equal(df, pd.read_parquet(out2))
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    X = df.drop(columns="target").copy()
    for c in cats:
        X[c] = X[c].cat.codes.replace(-1, np.nan)
    y = (df["target"] == "yes").to_numpy()
    model = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(X[:15000], y[:15000])
    assert roc_auc_score(y[15000:], model.predict_proba(X[15000:])[:, 1]) > 0.7


def test_the_large_table_benchmark_fits_scores_and_reports_wall_time_and_memory(tmp_path):
    script = SCRIPT.parent / "bench_large.py"
    run = subprocess.run([sys.executable, str(script), "--rows", "4000", "--time-budget", "12", "--path",
                          str(tmp_path / "run")], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    line = run.stdout.strip().splitlines()[-1]
    assert line.startswith("rows 4,000, budget 12 s: fit wall ")
    auc = float(line.split("test ROC AUC ")[1].split(",")[0])
    assert 0.6 < auc <= 1.0  # a learnable table: far better than chance
    assert float(line.split("fit wall ")[1].split(" s")[0]) > 0  # (the budget itself is tested in tests/e2e)
    peak = float(line.split("peak RSS of the process tree ")[1].split(" MB")[0])
    assert peak > 50  # the process tree was measured
    assert (tmp_path / "run" / "forgeml.db").exists()
