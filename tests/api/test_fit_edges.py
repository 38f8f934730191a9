"""Edges found when the issue-15 branches met: old pickles, regression targets of small integers, options
refused before any work, executor instances, overwrite that loses nothing, one-row predicts."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import forgeml
from forgeml import AutoML, AutoRegressor
from forgeml.errors import ConfigError, DataError, TargetError
from forgeml.execute.local import LocalExecutor

FAST = {"max_trials": 2, "families": ["linear"], "verbose": 0, "n_jobs": 1}


def frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    return pd.DataFrame({"x": x, "z": rng.normal(size=n), "y": np.where(x > 0, "yes", "no")})


@pytest.fixture(scope="module")
def fitted():
    return AutoML(**FAST).fit(frame(), target="y")


def test_a_model_pickled_before_on_bad_value_and_overwrite_existed_still_predicts(fitted):
    old = pickle.loads(pickle.dumps(fitted))
    del old.__dict__["on_bad_value"], old.__dict__["overwrite"]  # as saved by forgeml before these parameters
    again = pickle.loads(pickle.dumps(old))
    X = frame().drop(columns=["y"])
    assert (again.predict(X) == fitted.predict(X)).all()
    assert again.get_params()["on_bad_value"] == "raise"


def test_a_regression_target_of_small_integers_is_not_checked_as_classes():
    df = pd.DataFrame({"x": np.arange(30.0), "y": list(range(8)) + [0] * 22})  # 7 values seen once each
    m = AutoRegressor(**FAST).fit(df.drop(columns=["y"]), df["y"])
    assert m.task_ == "regression"
    m2 = AutoML(task="regression", **FAST).fit(df, target="y")
    assert m2.task_ == "regression"


def test_an_unknown_ensemble_name_is_refused_before_the_search(tmp_path):
    with pytest.raises(ConfigError, match="unknown ensemble 'gredy'.*greedy"):
        AutoML(ensemble="gredy", path=str(tmp_path), **FAST).fit(frame(), target="y")
    assert not (tmp_path / "forgeml.db").exists()


def test_a_refused_backend_leaves_no_run_in_the_store(tmp_path):
    with pytest.raises(ConfigError, match="nope"):
        AutoML(backend="nope", path=str(tmp_path), **FAST).fit(frame(), target="y")
    assert not (tmp_path / "forgeml.db").exists() or forgeml.runs(str(tmp_path)).empty


def test_an_executor_instance_serves_every_fit_with_a_fresh_copy():
    backend = LocalExecutor(n_workers=1)
    m = AutoML(backend=backend, **FAST)
    first = m.fit(frame(), target="y").leaderboard()
    second = m.fit(frame(), target="y").leaderboard()  # the first fit shut down its copy, not this instance
    pd.testing.assert_frame_equal(first[["trial_id", "pipeline"]], second[["trial_id", "pipeline"]])


def test_overwrite_with_bad_data_keeps_the_earlier_model(tmp_path):
    good = AutoML(path=str(tmp_path), **FAST).fit(frame(), target="y")
    X = frame().drop(columns=["y"])
    expected = good.predict(X)
    bad = frame().assign(y=1.0, x=np.inf)  # a single-value target and inf values: refused by the checks
    with pytest.raises((TargetError, DataError)):
        AutoML(path=str(tmp_path), overwrite=True, **FAST).fit(bad, target="y")
    assert (forgeml.load(str(tmp_path)).predict(X) == expected).all()


def test_a_one_row_series_follows_the_estimators_value_policy(fitted):
    row = frame().drop(columns=["y"]).iloc[0].copy()
    row["z"] = np.inf
    with pytest.raises(DataError, match="inf"):
        fitted.predict(row)
    lenient = pickle.loads(pickle.dumps(fitted)).set_params(inf_as_nan=True)
    assert lenient.predict(row).shape == (1,)
