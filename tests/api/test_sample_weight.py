"""``sample_weight`` end to end: ``fit`` and ``score`` take it, the search, ensemble and refit follow it, families
that cannot use it are left out visibly, and bad weights are refused at the edge."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import forgeml
from forgeml import AutoClassifier, AutoML, AutoRegressor
from forgeml.errors import ConfigError, DataError, SearchWarning, TargetError

FAST = dict(time_budget=None, max_trials=2, n_jobs=1, verbose=0, n_folds=3, seed=0)


def overlapping(seed: int, n: int = 600) -> tuple[pd.DataFrame, pd.Series]:
    """Two classes that overlap: a model must trade errors on one against errors on the other."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = pd.Series(np.where(X["a"] + rng.normal(scale=1.5, size=n) > 1.0, "rare", "common"), name="label")
    return X, y


def _trials(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard's trial rows (ensemble rows are ranked among them by their own, nested scores)."""
    return board[board["family"] != "ensemble"].reset_index(drop=True)


def rare_weights(y: pd.Series) -> np.ndarray:
    return np.where(y == "rare", 5.0, 1.0)  # a missed "rare" row costs 5 times a false alarm


@pytest.fixture(scope="module")
def fits():
    X, y = overlapping(0)
    w = rare_weights(y)
    kw = dict(FAST, metric="accuracy")
    plain = AutoClassifier(families=["linear"], **kw).fit(X, y)
    weighted = AutoClassifier(families=["linear"], **kw).fit(X, y, sample_weight=w)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = X.assign(w=w)  # the weights as a column of the training frame, next to knn that cannot use them
        by_column = AutoClassifier(families=["linear", "knn"], **kw).fit(frame, y, sample_weight="w")
    return {"plain": plain, "weighted": weighted, "by_column": by_column, "warnings": caught}


def test_upweighting_a_class_changes_the_decision_and_wins_on_the_weighted_score(fits):
    X_test, y_test = overlapping(1)
    w_test = rare_weights(y_test)
    plain, weighted = fits["plain"], fits["weighted"]
    # the final (refit) model follows the weights: it calls "rare" far more often
    assert (weighted.predict(X_test) == "rare").mean() > (plain.predict(X_test) == "rare").mean() + 0.2
    # the check: on the weighted score, the weighted model is the better one, by a clear margin
    won, lost = (m.score(X_test, y_test, sample_weight=w_test) for m in (weighted, plain))
    assert won > lost + 0.1
    # AutoClassifier.score (scikit-learn's accuracy) and AutoML.score (the run's metric, accuracy) agree, weighted
    for model in (plain, weighted):
        expected = skm.accuracy_score(y_test, model.predict(X_test), sample_weight=w_test)
        assert model.score(X_test, y_test, sample_weight=w_test) == pytest.approx(expected)
        assert AutoML.score(model, X_test, y_test, sample_weight=w_test) == pytest.approx(expected)
        assert AutoML.score(model, X_test, y_test) != pytest.approx(expected)  # the weights are not ignored


def test_the_search_scores_trials_with_the_weights(fits):
    plain, weighted = (_trials(fits[k].leaderboard()) for k in ("plain", "weighted"))
    assert list(plain["pipeline"]) == list(weighted["pipeline"])  # same configurations tried ...
    assert not np.allclose(plain["cv_accuracy"], weighted["cv_accuracy"])  # ... scored differently


def test_a_weight_column_is_not_a_feature_and_matches_the_array(fits):
    by_column, weighted = fits["by_column"], fits["weighted"]
    assert list(by_column.feature_names_in_) == ["a", "b"]
    searched = _trials(by_column.leaderboard()).dropna(subset=["cv_accuracy"])
    ref = _trials(weighted.leaderboard())
    assert list(searched["pipeline"]) == list(ref["pipeline"])
    np.testing.assert_allclose(searched["cv_accuracy"], ref["cv_accuracy"])


def test_families_that_cannot_use_weights_are_left_out_with_a_warning_and_a_leaderboard_note(fits):
    model = fits["by_column"]
    messages = [str(w.message) for w in fits["warnings"] if issubclass(w.category, SearchWarning)]
    assert any("knn" in m and "sample_weight" in m for m in messages), messages
    board = model.leaderboard()
    note = board[board["family"] == "knn"]
    assert len(note) == 1 and "not searched (cannot use sample_weight)" in note["pipeline"].iloc[0]
    assert note["cv_accuracy"].isna().all() and note["ensemble_weight"].iloc[0] == 0.0
    assert board.index[board["family"] == "knn"][0] == len(board) - 1  # listed last, after every scored row
    assert "knn" in model.search_summary_ and "sample_weight" in model.search_summary_
    assert not (model.trials()["config"].astype(str).str.contains("knn")).any()
    assert not [w for w in fits["warnings"] if "knn" in str(w.message) and w.category is not SearchWarning]


def test_unweighted_runs_have_no_note(fits):
    assert not fits["plain"].leaderboard()["pipeline"].str.contains("not searched").any()
    assert "sample_weight" not in fits["plain"].search_summary_


def test_regression_weights_reach_fit_and_score():
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"a": rng.normal(size=300)})
    group = rng.random(300) < 0.5
    y = np.where(group, 10.0, 0.0) + rng.normal(scale=0.5, size=300)  # "a" says nothing about the group
    w = np.where(group, 9.0, 1.0)
    model = AutoRegressor(families=["linear"], **FAST).fit(X, y, sample_weight=w)
    assert model.predict(X).mean() == pytest.approx(9.0, abs=0.6)  # the weighted mean, not the plain one (~5)
    r2 = skm.r2_score(y, model.predict(X), sample_weight=w)
    assert model.score(X, y, sample_weight=w) == pytest.approx(r2)
    rmse = np.sqrt(np.average((y - model.predict(X)) ** 2, weights=w))
    assert AutoML.score(model, X, y, sample_weight=w) == pytest.approx(rmse)


