"""The zero-shot portfolio: greedy construction over a score matrix, loading, and its place in a run's start."""
import json
import os

import numpy as np
import pandas as pd
import pytest

from forgeml import AutoML
from forgeml.errors import ConfigError, SearchWarning
from forgeml.meta import portfolio as pf


def test_normalise_puts_the_best_at_one_the_median_and_below_at_zero_and_respects_direction():
    scores = pd.DataFrame({"auc": [0.9, 0.8, 0.7, 0.5, np.nan], "rmse": [1.0, 2.0, 3.0, 4.0, 5.0]})
    norm = pf.normalise(scores, {"auc": True, "rmse": False})
    assert norm["auc"].tolist() == pytest.approx([1.0, 1 / 3, 0.0, 0.0, 0.0])  # median of those that ran; NaN is 0
    assert norm["rmse"].tolist() == pytest.approx([1.0, 0.5, 0.0, 0.0, 0.0])  # median 3.0; best is the lowest
    flat = pf.normalise(pd.DataFrame({"d": [0.7, 0.7, 0.6]}), {"d": True})
    assert flat["d"].tolist() == [1.0, 1.0, 0.0]  # no spread above the median: the best ones get 1


def test_normalise_from_the_defaults_credits_only_what_beats_them_in_proportion():
    scores = pd.DataFrame({"auc": [0.9, 0.8, 0.7, 0.5], "rmse": [1.0, 2.0, 3.0, 4.0], "flat": [0.8, 0.7, 0.7, 0.6],
                           "none": [0.7, 0.6, 0.5, 0.4]})
    zero = {"auc": 0.6, "rmse": 2.2, "flat": 0.85}  # "none" has no default score: the median stays its zero
    norm = pf.normalise(scores, {"auc": True, "rmse": False, "flat": True, "none": True}, zero)
    # the defaults (0.6) are below the median (0.75): zero at 0.6, the best at 1
    assert norm["auc"].tolist() == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])
    # the defaults (2.2) are better than the median (2.5): the spread (best - median = 1.5) stays the scale, so
    # the best earns (2.2 - 1.0) / 1.5 only, and a candidate worse than the defaults nothing
    assert norm["rmse"].tolist() == pytest.approx([0.8, 0.2 / 1.5, 0.0, 0.0])
    assert norm["flat"].tolist() == [0.0] * 4  # nothing beats the defaults: nothing to add there
    assert norm["none"].tolist() == pytest.approx([1.0, 1 / 3, 0.0, 0.0])  # median 0.55


def test_greedy_covers_datasets_not_just_the_best_on_average():
    # a is good everywhere but never best; b and c are each best on half of the datasets
    norm = pd.DataFrame([[0.7, 0.7, 0.7, 0.7], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [0.6, 0.6, 0.6, 0.6]],
                        index=["a", "b", "c", "d"], columns=list("wxyz"))
    chosen = pf.greedy(norm, 4)
    assert [c for c, _ in chosen] == ["a", "b", "c"]  # then d adds nothing: the portfolio stops early
    assert [m for _, m in chosen] == pytest.approx([0.7, 0.85, 1.0])
    assert pf.greedy(norm, 1) == chosen[:1] and pf.greedy(norm.iloc[:0], 3) == []
    assert pf.greedy(norm * 0, 3) == []  # nothing earns anything: no entry


def test_load_reads_a_written_portfolio_and_warns_instead_of_failing(tmp_path):
    path = tmp_path / "p.json"
    pf.write(path, [{"config": {"family": "linear"}}, {"config": {"family": "knn"}}], built_from=["x"])
    assert pf.load(str(path)) == [{"family": "linear"}, {"family": "knn"}]
    assert pf.load(None) == [] and pf.load([{"family": "knn"}]) == [{"family": "knn"}]
    path.write_text("{broken")
    with pytest.warns(SearchWarning, match="cannot read the portfolio"):
        assert pf.load(path) == []
    path.write_text(json.dumps({"format": pf.FORMAT + 1, "entries": []}))
    with pytest.warns(SearchWarning, match="newer forgeml"):
        assert pf.load(path) == []
    with pytest.warns(SearchWarning, match="no portfolio at"):
        assert pf.load(tmp_path / "missing.json") == []


def test_load_entries_gives_each_configuration_its_recorded_cost(tmp_path):
    path = tmp_path / "p.json"
    cost = {"seconds": 1.5, "log_rows": 3.0, "log_features": 1.2}
    pf.write(path, [{"config": {"family": "linear"}, "cost": cost}, {"config": {"family": "knn"}},
                    {"config": {"family": "svm"}, "cost": {"seconds": "slow"}},
                    {"config": {"family": "mlp"}, "cost": {**cost, "seconds": -1}}], built_from=["x"])
    assert pf.load_entries(path) == [({"family": "linear"}, cost), ({"family": "knn"}, None),
                                     ({"family": "svm"}, None), ({"family": "mlp"}, None)]  # malformed: no cost
    assert pf.load(path) == [{"family": f} for f in ("linear", "knn", "svm", "mlp")]
    assert pf.load_entries([{"family": "knn"}]) == [({"family": "knn"}, None)]  # given in code: no cost
    assert all(cost is not None for _, cost in pf.load_entries("auto") if os.environ.get(pf.ENV) is None)


