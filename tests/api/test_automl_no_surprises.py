"""AutoML never changes a value, replaces a finished run or leaves a temporary folder behind unasked."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pandas as pd
import pytest

from forgeml import AutoML, load
from forgeml.errors import ConfigError, DataError, SchemaMismatchError

FAST = {"time_budget": None, "max_trials": 2, "families": ["linear"], "ensemble": False, "verbose": 0, "n_jobs": 1}


def _frame(n: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    df["target"] = (df.a + df.b > 0).astype(int)
    return df


@pytest.fixture
def own_tmp(tmp_path, monkeypatch):
    """Temporary folders of this test only, so that other processes' folders do not count."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


@pytest.fixture(scope="module")
def fitted():
    return AutoML(**FAST).fit(_frame(), target="target")


def test_one_row_with_text_in_a_numeric_column_is_an_error(fitted):
    with pytest.raises(SchemaMismatchError, match="column 'a'.*row 0: 'abc'"):
        fitted.predict(pd.DataFrame({"a": ["abc"], "b": [0.1]}))


def test_inf_at_predict_is_refused_unless_inf_as_nan(fitted):
    X = pd.DataFrame({"a": [np.inf, 0.2], "b": [0.1, 0.3]})
    with pytest.raises(SchemaMismatchError, match="'a': 1 value equal to"):
        fitted.predict(X)
    lenient = pickle.loads(pickle.dumps(fitted)).set_params(inf_as_nan=True)
    assert len(lenient.predict(X)) == 2


def test_on_bad_value_nan_predicts_with_a_warning(fitted):
    lenient = pickle.loads(pickle.dumps(fitted)).set_params(on_bad_value="nan")
    with pytest.warns(UserWarning, match="row 0: 'abc'"):
        pred = lenient.predict(pd.DataFrame({"a": ["abc", "0.5"], "b": [0.1, 0.2]}))
    assert len(pred) == 2


def test_training_values_are_not_changed_silently(own_tmp):
    df = _frame().astype({"a": object})
    df.loc[5, "a"] = "oops"
    with pytest.raises(DataError, match="column 'a'.*row 5: 'oops'"):
        AutoML(**FAST).fit(df, target="target")
    with pytest.warns(UserWarning, match="row 5: 'oops'"):
        m = AutoML(**FAST, on_bad_value="nan").fit(df, target="target")
    assert m.schema_.column("a").kind == "numeric"


def test_unknown_on_bad_value_is_a_config_error():
    with pytest.raises(ConfigError, match="on_bad_value"):
        AutoML(**FAST, on_bad_value="ignore").fit(_frame(), target="target")


def test_temporary_run_folder_is_removed_and_the_model_still_works(own_tmp, tmp_path):
    m = AutoML(**FAST).fit(_frame(), target="target")
    assert list(own_tmp.iterdir()) == []
    assert m.run_dir_ is None
    trials = m.trials()
    assert len(trials) >= 2 and set(trials["status"]) == {"complete"}
    assert len(m.leaderboard()) == 2 and len(m.predict(_frame().drop(columns="target"))) == 80
    again = pickle.loads(pickle.dumps(m))
    assert len(again.trials()) == len(trials)
    m.save(tmp_path / "saved")
    loaded = load(tmp_path / "saved")
    assert (loaded.predict(_frame().drop(columns="target")) == m.predict(_frame().drop(columns="target"))).all()
    assert len(loaded.trials()) == len(trials)


def test_temporary_run_folder_is_removed_after_a_failed_fit(own_tmp):
    df = _frame().assign(target=1)  # fails inside the run, after its folder was made
    with pytest.raises(DataError, match="single value"):
        AutoML(**FAST).fit(df, target="target")
    assert list(own_tmp.iterdir()) == []


def test_a_finished_run_is_not_overwritten_without_asking(tmp_path):
    path = tmp_path / "run"
    AutoML(**FAST, path=str(path)).fit(_frame(), target="target")
    model_bytes = (path / "model.pkl").read_bytes()
    with pytest.raises(ConfigError, match="already holds a finished run"):
        AutoML(**FAST, path=str(path), seed=1).fit(_frame(), target="target")
    assert (path / "model.pkl").read_bytes() == model_bytes
    m = AutoML(**FAST, path=str(path), seed=1, overwrite=True).fit(_frame(), target="target")
    assert m.trials()["run_id"].unique().tolist() == [m.run_id_]
    from forgeml import runs

    assert len(runs(path)) == 1


