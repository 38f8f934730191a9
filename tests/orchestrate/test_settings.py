"""The orchestrator runs from a ``RunSettings`` value: it never reads the estimator."""
from __future__ import annotations

import dataclasses
import inspect
import warnings

import numpy as np
import pandas as pd
import pytest

from forgeml import AutoClassifier, AutoML, AutoRegressor
from forgeml.errors import ConfigError, SearchWarning
from forgeml.orchestrate.run import run_automl
from forgeml.orchestrate.settings import RunSettings


def frame(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    df["y"] = (df.a - df.b + rng.normal(0, 0.3, n) > 0).astype(int)
    return df


def test_settings_are_frozen_and_keep_their_own_copies():
    opts, fams = {"levels": 2}, ["linear"]
    s = RunSettings(search_options=opts, families=fams)
    opts["levels"] = 9
    fams.append("knn")
    assert s.search_options == {"levels": 2} and s.families == ["linear"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.seed = 1  # type: ignore[misc]


def test_every_estimator_parameter_reaches_the_settings():
    params = [p for p in inspect.signature(AutoML.__init__).parameters if p != "self"]
    fields = {f.name for f in dataclasses.fields(RunSettings)}
    # path is where the run is stored (an argument of run_automl); ray_address is a backend option
    assert set(params) - fields == {"path", "ray_address"}
    est = AutoML(time_budget=7, metric="accuracy", seed=5, max_trials=3, n_jobs=2, search="random",
                 search_options={"x": 1}, families=["linear"], ensemble=False, n_folds=3, per_trial_timeout=4.0,
                 memory_limit_mb=900, resume=True, backend="ray", ray_address="10.0.0.1:6379", inf_as_nan=True,
                 on_bad_value="nan", verbose=0, raise_on_trial_error=True)
    s = est._settings()
    for name in fields & set(params):
        assert getattr(s, name) == getattr(est, name), name
    assert s.backend_options == {"address": "10.0.0.1:6379"} and s.task_restriction is None
    assert AutoClassifier()._settings().task_restriction == "classification"
    assert AutoRegressor()._settings().task_restriction == "regression"
    assert AutoML(ray_address="x")._settings().backend_options == {}  # a local run ignores the ray address


def test_run_automl_from_settings_alone(tmp_path):
    df = frame()
    settings = RunSettings(time_budget=None, max_trials=3, families=["linear"], n_jobs=1, verbose=0, seed=1)
    out = run_automl(settings, df, "y", str(tmp_path))
    assert out.schema.task == "binary" and out.metric.name == "roc_auc" and out.n_trials == 3
    assert list(out.leaderboard["family"].unique()) in (["linear"], ["ensemble", "linear"])
    assert out.pipeline.predict(df.drop(columns=["y"])).shape == (len(df),)


def test_a_task_restriction_in_the_settings_is_enforced(tmp_path):
    settings = RunSettings(time_budget=None, max_trials=1, families=["linear"], n_jobs=1, verbose=0,
                           task="regression", task_restriction="classification")
    with pytest.raises(ConfigError, match="AutoClassifier cannot fit a regression task"):
        run_automl(settings, frame(), "y", str(tmp_path))


def test_a_search_warning_points_at_the_users_call():
    df = frame()
    est = AutoML(search="pbt", families=["lightgbm", "linear"], max_trials=2, time_budget=None, n_jobs=1, verbose=0,
                 search_options={"population_size": 2, "n_steps": 1})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(df, target="y")
    mine = [w for w in caught if issubclass(w.category, SearchWarning) and "not searching linear" in str(w.message)]
    assert len(mine) == 1 and mine[0].filename == __file__


def test_a_search_that_cannot_start_leaves_no_run_behind(tmp_path):
    """Everything decided from settings and data (here: a grid too large for max_trials) fails before the run
    is opened in the store, so no run is left marked ``running``."""
    from forgeml.store import Store

    est = AutoML(search="grid", max_trials=2, families=["linear"], n_jobs=1, verbose=0, path=str(tmp_path / "run"))
    with pytest.raises(ConfigError, match="max_trials=2"):
        est.fit(frame(), target="y")
    assert not (tmp_path / "run").exists() or Store.open(str(tmp_path / "run")).latest_run() is None
