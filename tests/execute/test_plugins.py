"""Executor plug-ins: registered from outside ``src/``, used end to end by ``AutoML``, broken ones refused."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.plugins.executors import (
    PLUGIN,
    ForkserverExecutor,
    HalfExecutor,
    NeedsAnArgument,
    NoCommonOptions,
    NotAnExecutor,
)

import forgeml
from forgeml import AutoML
from forgeml.errors import ConfigError
from forgeml.execute import EXECUTORS, make_executor, register_executor
from forgeml.execute.local import LocalExecutor


def test_automl_runs_its_trials_through_the_plugin(tmp_path):
    before = len(ForkserverExecutor.submitted)
    df = pd.DataFrame({"x": np.r_[np.arange(30.0), np.arange(30.0) + 25], "y": np.r_[np.zeros(30), np.ones(30)]})
    m = AutoML(backend=PLUGIN, max_trials=2, families=["linear"], verbose=0, n_jobs=1, path=str(tmp_path))
    m.fit(df, target="y")
    trials = forgeml.trials(str(tmp_path))
    cv = trials[trials.kind == "cv"]
    assert len(cv) == 2 and (cv.status == "complete").all(), cv[["status", "error"]]
    # the search's trials and the kept members' refits on all rows, all through the plug-in
    refits = trials[(trials.kind == "refit") & (trials.status == "complete")]
    assert len(refits) >= 1
    assert sorted(ForkserverExecutor.submitted[before:]) == sorted(cv.trial_id.tolist() + refits.trial_id.tolist())
    assert m.predict(df.drop(columns=["y"])).shape == (60,)


@pytest.mark.parametrize(("broken", "rule"), [
    (NotAnExecutor, r"executor 'broken' must be a subclass of forgeml\.execute\.Executor"),
    (HalfExecutor, r"executor 'broken' must implement cancel\(\), .*; HalfExecutor is missing cancel\(\), poll\(\), "
                   r"running$"),
    (NoCommonOptions, "must accept the keyword options n_workers, threads_per_worker, memory_limit_mb .*lacks "
                      "n_workers, threads_per_worker, memory_limit_mb"),
    (NeedsAnArgument, "must be constructible from keyword options alone: give cluster .* a default"),
    (LocalExecutor(), "must be a subclass of forgeml.execute.Executor, got LocalExecutor object"),
])
def test_broken_plugin_is_refused_naming_the_rule(broken, rule):
    with pytest.raises(ConfigError, match=rule):
        register_executor("broken", broken)
    assert "broken" not in EXECUTORS.names()


def test_a_taken_name_needs_overwrite():
    with pytest.raises(ConfigError, match="already registered; pass overwrite=True"):
        register_executor("local", ForkserverExecutor)
    assert EXECUTORS["local"] is LocalExecutor
    register_executor("scratch", ForkserverExecutor)
    try:
        register_executor("scratch", LocalExecutor, overwrite=True)
        assert EXECUTORS["scratch"] is LocalExecutor
    finally:
        EXECUTORS.unregister("scratch")


def test_make_executor_takes_a_name_a_class_or_an_instance():
    ex = LocalExecutor(n_workers=3)
    assert make_executor(ex, n_workers=1) is ex  # an instance was configured when it was built
    built = make_executor(ForkserverExecutor, n_workers=2, memory_limit_mb=100)
    assert type(built) is ForkserverExecutor and built.capacity == 2 and built.start_method == "forkserver"
    with pytest.raises(ConfigError, match="must implement"):
        make_executor(HalfExecutor)
    with pytest.raises(ConfigError, match="executor 'local' does not accept these options: .*address"):
        make_executor("local", address="auto")
    with pytest.raises(ConfigError, match="backend must be an executor name"):
        make_executor(42)


def test_automl_with_a_broken_backend_fails_clearly():
    df = pd.DataFrame({"x": np.arange(20.0), "y": np.r_[np.zeros(10), np.ones(10)]})
    with pytest.raises(ConfigError, match="unknown executor 'nope'; available: local, ray"):
        AutoML(backend="nope", max_trials=1, families=["linear"], verbose=0).fit(df, target="y")


def test_cli_backend_choices_come_from_the_registry(capsys):
    from forgeml.cli.main import build_parser

    argv = ["fit", "data.csv", "--target", "y", "--out", "run"]
    assert build_parser().parse_args([*argv, "--backend", PLUGIN]).backend == PLUGIN
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--backend", "nope"])
    assert f"'local', 'ray', '{PLUGIN}'" in capsys.readouterr().err
