"""AutoML(ensemble_prune=...): the kept ensemble drops the members it can spare, reproducibly under max_trials, and
is the ensemble the leaderboard scored; off by default; a share outside [0, 1] is refused before anything runs."""
import numpy as np
import pandas as pd
import pytest
from tests.conftest import shared_dataset

from forgeml import AutoML
from forgeml.errors import ConfigError
from forgeml.orchestrate.infer import batch, measured_s_per_row

FAST = {"max_trials": 8, "families": ["linear", "knn", "lightgbm"], "n_jobs": 1, "verbose": 0, "seed": 0,
        "ensemble": "greedy", "knowledge": None, "portfolio": None}


@pytest.fixture(scope="module")
def fits():
    df, entry = shared_dataset("breast_cancer")
    target = entry["target"]
    full = AutoML(**FAST).fit(df, target=target)
    pruned = AutoML(ensemble_prune=1.0, **FAST).fit(df, target=target)
    again = AutoML(ensemble_prune=1.0, **FAST).fit(df, target=target)
    return df, target, full, pruned, again


def _chosen(model):
    board = model.leaderboard_
    return board[board["chosen"].astype(bool)].iloc[0]


def test_pruning_keeps_fewer_members_and_the_leaderboard_describes_the_kept_ensemble(fits):
    df, target, full, pruned, _ = fits
    assert AutoML().ensemble_prune == 0.0
    assert len(full.best_pipeline_.members) >= 3  # an ensemble worth pruning
    assert len(pruned.best_pipeline_.members) < len(full.best_pipeline_.members)
    # the chosen row's members are the pipeline's members
    listed = {int(part.split(":")[0].lstrip("#")) for part in _chosen(pruned)["members"].split(", ")}
    assert listed == set(pruned.best_pipeline_.member_ids)
    proba = pruned.predict_proba(df.drop(columns=[target])).to_numpy()
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_pruning_is_reproducible_under_max_trials(fits):
    df, target, _, pruned, again = fits
    assert pruned.best_pipeline_.member_ids == again.best_pipeline_.member_ids
    X = df.drop(columns=[target])
    np.testing.assert_array_equal(pruned.predict_proba(X).to_numpy(), again.predict_proba(X).to_numpy())


def test_an_infer_limit_the_ensemble_misses_prunes_it_to_members_that_fit(fits):
    df, target, full, _, _ = fits
    X = df.drop(columns=[target])
    took = measured_s_per_row(full.best_pipeline_, batch(X))
    limit = 0.6 * took
    limited = AutoML(infer_limit=limit, **FAST).fit(df, target=target)
    kept, members = _chosen(limited), set(limited.best_pipeline_.member_ids)
    # fewer members, all of them the full ensemble's, at a cost within the limit as the run measured it
    assert members < set(full.best_pipeline_.member_ids)
    assert kept["predict_s_per_1k"] <= limit * 1000
    listed = {int(part.split(":")[0].lstrip("#")) for part in kept["members"].split(", ")}
    assert listed == members
    if len(members) > 1:  # the kept ensemble pruned, not another method's: named so, scored on its own blend
        assert kept["pipeline"].startswith("ensemble:greedy, pruned to infer_limit")
        alone = full.leaderboard_.set_index("trial_id").loc[list(members), "cv_roc_auc"]
        assert kept["cv_roc_auc"] >= alone.max() - 1e-6  # out-of-fold predictions are stored as float32
    proba = limited.predict_proba(X).to_numpy()
    assert np.allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize("bad", [-0.1, 1.5, "some", True, float("nan")])
def test_a_share_outside_0_to_1_is_refused_before_reading_data(bad):
    with pytest.raises(ConfigError, match="ensemble_prune must be a number from 0"):
        AutoML(ensemble_prune=bad, max_trials=1, verbose=0).fit(pd.DataFrame(), [])