@pytest.mark.parametrize("weights, message", [
    (np.ones(5), "has 5 values but the data has 40 rows"),
    (np.r_[np.ones(39), -1.0], "negative"),
    (np.r_[np.ones(39), np.nan], "NaN or infinite"),
    (np.r_[np.ones(39), np.inf], "NaN or infinite"),
    (np.zeros(40), "zero for every row"),
    (np.array(["1"] * 40), "real numbers"),
    (np.ones((40, 2)), "1-D"),
    ("nope", "not in the table"),
    ("y", "target column"),
])
def test_bad_weights_are_refused_at_the_edge(weights, message):
    df = pd.DataFrame({"x": np.arange(40.0), "y": [0, 1] * 20})
    with pytest.raises(DataError, match=message):
        AutoML(**FAST).fit(df, target="y", sample_weight=weights)


def test_weights_left_only_on_rows_without_a_target_are_refused():
    df = pd.DataFrame({"x": np.arange(40.0), "y": [0.0, 1.0] * 19 + [np.nan, np.nan]})
    w = np.r_[np.zeros(38), 1.0, 1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "dropping 2 rows whose target is missing"
        with pytest.raises(DataError, match="zero for every row"):
            AutoML(**FAST).fit(df, target="y", sample_weight=w)


def test_only_families_that_cannot_use_weights_is_a_config_error():
    df = pd.DataFrame({"x": np.arange(40.0), "y": [0, 1] * 20})
    with pytest.raises(ConfigError, match="can use sample_weight"):
        AutoML(families=["knn"], **FAST).fit(df, target="y", sample_weight=np.ones(40))


def test_score_refuses_bad_weights_too(fits):
    X, y = overlapping(1, n=50)
    with pytest.raises(DataError, match="has 3 values"):
        AutoML.score(fits["plain"], X, y, sample_weight=[1.0, 2.0, 3.0])


def test_a_user_metric_without_sample_weight_is_refused_for_a_weighted_fit_not_called_wrongly():
    """A user's metric is wrapped; the wrapper must not claim to take weights the user's function cannot."""
    from tests.plugins.metrics import recall_of_yes

    from forgeml import make_metric
    from forgeml.metrics import accepts_sample_weight

    plain = make_metric(recall_of_yes, tasks=["binary"])
    weighted = make_metric(skm.accuracy_score, tasks=["binary"])
    assert not accepts_sample_weight(plain.fn) and accepts_sample_weight(weighted.fn)
    df = pd.DataFrame({"x": np.arange(40.0), "y": ["yes", "no"] * 20})
    with pytest.raises(ConfigError, match="takes no sample_weight"):
        AutoML(max_trials=1, families=["linear"], metric=plain, verbose=0, n_jobs=1).fit(
            df, target="y", sample_weight=np.ones(40))


def test_weights_that_leave_one_class_are_a_target_error_naming_the_class():
    df = pd.DataFrame({"x": np.arange(40.0), "y": ["a", "b"] * 20})
    w = np.where(df["y"] == "a", 1.0, 0.0)
    with pytest.raises(TargetError, match="all classes but one .'a'."):
        AutoML(max_trials=1, families=["linear"], verbose=0, n_jobs=1).fit(df, target="y", sample_weight=w)


def test_an_ensembler_that_cannot_weigh_rows_is_refused_before_the_search(tmp_path):
    from tests.plugins.ensemblers import AverageEnsembler

    df = pd.DataFrame({"x": np.arange(40.0), "y": ["a", "b"] * 20})
    m = AutoML(max_trials=2, families=["linear"], ensemble=AverageEnsembler(), verbose=0, n_jobs=1,
               path=str(tmp_path))
    with pytest.raises(ConfigError, match="ensembler 'average' takes no sample_weight"):
        m.fit(df, target="y", sample_weight=np.ones(40))
    assert not (tmp_path / "forgeml.db").exists() or forgeml.runs(str(tmp_path)).empty  # refused: no run stored


def test_a_run_resumes_only_with_the_weights_it_was_fitted_with(tmp_path):
    df = pd.DataFrame({"x": np.arange(40.0), "y": ["a", "b"] * 20})
    w = np.linspace(0.5, 2.0, 40)
    kw = dict(families=["linear"], verbose=0, n_jobs=1, path=str(tmp_path))
    AutoML(max_trials=2, **kw).fit(df, target="y", sample_weight=w)
    with pytest.raises(ConfigError, match="fitted with sample_weight .*this fit is without sample_weight"):
        AutoML(max_trials=3, resume=True, **kw).fit(df, target="y")
    with pytest.raises(ConfigError, match="Resume with the same sample_weight"):
        AutoML(max_trials=3, resume=True, **kw).fit(df, target="y", sample_weight=w[::-1])
    m = AutoML(max_trials=3, resume=True, **kw).fit(df, target="y", sample_weight=w)
    assert m.n_trials_ == 3 and len(forgeml.runs(str(tmp_path))) == 1
