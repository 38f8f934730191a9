"""The command line, run as a user would: real processes, real files."""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
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
    # no portfolio: its 1,700-tree LightGBM entry took half of this test's time (the portfolio has its own tests)
    run("fit", d / "train.csv", "--target", target, "--time-budget", 40, "--max-trials", 4,
        "--families", "lightgbm,linear", "--no-portfolio", "--out", out, "--verbose", 0)
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
    args = ["fit", data, "--target", entry["target"], "--out", out, "--time-budget", 24, "--verbose", 0,
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


# ------------------------------------------------------------------ the `forgeml` command itself, as a user runs it
SRC = os.path.dirname(os.path.dirname(os.path.abspath(forgeml.__file__)))
ENV = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
FAST = ["--max-trials", 2, "--families", "linear", "--n-jobs", 1, "--verbose", 0, "--no-ensemble"]


def forgeml_cmd(*args, check=True, timeout=300):
    exe = shutil.which("forgeml")
    assert exe, "the forgeml command is not installed (pip install -e .)"
    p = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=ENV)
    if check:
        assert p.returncode == 0, p.stderr[-3000:]
    return p


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A binary and a regression model fit by `forgeml fit`, and a table large enough to fill a pipe."""
    d = tmp_path_factory.mktemp("cmd")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=150), "b": rng.normal(size=150)})
    df.assign(target=(df.a + df.b > 0).astype(int)).to_csv(d / "cls.csv", index=False)
    df.assign(target=2 * df.a + rng.normal(size=150)).to_csv(d / "reg.csv", index=False)
    pd.DataFrame({"a": rng.normal(size=200_000), "b": rng.normal(size=200_000)}).to_csv(d / "big.csv", index=False)
    forgeml_cmd("fit", d / "cls.csv", "--target", "target", "--out", d / "cls", *FAST)
    forgeml_cmd("fit", d / "reg.csv", "--target", "target", "--out", d / "reg", *FAST)
    return d


def test_version():
    p = forgeml_cmd("--version")
    assert p.stdout.strip() == f"forgeml {forgeml.__version__}"


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_start_without_the_heavy_libraries(flag):
    """They answer at once: no scikit-learn, pandas or numpy import (seconds on a busy machine)."""
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "forgeml.cli.main", flag], capture_output=True,
                       text=True, timeout=120, env=ENV)
    assert p.returncode == 0, p.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in p.stderr.splitlines() if "|" in line}
    assert not imported & {"sklearn", "pandas", "numpy"}, sorted(imported & {"sklearn", "pandas", "numpy"})


def test_every_option_of_every_subcommand_has_help():
    from forgeml.cli.main import build_parser

    ap = build_parser()
    sub = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {'/'.join(a.option_strings) or a.dest}" for name, p in sub.choices.items()
               for a in p._actions if not isinstance(a, argparse._HelpAction) and not a.help]
    assert missing == []
    assert "replace a finished run" in forgeml_cmd("fit", "--help").stdout


@pytest.mark.slow
def test_predict_into_a_closed_pipe_ends_quietly(models):
    exe = shutil.which("forgeml")
    producer = subprocess.Popen([exe, "predict", models / "cls", models / "big.csv"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=ENV)
    head = subprocess.Popen(["head", "-1"], stdin=producer.stdout, stdout=subprocess.PIPE)
    producer.stdout.close()  # head alone holds the reading end: when it exits the pipe is closed
    first, _ = head.communicate(timeout=300)
    err = producer.stderr.read().decode()
    producer.stderr.close()
    assert producer.wait(timeout=300) == 0, err
    assert first.decode().strip() == "target"
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err


@pytest.mark.slow
def test_proba_on_a_regression_model_is_a_one_line_error(models):
    p = forgeml_cmd("predict", models / "reg", models / "reg.csv", "--proba", check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.startswith("error: --proba needs a classification model") and p.stderr.count("\n") == 1


@pytest.mark.slow
def test_top_is_honoured(models):
    board = forgeml_cmd("leaderboard", models / "cls", "--top", 1).stdout.strip().splitlines()
    assert len(board) == 2 and "linear" in board[1]
    assert len(forgeml_cmd("leaderboard", models / "cls").stdout.strip().splitlines()) == 3
    every = forgeml_cmd("trials", models / "cls").stdout.strip().splitlines()
    best = forgeml_cmd("trials", models / "cls", "--top", 2).stdout.strip().splitlines()
    assert len(every) == 4 and len(best) == 3  # header + 2 searched trials + the refit; header + 2


@pytest.mark.slow
def test_runs_prints_readable_times(models):
    out = forgeml_cmd("runs", models / "cls").stdout
    assert re.search(r"20\d\d-\d\d-\d\d \d\d:\d\d:\d\d", out) and "e+09" not in out


@pytest.mark.slow
def test_fit_into_a_finished_run_needs_resume_or_overwrite(models, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(models / "cls", out)
    before = (out / "model.pkl").read_bytes()
    p = forgeml_cmd("fit", models / "cls.csv", "--target", "target", "--out", out, *FAST, check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert str(out) in p.stderr and "--resume" in p.stderr and "--overwrite" in p.stderr
    assert (out / "model.pkl").read_bytes() == before
    forgeml_cmd("fit", models / "cls.csv", "--target", "target", "--out", out, "--overwrite", "--seed", 1, *FAST)
    assert (out / "model.pkl").read_bytes() != before


@pytest.mark.slow
def test_predict_bad_values_are_an_error_unless_asked(models, tmp_path):
    pd.DataFrame({"a": ["0.5", "abc"], "b": [0.1, 0.2]}).to_csv(tmp_path / "bad.csv", index=False)
    p = forgeml_cmd("predict", models / "cls", tmp_path / "bad.csv", check=False)
    assert p.returncode == 2 and "column 'a'" in p.stderr and "row 1: 'abc'" in p.stderr and "Traceback" not in p.stderr
    p = forgeml_cmd("predict", models / "cls", tmp_path / "bad.csv", "--on-bad-value", "nan")
    assert len(p.stdout.strip().splitlines()) == 3 and "'abc'" in p.stderr


def test_fit_with_a_weight_column(tmp_path):
    """--sample-weight names a column of row weights: it weighs the fit and is not a feature at predict time."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = np.where(x + rng.normal(size=200) > 0, "a", "b")
    train = pd.DataFrame({"x": x, "w": np.where(x > 1, 5.0, 1.0), "y": y})
    train.to_csv(tmp_path / "train.csv", index=False)
    train.drop(columns=["w", "y"]).to_csv(tmp_path / "test.csv", index=False)
    out = tmp_path / "run"
    run("fit", tmp_path / "train.csv", "--target", "y", "--sample-weight", "w", "--max-trials", 2,
        "--families", "linear", "--out", out, "--verbose", 0)
    run("predict", out, tmp_path / "test.csv", "--out", tmp_path / "preds.csv")
    assert len(pd.read_csv(tmp_path / "preds.csv")) == 200
    assert "w" not in forgeml.load(str(out)).feature_names_in_
    p = run("fit", tmp_path / "train.csv", "--target", "y", "--sample-weight", "nope", "--out", tmp_path / "o2",
            check=False)
    assert p.returncode == 2 and "nope" in p.stderr and "Traceback" not in p.stderr
