"""AutoML(ensemble=NAME | None) end to end on a small real dataset: the chosen combiner's weights reach the
leaderboard and the fitted model, and a bad name is refused before anything runs."""
import numpy as np
import pandas as pd
import pytest
from tests.conftest import shared_dataset

from forgeml import AutoML, load
from forgeml.errors import ConfigError

# each family's defaults, not the shipped portfolio's entries, so that both families reach the ensemble in 4 trials
FAST = {"max_trials": 4, "families": ["linear", "lightgbm"], "n_jobs": 1, "verbose": 0, "seed": 0, "portfolio": None}


@pytest.fixture(scope="module")
def breast_cancer():
    df, entry = shared_dataset("breast_cancer")
    return df.iloc[:450], df.iloc[450:], entry["target"]


@pytest.mark.parametrize("method", ["super_learner", "voting"])
def test_named_ensemble_end_to_end(breast_cancer, method):
    train, test, target = breast_cancer
    model = AutoML(ensemble=method, **FAST).fit(train, target=target)
    board = model.leaderboard_
    score = f"cv_{model.metric_.name}"
    ens = board[board["family"] == "ensemble"]
    # the forced method and the best single pipeline, each with its nested out-of-fold score; the forced one kept
    assert sorted(ens["pipeline"]) == sorted([f"ensemble:{method}", "ensemble:single"]), ens
    assert ens[score].notna().all() and (ens[score] > 0.9).all()
    kept = ens[ens["chosen"]]
    assert kept["pipeline"].tolist() == [f"ensemble:{method}"]
    members = board[(board["family"] != "ensemble") & (board["ensemble_weight"] > 0)]
    assert len(members) >= 2, board
    assert members["ensemble_weight"].sum() == pytest.approx(1.0)
    assert kept["members"].iloc[0] == ", ".join(
        f"#{t}:{w:.2f}" for t, w in sorted(zip(members["trial_id"], members["ensemble_weight"]),
                                         key=lambda tw: (-tw[1], tw[0])))
    if method == "voting":
        assert np.allclose(members["ensemble_weight"], 1 / len(members))
    pipe = model.best_pipeline_
    assert len(pipe.members) == len(members)
    assert sorted(pipe.weights) == pytest.approx(sorted(members["ensemble_weight"]))
    proba = model.predict_proba(test.drop(columns=[target]))
    assert proba.shape == (len(test), 2) and np.allclose(proba.sum(1), 1)
    pred = model.predict(test.drop(columns=[target]))
    assert (pd.Series(pred).to_numpy() == test[target].to_numpy()).mean() > 0.9


def test_ensemble_none_keeps_the_single_best_pipeline(breast_cancer):
    train, test, target = breast_cancer
    model = AutoML(ensemble=None, **{**FAST, "max_trials": 3, "families": ["linear"]}).fit(train, target=target)
    board = model.leaderboard_
    assert "ensemble" not in set(board["family"])
    assert board["ensemble_weight"].tolist() == [1.0] + [0.0] * (len(board) - 1)  # the best row, alone
    assert len(model.best_pipeline_.members) == 1
    assert len(model.predict(test.drop(columns=[target]))) == len(test)


def test_unknown_ensemble_is_refused_before_reading_the_data():
    # the name is checked first: the empty frame would otherwise be the error, and a search would run before it
    with pytest.raises(ConfigError, match=r"unknown ensemble 'stackin'.*'auto'.*greedy, super_learner, voting.*None"):
        AutoML(ensemble="stackin", max_trials=1, verbose=0).fit(pd.DataFrame(), [])


def test_auto_keeps_the_better_convex_combination_unless_another_beats_it_beyond_noise(breast_cancer, tmp_path):
    train, test, target = breast_cancer
    model = AutoML(**{**FAST, "max_trials": 6}).fit(train, target=target)  # ensemble="auto" is the default
    board = model.leaderboard_
    score = f"cv_{model.metric_.name}"
    ens = board[board["family"] == "ensemble"].set_index("pipeline")
    compared = {p.split(":", 1)[1].split("(")[0].strip() for p in ens.index}
    assert {"single", "greedy", "super_learner", "voting"} <= compared, ens
    kept = ens[ens["chosen"]]
    assert len(kept) == 1
    # higher is better for roc_auc: the better convex combination, unless another method scores better and beats
    # the single best on at least 80% of the resamples (ensemble/select.py); a tie with the single best is single
    by = {p.split(":", 1)[1].split("(")[0].strip(): row for p, row in ens.iterrows()}
    base = max(("greedy", "super_learner"), key=lambda m: by[m][score])
    challengers = [m for m, r in by.items() if m not in ("single", "greedy", "super_learner")
                   and r["beats_single"] >= 0.8 and r[score] > by[base][score]]
    expected = max(challengers, key=lambda m: by[m][score]) if challengers else (
        "single" if by["single"][score] == by[base][score] else base)
    assert by[expected]["chosen"], (expected, ens)
    assert model.best_pipeline_.member_ids is not None
    assert set(model.best_pipeline_.member_ids) == {
        int(m.split(":")[0][1:]) for m in kept["members"].iloc[0].split(", ")}
    proba = model.predict_proba(test.drop(columns=[target]))
    assert proba.shape == (len(test), 2) and np.allclose(proba.sum(1), 1)
    # every compared method's ensemble stays on the fitted object, but is not saved with the model
    assert {c.name for c in model._ensemble_candidates} == compared
    model.save(str(tmp_path / "m"))
    assert len(model._ensemble_candidates) == len(compared)
    loaded = load(str(tmp_path / "m"))
    assert not hasattr(loaded, "_ensemble_candidates")
    np.testing.assert_allclose(loaded.predict_proba(test.drop(columns=[target])), proba)
