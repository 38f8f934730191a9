"""`forgeml bench-predict`: fits on three quarters of a real table, times one-row and batch predictions, and
checks that the fast predict path gives exactly the plain path's predictions."""
import math

import pandas as pd
import pytest
from tests.conftest import SHARED

from forgeml.cli.main import main


@pytest.mark.slow
def test_bench_predict_times_both_paths_and_they_agree(capsys):
    data = SHARED / "benefits.parquet"  # categorical, yes/no and numeric columns
    code = main(["bench-predict", str(data), "--target", "ui", "--time-budget", "8", "--single", "5",
                 "--batches", "2", "--rows", "2000"])
    assert code == 0
    out = capsys.readouterr().out
    n = len(pd.read_parquet(data))
    header, row = out.splitlines()[:2]
    table = dict(zip(header.split(), row.split()))
    assert table["identical"] == "True"
    assert table["batch_rows"] == "2000" and table["train_rows"] == str(n - math.ceil(n / 4))
    for key in ("single_ms", "batch_ms", "plain_single_ms", "plain_batch_ms"):
        assert 0.0 < float(table[key]) < 60_000.0
    assert "model: FittedPipeline(" in out