def test_the_shipped_portfolio_is_valid_and_loads():
    entries = pf.load("auto")
    assert entries, "forgeml ships a zero-shot portfolio (scripts/build_portfolio.py --install)"
    assert all(isinstance(e, dict) and e.get("family") for e in entries)


def _frame(n=240, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    df["y"] = np.where(df["a"] + rng.normal(scale=0.7, size=n) > 0, "p", "q")
    return df


def test_a_run_tries_the_portfolio_first_skipping_entries_its_space_cannot_take():
    portfolio = [{"family": "svm"},  # not searched here: skipped
                 {"family": "linear", "linear.C": 0.05},
                 {"family": "knn", "knn.n_neighbors": 7}]
    m = AutoML(families=["linear", "knn"], max_trials=5, n_jobs=1, verbose=0, ensemble=None, knowledge=None,
               portfolio=portfolio).fit(_frame(), target="y")
    trials = m.trials().query("kind == 'cv'").sort_values("trial_id")
    board = m.leaderboard().set_index("trial_id").loc[trials["trial_id"]]
    # the families' first defaults (sized to this data: they measure each family's cost), then the entries
    assert board["source"].tolist()[:4] == ["default", "default", "portfolio", "portfolio"]
    assert board["family"].tolist()[:4] == ["linear", "knn", "linear", "knn"]
    assert trials["config"].iloc[2]["linear.C"] == 0.05 and trials["config"].iloc[3]["knn.n_neighbors"] == 7
    cold = AutoML(families=["linear", "knn"], max_trials=3, n_jobs=1, verbose=0, ensemble=None, knowledge=None,
                  portfolio=None).fit(_frame(), target="y")
    assert "portfolio" not in set(cold.leaderboard()["source"])


def test_a_bad_portfolio_argument_is_refused_up_front():
    with pytest.raises(ConfigError, match="portfolio must be"):
        AutoML(portfolio=42).fit(_frame(), target="y")


def test_a_portfolio_file_of_the_wrong_shape_is_a_warning_and_malformed_entries_are_skipped(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps([{"family": "linear"}]))  # a bare list of configs is not a portfolio file
    with pytest.warns(SearchWarning, match="not a portfolio"):
        assert pf.load(path) == []
    path.write_text(json.dumps({"format": 1, "entries": [{"config": {"family": "knn"}}, {"nope": 1}, "x"]}))
    assert pf.load(path) == [{"family": "knn"}]


def test_a_familys_default_runs_before_its_costlier_entries_even_when_it_is_a_later_entry_itself():
    plain = AutoML(families=["knn"], max_trials=1, n_jobs=1, verbose=0, ensemble=None, knowledge=None,
                   portfolio=None).fit(_frame(), target="y")
    default = plain.trials().query("kind == 'cv'")["config"].iloc[0]
    other = {**default, "knn.n_neighbors": 3 if default["knn.n_neighbors"] != 3 else 5}
    m = AutoML(families=["knn"], max_trials=2, n_jobs=1, verbose=0, ensemble=None, knowledge=None,
               portfolio=[other, default]).fit(_frame(), target="y")
    configs = m.trials().query("kind == 'cv'").sort_values("trial_id")["config"].tolist()
    assert configs[0] == default and configs[1]["knn.n_neighbors"] == other["knn.n_neighbors"]
    assert set(m.leaderboard()["source"]) == {"portfolio"}  # the default is a portfolio entry too: it keeps that


def test_forgeml_portfolio_in_the_environment_replaces_what_auto_means(tmp_path, monkeypatch):
    own = tmp_path / "own.json"
    pf.write(own, [{"config": {"family": "knn"}}], built_from=["mine"])
    shipped = pf.load("auto")
    monkeypatch.setenv("FORGEML_PORTFOLIO", str(own))
    assert pf.load("auto") == [{"family": "knn"}]
    assert pf.load(None) == [] and pf.load([{"family": "linear"}]) == [{"family": "linear"}]  # explicit wins
    monkeypatch.setenv("FORGEML_PORTFOLIO", "none")
    assert pf.load("auto") == []
    monkeypatch.setenv("FORGEML_PORTFOLIO", str(tmp_path / "missing.json"))
    with pytest.warns(SearchWarning, match="no portfolio at"):
        assert pf.load("auto") == []
    monkeypatch.delenv("FORGEML_PORTFOLIO")
    assert pf.load("auto") == shipped
