"""Each kind of plug-in, defined in tests/plugins/ (outside src/), runs end to end through AutoML: registered by
name, or passed as an object. Trials run in worker processes, so this also shows the plug-ins reach them."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import forgeml
from forgeml import AutoML
from forgeml.ensemble import ENSEMBLERS
from forgeml.metrics import METRICS
from forgeml.models import FAMILIES
from forgeml.search import SEARCHERS
from plugins.ensemblers import AverageEnsembler, BestSingleEnsembler
from plugins.families import DecisionTreeFamily
from plugins.metrics import brier_of_yes, median_abs_error, recall_of_yes
from plugins.searchers import PlainRandomSearcher

FAST = {"time_budget": None, "max_trials": 3, "n_jobs": 1, "verbose": 0, "n_folds": 3}


def _yes_no(n: int = 150, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    X["y"] = np.where(X["a"] + 0.3 * rng.normal(size=n) > 0, "yes", "no")
    return X


@pytest.fixture
def registered():
    """The test plug-ins registered by name for one test, then removed."""
    from forgeml.metrics import register_metric, unregister_metric

    forgeml.register_family("decision_tree", DecisionTreeFamily)
    forgeml.register_searcher("plain_random", PlainRandomSearcher)
    forgeml.register_ensembler("average", AverageEnsembler)
    register_metric("recall_of_yes", recall_of_yes)
    yield
    FAMILIES.unregister("decision_tree")
    SEARCHERS.unregister("plain_random")
    ENSEMBLERS.unregister("average")
    unregister_metric("recall_of_yes")


def _completed(model: AutoML) -> pd.DataFrame:
    trials = model.trials()
    return trials[(trials["kind"] == "cv") & (trials["status"] == "complete")]


def test_plugins_by_name_run_end_to_end(registered, tmp_path):
    df = _yes_no()
    model = AutoML(metric="recall_of_yes", families=["decision_tree"], search="plain_random", ensemble="average",
                   path=str(tmp_path / "run"), **FAST).fit(df, target="y")
    assert len(_completed(model)) == 3  # every trial ran in a worker process, which had to import the plug-ins
    board = model.leaderboard()
    assert set(board["family"]) <= {"decision_tree", "ensemble"}
    # recall_of_yes is nan unless it receives the user's labels ("yes"/"no"), so finite scores prove it did
    assert board["cv_recall_of_yes"].between(0.5, 1.0).all()
    assert set(model.predict(df.drop(columns="y"))) <= {"yes", "no"}
    assert model.metric_.greater_is_better and model.metric_.name == "recall_of_yes"
    loaded = forgeml.load(str(tmp_path / "run"))
    assert np.array_equal(loaded.predict(df.drop(columns="y")), model.predict(df.drop(columns="y")))


def test_plugin_objects_passed_directly_run_end_to_end():
    df = _yes_no(seed=1)
    metric = forgeml.make_metric(brier_of_yes, greater_is_better=False, needs_proba=True)
    model = AutoML(metric=metric, families=["linear", DecisionTreeFamily()], search=PlainRandomSearcher(),
                   ensemble=BestSingleEnsembler(), seed=3, **FAST).fit(df, target="y")
    completed = _completed(model)
    assert len(completed) == 3
    board = model.leaderboard()
    assert board["cv_brier_of_yes"].between(0.0, 0.25).all()
    # lower is better: the leaderboard is sorted ascending
    assert board["cv_brier_of_yes"].is_monotonic_increasing
    # the plug-in was compared with the built-in best single pipeline, on nested scores, and kept (it was forced)
    ens = board[board["family"] == "ensemble"]
    assert ens.loc[ens["chosen"], "pipeline"].tolist() == ["ensemble:best_single"]
    trials = board[board["family"] != "ensemble"]
    assert (trials["ensemble_weight"] > 0).sum() == 1  # best_single chose one member: the best
    assert trials.iloc[0]["ensemble_weight"] == 1.0
    assert "decision_tree" not in FAMILIES  # passing an object registers nothing


def test_plain_callable_regression_metric_is_higher_is_better_unless_registered_otherwise():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=120)})
    df["y"] = 3 * df["a"] + rng.normal(size=120)
    model = AutoML(metric=median_abs_error, families=[DecisionTreeFamily()], ensemble=False, **FAST).fit(
        df, target="y")
    assert model.metric_.greater_is_better  # a plain callable is taken as higher-is-better, as documented
    assert np.isfinite(model.leaderboard()["cv_median_abs_error"]).all()
    assert "median_abs_error" not in METRICS
