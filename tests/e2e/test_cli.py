"""The command line, run as a user would: real processes, real files."""
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from tests.conftest import shared_dataset

import forgeml

CLI = [sys.executable, "-m", "forgeml.cli.main"]


def run(*args, timeout=300, check=True):
    p = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, p.stderr[-3000:]
    return p


@pytest.fixture(scope="module")
def csv_data(tmp_path_factory):
    df, entry = shared_dataset("seattle_weather")  # a datetime column and a multiclass target
    d = tmp_path_factory.mktemp("cli")
    train, test = df.iloc[:1100], df.iloc[1100:]
    train.to_csv(d / "train.csv", index=False)
    test.drop(columns=[entry["target"]]).to_csv(d / "test.csv", index=False)
    return d, entry["target"]


@pytest.mark.slow
def test_fit_predict_leaderboard_trials(csv_data):
    d, target = csv_data
    out = d / "run"
    run("fit", d / "train.csv", "--target", target, "--time-budget", 40, "--max-trials", 4,
        "--families", "lightgbm,linear", "--out", out, "--verbose", 0)
    p = run("predict", out, d / "test.csv", "--out", d / "preds.csv")
    preds = pd.read_csv(d / "preds.csv")
    assert len(preds) == 361 and set(preds[target]) <= {"drizzle", "fog", "rain", "snow", "sun"}
    run("predict", out, d / "test.csv", "--proba", "--out", d / "proba.csv")
    proba = pd.read_csv(d / "proba.csv")
    assert sorted(proba.columns) == ["drizzle", "fog", "rain", "snow", "sun"]
    assert ((proba.sum(axis=1) - 1).abs() < 1e-6).all()
    p = run("leaderboard", out)
    assert "cv_log_loss" in p.stdout and "lightgbm" in p.stdout
    p = run("trials", out)
    assert "complete" in p.stdout
    p = run("runs", out)
    assert "complete" in p.stdout


def test_errors_are_one_line_not_tracebacks(tmp_path, csv_data):
    d, target = csv_data
    p = run("fit", tmp_path / "missing.csv", "--target", "y", "--out", tmp_path / "o", check=False)
    assert p.returncode == 2 and p.stderr.startswith("error:") and "Traceback" not in p.stderr
    p = run("fit", d / "train.csv", "--target", "nope", "--out", tmp_path / "o", check=False)
    assert p.returncode == 2 and "nope" in p.stderr and "Traceback" not in p.stderr
    (tmp_path / "garbage.parquet").write_bytes(b"\x00\x01not a parquet file")
    p = run("fit", tmp_path / "garbage.parquet", "--target", "y", "--out", tmp_path / "o", check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    p = run("predict", tmp_path / "no-model", d / "test.csv", check=False)
    assert p.returncode == 2 and "no model directory" in p.stderr


@pytest.mark.slow
def test_demo_runs_on_embedded_data():
    p = run("demo", "--time-budget", 15, timeout=120)
    assert "Leaderboard" in p.stdout and "Held-out roc_auc" in p.stdout


@pytest.mark.slow
def test_sigkill_then_resume_loses_and_repeats_nothing(tmp_path):
    df, entry = shared_dataset("hdma")
    data = tmp_path / "hdma.parquet"
    df.to_parquet(data)
    out = tmp_path / "run"
    args = ["fit", data, "--target", entry["target"], "--out", out, "--time-budget", 60, "--verbose", 0,
            "--families", "lightgbm,linear,random_forest"]
    proc = subprocess.Popen([*CLI, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    before = None
    while time.time() < deadline:
        time.sleep(0.5)
        if (out / "forgeml.db").exists():
            try:
                t = forgeml.trials(str(out))
            except Exception:
                continue
            if (t["status"] == "complete").sum() >= 3:
                before = t
                break
    assert before is not None, "the fit never completed 3 trials"
    os.killpg(proc.pid, signal.SIGKILL)  # the fit and its workers, as a crash or `kill -9` would
    proc.wait()
    done_before = before[before.status == "complete"].set_index("trial_id")
    run(*args, "--resume", timeout=200)
    after = forgeml.trials(str(out))
    assert after["trial_id"].is_unique
    for tid, row in done_before.iterrows():
        got = after.set_index("trial_id").loc[tid]
        assert got["status"] == "complete" and got["score"] == pytest.approx(row["score"])
    cv = after[(after.kind == "cv") & (after.status == "complete")]
    keys = cv["config"].map(lambda c: tuple(sorted(c.items())))
    assert keys.is_unique, "a completed configuration was evaluated again after resume"
    assert len(cv) > len(done_before)
    model = forgeml.load(str(out))
    assert len(model.predict(df.drop(columns=[entry["target"]]).head(20))) == 20


def test_strategies_lists_every_strategy_with_its_options():
    from forgeml.search import SEARCHERS

    out = run("strategies").stdout
    for name in SEARCHERS.names():
        assert f"\n  {name}" in out
    assert "resource='rows'" in out and "population_size=8" in out and "levels=3" in out
    assert "lightgbm" in out and "``" not in out
