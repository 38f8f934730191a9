"""AutoML(infer_limit=...): the kept model's measured predict time per row, on a 10,000-row batch, is within the
limit when any pipeline can be; otherwise the fastest pipeline is kept, with a warning. A limit that is not a
positive number is refused before anything runs."""
import numpy as np
import pandas as pd
import pytest
from tests.conftest import shared_dataset

from forgeml import AutoML
from forgeml.errors import ConfigError, SearchWarning
from forgeml.orchestrate.infer import batch, measured_s_per_row

FAST = {"max_trials": 4, "families": ["linear", "knn"], "n_jobs": 1, "verbose": 0, "seed": 0}


@pytest.fixture(scope="module")
def data():
    df, entry = shared_dataset("breast_cancer")
    return df, entry["target"]


def test_an_impossible_limit_keeps_the_fastest_pipeline_with_a_warning(data):
    df, target = data
    with pytest.warns(SearchWarning, match="no pipeline predicts within infer_limit=1e-12"):
        model = AutoML(infer_limit=1e-12, **FAST).fit(df, target=target)
    pipe = model.best_pipeline_
    assert len(pipe.members) == 1
    board = model.leaderboard_
    trials = board[board["family"] != "ensemble"]
    kept = trials[trials["ensemble_weight"] == 1.0]
    assert len(kept) == 1
    # the kept one is the fastest to predict of the refit pipelines: a linear model, not a nearest-neighbour search
    assert kept["family"].iloc[0] == "linear"
    # the leaderboard's one chosen row is that pipeline, chosen again after the comparison
    chosen = board[board["chosen"].astype(bool)]
    assert len(chosen) == 1 and chosen["pipeline"].iloc[0] == "ensemble:single (chosen again)"
    assert chosen["members"].iloc[0] == f"#{kept['trial_id'].iloc[0]}:1.00"
    assert len(model.predict(df.drop(columns=[target]))) == len(df)


def test_a_generous_limit_changes_nothing_and_the_measurement_is_recorded(data):
    df, target = data
    limited = AutoML(infer_limit=1.0, **FAST).fit(df, target=target)  # a second per row: anything fits
    free = AutoML(**FAST).fit(df, target=target)
    board = limited.leaderboard_
    ens = board[board["family"] == "ensemble"]
    # the ensemble kept is the one kept without a limit, and it predicts the same
    kept = ens[ens["chosen"]]
    assert len(kept) == 1 and "chosen again" not in kept["pipeline"].iloc[0]
    free_board = free.leaderboard_
    assert kept["pipeline"].iloc[0] == free_board.loc[free_board["chosen"], "pipeline"].iloc[0]
    X = df.drop(columns=[target])
    np.testing.assert_array_equal(limited.predict_proba(X).to_numpy(), free.predict_proba(X).to_numpy())
    per_1k = kept["predict_s_per_1k"].iloc[0]
    assert 0 < per_1k <= 1000.0  # measured on the batch, per 1,000 rows
    took = measured_s_per_row(limited.best_pipeline_, batch(df.drop(columns=[target])))
    assert took <= 1.0


@pytest.mark.parametrize("bad", [0, -1e-3, float("nan"), "fast", True])
def test_a_limit_that_is_not_a_positive_number_is_refused_before_reading_data(bad):
    with pytest.raises(ConfigError, match="infer_limit must be a positive number of seconds per row"):
        AutoML(infer_limit=bad, max_trials=1, verbose=0).fit(pd.DataFrame(), [])


def test_the_batch_has_10000_rows_even_from_a_small_table():
    small = pd.DataFrame({"a": np.arange(30)})
    rows = batch(small)
    assert len(rows) == 10_000 and set(rows["a"]) <= set(range(30))