def test_a_finished_fit_keeps_no_copy_of_the_training_rows_alive(tmp_path):
    """After ``fit`` nothing may hold the run's own copies of the rows (its prepared frame, the trials' context):
    on a large table that is hundreds of megabytes the caller never sees. Optuna, first imported inside a fit,
    kept the traceback of an optional import with every frame then on the stack; a fresh interpreter is needed
    to see it, as any earlier import of Optuna in this process hides it."""
    script = textwrap.dedent("""
        import gc, sys
        import numpy as np, pandas as pd
        import forgeml
        from forgeml.evaluate.evaluator import EvalContext
        assert "optuna" not in sys.modules
        rng = np.random.default_rng(0)
        df = pd.DataFrame({"a": rng.normal(size=1000), "b": rng.choice(["x", "y"], 1000)})
        df["y"] = (df.a + rng.normal(0, 1, 1000) > 0).astype(int)
        model = forgeml.AutoML(max_trials=4, time_budget=60, families=["linear"], verbose=0, knowledge=None)
        model.fit(df, target="y")
        assert "optuna" in sys.modules  # the searcher's library was loaded during the fit
        gc.collect()
        alive = [o for o in gc.get_objects() if isinstance(o, EvalContext)]
        # (the report keeps a sample of 500 rows)
        frames = [o for o in gc.get_objects() if isinstance(o, pd.DataFrame) and len(o) > 500 and o is not df]
        print(len(alive), len(frames), model.predict(df.head(3)).shape)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env={**os.environ, "FORGEML_HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-3:] == ["0", "0", "(3,)"], out.stdout


def test_score_reads_the_target_from_a_frame_that_holds_it(fitted):
    """``fit(df, target=...)`` users score the same way: the frame alone, or the frame and the column's name."""
    df = _frame(60).assign(target=lambda d: 1 - d.target)  # every label flipped: a score far from perfect
    plain = fitted.score(df.drop(columns=["target"]), df.target)
    assert plain < 0.5
    assert fitted.score(df) == plain
    assert fitted.score(df, "target") == plain
    assert fitted.score(df.rename(columns={"target": "t2"}), "t2") == plain


def test_score_names_what_is_missing_or_mismatched(fitted):
    from forgeml import AutoClassifier
    from forgeml.errors import TargetError

    df = _frame(60)
    clf = AutoClassifier(**FAST).fit(df, target="target")
    with pytest.raises(DataError, match="X has 60 rows but y has 10"):
        clf.score(df.drop(columns=["target"]), df.target[:10])
    with pytest.raises(DataError, match="X has 2 rows but y has 1"):
        fitted.score([[0.1, 0.2], [0.3, 0.4]], [1])
    with pytest.raises(TargetError, match="y is None.*column 'target'"):
        fitted.score(df.drop(columns=["target"]))
    with pytest.raises(TargetError, match="string 'label'.*does not have"):
        fitted.score(df, "label")
    with pytest.raises(DataError, match="X has 60 rows but y has 10"):
        fitted.score(df.drop(columns=["target"]), df.target[:10])


def test_the_sklearn_style_scores_read_the_target_from_the_frame_too():
    from forgeml import AutoClassifier, AutoRegressor

    df = _frame(120)
    clf = AutoClassifier(**FAST).fit(df, target="target")
    test = _frame(60).assign(target=lambda d: np.where(np.arange(60) % 3 == 0, 1 - d.target, d.target))
    accuracy = float(np.mean(clf.predict(test.drop(columns=["target"])) == test.target))
    assert accuracy < 0.9  # a third of the labels flipped
    assert clf.score(test) == pytest.approx(accuracy)
    assert clf.score(test, "target") == clf.score(test.drop(columns=["target"]), test.target)
    reg = AutoRegressor(**FAST).fit(df.assign(target=df.a * 2 + df.b), target="target")
    test = test.assign(target=test.a * 2 + test.b)
    assert reg.score(test) == reg.score(test.drop(columns=["target"]), test.target) > 0.9


@pytest.mark.parametrize("ensemble", [False, True])
def test_the_leaderboard_marks_exactly_one_row_chosen_the_model_returned(ensemble):
    """A single pipeline kept without an ensemble row was marked nowhere (the served metadata and the report read
    the chosen row for the model's CV score)."""
    model = AutoML(**{**FAST, "max_trials": 3, "ensemble": ensemble}).fit(_frame(), target="target")
    board = model.leaderboard()
    chosen = board[board["chosen"] == True]  # noqa: E712
    assert len(chosen) == 1
    row = chosen.iloc[0]
    assert row["ensemble_weight"] == 1.0
    if not ensemble:  # the one pipeline returned is the trial marked
        assert row["family"] != "ensemble"
        assert list(model.best_pipeline_.member_ids) == [row["trial_id"]]
        assert board.loc[board["trial_id"] != row["trial_id"], "ensemble_weight"].eq(0).all()


def test_fit_on_duplicate_column_names_names_them():
    """The check existed in ``validate_training``, but reading the frame failed first with pandas' own
    AttributeError (a repeated name selects a frame, which has no ``dtype``)."""
    df = _frame()
    for bad, kw in ((pd.concat([df[["a"]], df], axis=1), {"target": "target"}),
                    (pd.concat([df, df[["target"]]], axis=1), {"target": "target"}),
                    (pd.concat([df[["a", "a"]], df[["b"]]], axis=1), {"y": df.target})):
        with pytest.raises(DataError, match="duplicate column names: '(a|target)'; rename them"):
            AutoML(**FAST).fit(bad, **kw)


def test_rows_as_a_list_of_dicts_are_refused_with_what_to_pass(fitted):
    with pytest.raises(DataError, match=r"list of dicts.*pandas.DataFrame\(X\)"):
        fitted.predict([{"a": 0.1, "b": 0.2}])
    assert len(fitted.predict(pd.DataFrame([{"a": 0.1, "b": 0.2}]))) == 1


def test_multiindex_columns_are_refused_before_any_trial():
    """Every trial failed on them (an unhashable column key) and the run spent its whole budget to say so."""
    df = _frame()
    df.columns = pd.MultiIndex.from_tuples([("x", "a"), ("x", "b"), ("t", "target")])
    with pytest.raises(DataError, match="MultiIndex.*flatten"):
        AutoML(**FAST).fit(df, target=("t", "target"))


def test_score_reads_one_row_and_a_file_as_predict_does(fitted, tmp_path):
    df = _frame(40)
    reg = AutoML(**{**FAST, "task": "regression"}).fit(df.assign(target=df.a + 2 * df.b), target="target")
    row = df.drop(columns=["target"]).iloc[0]
    one = reg.score(row, [5.0])  # RMSE of one row: the distance of its prediction from 5
    assert one == pytest.approx(abs(reg.predict(df.iloc[[0]])[0] - 5.0))
    assert one == reg.score(df.iloc[[0]].drop(columns=["target"]), [5.0])
    path = tmp_path / "test.csv"
    df.to_csv(path, index=False)
    assert fitted.score(str(path)) == pytest.approx(fitted.score(df))
