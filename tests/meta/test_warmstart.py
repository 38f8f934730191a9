"""A run starts from what similar past runs found, records where each trial came from, and stays reproducible
on the same data; a broken knowledge base never fails a fit."""
import numpy as np
import pandas as pd
import pytest

from forgeml import AutoML
from forgeml.errors import SearchWarning
from forgeml.meta.knowledge import KnowledgeBase
from forgeml.meta.warmstart import admissible


def _data(seed, n=300):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})
    df["y"] = np.where(df["a"] - 0.5 * df["b"] + rng.normal(scale=0.5, size=n) > 0, "p", "q")
    return df


def _fit(df, kb, **kw):
    kw = {"families": ["linear", "knn"], "max_trials": 6, "n_jobs": 1, "verbose": 0, "ensemble": None,
          "portfolio": None, "knowledge": kb, **kw}
    return AutoML(**kw).fit(df, target="y")


def _checker(seed, n=300):
    """A noise-free checkerboard: few neighbours do better than the families' defaults (k of 10 and 25)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})
    df["y"] = np.where(np.sin(3 * df["a"]) * np.sin(3 * df["b"]) > 0, "p", "q")
    return df


#: Not a default; on ``_checker`` data it beats them: evidence a later run can use
FEW_NEIGHBOURS = {"family": "knn", "knn.n_neighbors": 3, "knn.weights": "distance", "knn.p": 2}


def test_a_second_run_on_similar_data_starts_from_the_first_runs_best(tmp_path):
    kb = str(tmp_path / "kb.db")
    first = _fit(_checker(0), kb, max_trials=8, portfolio=[FEW_NEIGHBOURS])
    board = first.leaderboard()
    assert board.iloc[0]["source"] == "portfolio"  # what the first run found beyond the defaults
    best_first = board.iloc[0]["pipeline"]

    second = _fit(_checker(1), kb)
    board2 = second.leaderboard()
    trials = second.trials().query("kind == 'cv'").sort_values("trial_id")
    sources = board2.set_index("trial_id").loc[trials["trial_id"], "source"].tolist()
    # new rows of the same table: the first run's best goes first, before the defaults
    assert sources[0] == "neighbour" and sources.count("neighbour") >= 1
    assert best_first in set(board2.loc[board2["source"] == "neighbour", "pipeline"])
    with KnowledgeBase.open(kb) as base:
        assert len(base.runs()) == 2
        assert base.configs()["source"].isin(["neighbour", "default", "optimizer", "portfolio"]).all()
        learnt = len(base.observations(base.runs()["run_id"].iloc[:1].tolist()))
    # and the search's model began from every result of the first run (not only the configurations it re-ran)
    assert learnt >= 6
    # a default whose result on this table the model has learnt is not run again
    assert not set(board2.loc[board2["source"] == "default", "pipeline"]) & set(board["pipeline"])
    assert f"began from {learnt} results of past runs over the same table" in second.search_summary_
    assert "began from" not in first.search_summary_


def test_a_past_run_whose_defaults_were_best_offers_nothing_beyond_them_but_orders_its_own_table(tmp_path):
    """The defaults run anyway (sized to the new data): another table's defaults, or what did no better than them,
    is no evidence to start from. New rows of the same table start from its best, defaults included."""
    kb = str(tmp_path / "kb.db")
    first = _fit(_data(0), kb).leaderboard()
    assert set(first["source"]) <= {"default", "optimizer"} and first.iloc[0]["source"] == "default"
    other = _fit(_data(1).rename(columns={"a": "a2", "b": "b2", "c": "c2"}), kb).leaderboard()
    assert "neighbour" not in set(other["source"])
    same = _fit(_data(1), kb)
    trials = same.trials().query("kind == 'cv'").sort_values("trial_id")
    board = same.leaderboard().set_index("trial_id").loc[trials["trial_id"]]
    assert board["source"].iloc[0] == "neighbour" and board["pipeline"].iloc[0] == first.iloc[0]["pipeline"]


def test_the_same_data_twice_gives_the_same_leaderboard(tmp_path):
    kb = str(tmp_path / "kb.db")
    a = _fit(_data(0), kb).leaderboard()
    b = _fit(_data(0), kb).leaderboard()  # its own earlier run is not a neighbour
    cols = ["trial_id", "pipeline", "source", "cv_roc_auc"]
    pd.testing.assert_frame_equal(a[cols].reset_index(drop=True), b[cols].reset_index(drop=True))
    assert "neighbour" not in set(b["source"])


def test_a_resample_of_past_data_is_not_warm_started_from_it(tmp_path):
    """A run that saw these rows chose its configurations on them: a fold or subsample of the same data must not
    start from it (its test rows may be the past run's training rows); new rows of the same table may."""
    kb = str(tmp_path / "kb.db")
    full = _checker(0, n=400)
    assert _fit(full, kb, max_trials=8, portfolio=[FEW_NEIGHBOURS]).leaderboard().iloc[0]["source"] == "portfolio"
    sub = _fit(full.sample(frac=0.7, random_state=1), kb).leaderboard()
    assert "neighbour" not in set(sub["source"])
    fresh = _fit(_checker(5, n=400), kb).leaderboard()  # same columns, other rows
    assert "neighbour" in set(fresh["source"])


def test_overlap_estimates_the_share_of_common_rows():
    from forgeml.meta.warmstart import overlap, row_sketch

    a = _data(0, n=3000)
    full = row_sketch(a.drop(columns="y"), a["y"])
    half = a.iloc[:1500]
    other = _data(1, n=3000)
    assert overlap(full, full) == 1.0
    assert 0.35 < overlap(full, row_sketch(half.drop(columns="y"), half["y"])) < 0.65
    assert overlap(full, row_sketch(other.drop(columns="y"), other["y"])) == 0.0


def test_knowledge_none_writes_nothing_and_a_corrupt_base_is_a_cold_start(tmp_path, monkeypatch):
    monkeypatch.setenv("FORGEML_HOME", str(tmp_path / "home"))
    _fit(_data(0), None)
    assert not (tmp_path / "home").exists()
    _fit(_data(0), "auto")
    assert (tmp_path / "home" / "knowledge.db").exists()  # the default place

    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 500)
    with pytest.warns(SearchWarning, match="starts without past knowledge"):
        model = _fit(_data(0), str(bad))
    assert len(model.predict(_data(2).drop(columns="y"))) == 300


def test_past_configs_outside_this_space_are_dropped():
    from forgeml.data.infer import infer_schema
    from forgeml.models import get_families
    from forgeml.models.base import FitContext
    from forgeml.pipeline.joint import joint_space

    df = _data(0)
    schema = infer_schema(df, "y")
    ctx = FitContext(task="binary", n_rows=240, n_features=3, n_classes=2, seed=0, n_threads=1)
    space = joint_space(get_families(["linear"], ctx), schema, ctx)
    good = dict(space.default())
    assert admissible(space, good) == space.default()
    assert admissible(space, {**good, "family": "not_a_family"}) is None
    assert admissible(space, {"family": "linear", "linear.C": "high"}) is None
    assert admissible(space, {**good, "unknown.param": 1}) == space.default()  # unknown keys are ignored


def _space(families):
    from forgeml.data.infer import infer_schema
    from forgeml.models import get_families
    from forgeml.models.base import FitContext
    from forgeml.pipeline.joint import default_configs, joint_space

    schema = infer_schema(_data(0), "y")
    ctx = FitContext(task="binary", n_rows=240, n_features=3, n_classes=2, seed=0, n_threads=1)
    fams = get_families(families, ctx)
    return joint_space(fams, schema, ctx), default_configs(fams, schema, ctx)


def test_every_familys_first_default_runs_before_any_warm_start():
    from forgeml.meta.warmstart import warm_start

    space, defaults = _space(["linear", "knn", "random_forest"])
    fams = [d["family"] for d in defaults]
    first_linear = next(d for d in defaults if d["family"] == "linear")
    first_knn = next(d for d in defaults if d["family"] == "knn")
    lin = [{**first_linear, "linear.C": c} for c in (0.03, 0.3)]
    portfolio = [lin[0], lin[1], {**first_knn, "knn.n_neighbors": 9}]
    ws = warm_start(None, None, "roc_auc", space, defaults, sketch=[], portfolio=portfolio)
    got = [(c["family"], ws.source(c)) for c in ws.configs]
    # what a cold run starts with comes first (each family once, sized to this data), then the entries in their
    # order, then the families' other defaults
    assert got[:6] == [("linear", "default"), ("knn", "default"), ("random_forest", "default"),
                       ("linear", "portfolio"), ("linear", "portfolio"), ("knn", "portfolio")]
    assert [ws.configs[i]["linear.C"] for i in (3, 4)] == [0.03, 0.3] and len(got) == len(defaults) + 3
    assert all(s == "default" for _, s in got[6:])
    assert set(fams) == {f for f, _ in got}
    cold = warm_start(None, None, "roc_auc", space, defaults, sketch=[])
    assert [c.id for c in ws.configs if ws.source(c) == "default"] == [c.id for c in cold.configs]


def test_a_default_offered_again_keeps_its_place_and_is_recorded_as_a_default():
    from forgeml.meta.warmstart import warm_start

    space, defaults = _space(["linear", "knn"])
    first_knn = next(d for d in defaults if d["family"] == "knn")
    ws = warm_start(None, None, "roc_auc", space, defaults, sketch=[], portfolio=[dict(first_knn)])
    again = next(c for c in ws.configs if c.id == first_knn.id)
    assert len(ws.configs) == len(defaults)  # not tried twice
    # the leaderboard says who offered it; a knowledge base must know it is a default, or later runs would take
    # it (and whatever did no better) for evidence beyond the defaults
    assert ws.source(again) == "portfolio" and ws.recorded_source(again) == "default"
    other = next(c for c in ws.configs if c.id != first_knn.id)
    assert ws.recorded_source(other) == ws.source(other) == "default"


def test_a_neighbour_config_too_costly_for_this_budget_gives_way_to_its_best_affordable_one(tmp_path):
    from forgeml.meta.knowledge import ConfigRecord, RunRecord
    from forgeml.meta.metafeatures import MetaFeatures
    from forgeml.meta.warmstart import WARM_COST_SHARE, scaled_cost, warm_start

    space, defaults = _space(["linear"])
    base = next(d for d in defaults if d["family"] == "linear")
    slow, quick = {**base, "linear.C": 3.0}, {**base, "linear.C": 0.3}
    past = MetaFeatures("binary", {"log_rows": 3.0, "log_features": 1.0})
    here = MetaFeatures("binary", {"log_rows": 4.0, "log_features": 1.0})  # ten times the rows
    assert scaled_cost(2.0, past.values, here) == pytest.approx(20.0)
    assert scaled_cost(2.0, here.values, past) == pytest.approx(1.0)  # never below half: fixed costs stay
    records = [ConfigRecord(slow, score=0.9, loss=0.1, fit_time=2.0), ConfigRecord(quick, score=0.8, loss=0.2,
                                                                                   fit_time=0.2)]
    kb_path = tmp_path / "kb.db"
    with KnowledgeBase.open(kb_path) as kb:
        kb.add_run(RunRecord("past", "fp-past", "roc_auc", True, past, records, time_budget=60.0))
    with KnowledgeBase.open(kb_path) as kb:
        def chosen(budget):
            ws = warm_start(kb, here, "roc_auc", space, defaults, sketch=[], per_dataset=1, time_budget=budget)
            return [c["linear.C"] for c in ws.configs if ws.source(c) == "neighbour"]

        assert chosen(None) == [3.0]  # no budget: the best, whatever it cost
        assert chosen(20.0 / WARM_COST_SHARE) == [3.0]  # 20 s scaled: just affordable
        assert chosen(19.0 / WARM_COST_SHARE) == [0.3]  # 2 s there is 20 s here: too costly, the next best runs
        assert chosen(1.0) == []  # nothing that neighbour ran fits in 0.15 s
    farther = MetaFeatures("binary", {"log_rows": 5.5, "log_features": 1.0})
    with KnowledgeBase.open(kb_path) as kb:
        kb.add_run(RunRecord("far", "fp-far", "roc_auc", True, farther,
                             [ConfigRecord({**base, "linear.C": 0.03}, score=0.7, loss=0.3, fit_time=0.01)]))
    with KnowledgeBase.open(kb_path) as kb:
        ws = warm_start(kb, here, "roc_auc", space, defaults, sketch=[], k=1, per_dataset=1, time_budget=1.0)
        assert [n.dataset for n in ws.neighbours] == ["far"]  # the nearest has nothing affordable: the next one


def test_a_past_run_over_the_same_table_goes_first_with_more_of_its_configurations(tmp_path):
    from forgeml.meta.knowledge import ConfigRecord, RunRecord
    from forgeml.meta.metafeatures import MetaFeatures
    from forgeml.meta.warmstart import SAME_TABLE_CONFIGS, table_signature, warm_start

    space, defaults = _space(["linear", "knn"])
    base = next(d for d in defaults if d["family"] == "linear")
    mine = table_signature(["c", "a", "b"])
    assert mine == table_signature(["a", "b", "c"]) != table_signature(["a", "b", "d"])
    here = MetaFeatures("binary", {"log_rows": 3.0, "log_features": 0.5})

    def run(name, log_rows, columns, cs):
        records = [ConfigRecord({**base, "linear.C": c}, score=1 - i / 10, loss=i / 10, fit_time=0.01)
                   for i, c in enumerate(cs)]
        return RunRecord(name, f"fp-{name}", "roc_auc", True, MetaFeatures("binary", {"log_rows": log_rows,
                                                                                     "log_features": 0.5}),
                         records, columns=columns)

    path = tmp_path / "kb.db"
    with KnowledgeBase.open(path) as kb:
        kb.add_run(run("other", 3.0, table_signature(["x", "y", "z"]), [0.5]))  # nearer, other columns
        kb.add_run(run("same", 3.5, mine, [0.01, 0.02, 0.05, 0.1, 0.2, 0.4]))
    with KnowledgeBase.open(path) as kb:
        ws = warm_start(kb, here, "roc_auc", space, defaults, sketch=[], per_dataset=1, columns=mine)
        assert [(n.dataset, n.same_table) for n in ws.neighbours] == [("same", True), ("other", False)]
        head = [(ws.source(c), c.get("linear.C")) for c in ws.configs[:SAME_TABLE_CONFIGS + 1]]
        # the same table's best first, before any default; then the usual order (a family's default first)
        assert head == [("neighbour", c) for c in (0.01, 0.02, 0.05, 0.1)] + [("default", base["linear.C"])]
        assert [c.get("linear.C") for c in ws.configs if ws.source(c) == "neighbour"] == [0.01, 0.02, 0.05, 0.1, 0.5]
        # every result of the same table (not the other's) is what the search learns first, best first
        # (seconds scaled to this data: 0.01 s on 10^3.5 rows is 0.01 / 10^0.5 s on 10^3; never below half)
        assert [(c.get("linear.C"), loss, cost) for c, loss, cost in ws.prior] == [
            (c, i / 10, 0.005) for i, c in enumerate((0.01, 0.02, 0.05, 0.1, 0.2, 0.4))]
        assert [c.get("linear.C") for c in ws.rerun] == [0.01, 0.02, 0.05, 0.1]  # of those, run again here
        cold_order = warm_start(kb, here, "roc_auc", space, defaults, sketch=[], per_dataset=1)  # columns unknown
        assert [n.dataset for n in cold_order.neighbours] == ["other", "same"]
        assert ws.source(cold_order.configs[0]) == "default" and cold_order.prior == []


def test_a_portfolio_entry_the_budget_cannot_afford_here_is_left_out():
    from forgeml.meta.warmstart import WARM_COST_SHARE, warm_start

    space, defaults = _space(["linear"])
    base = next(d for d in defaults if d["family"] == "linear")
    slow, quick, given = ({**base, "linear.C": c} for c in (3.0, 0.3, 0.03))
    # slow took 2 s on a tenth of these rows (20 s here); quick 0.1 s on as many rows; given has no recorded cost
    costs = [{"seconds": 2.0, "log_rows": 2.0, "log_features": 1.0},
             {"seconds": 0.1, "log_rows": 3.0, "log_features": 1.0}, None]
    here = {"log_rows": 3.0, "log_features": 1.0}

    def entries(budget):
        ws = warm_start(None, None, "roc_auc", space, defaults, sketch=[], portfolio=[slow, quick, given],
                        portfolio_costs=costs, size=here, time_budget=budget)
        return [c["linear.C"] for c in ws.configs if ws.source(c) == "portfolio"]

    assert entries(None) == [3.0, 0.3, 0.03]  # no budget: everything, in order
    assert entries(20.0 / WARM_COST_SHARE) == [3.0, 0.3, 0.03]  # 20 s here: just affordable
    assert entries(19.0 / WARM_COST_SHARE) == [0.3, 0.03]
    assert entries(0.5) == [0.03]  # an entry without a cost is the user's choice: it runs
    ws = warm_start(None, None, "roc_auc", space, defaults, sketch=[], portfolio=[slow], portfolio_costs=costs[:1],
                    time_budget=1.0)
    assert [c["linear.C"] for c in ws.configs if ws.source(c) == "portfolio"] == [3.0]  # size unknown: no guard


def test_the_same_tables_configurations_may_take_a_larger_share_of_the_budget(tmp_path):
    from forgeml.meta.knowledge import ConfigRecord, RunRecord
    from forgeml.meta.metafeatures import MetaFeatures
    from forgeml.meta.warmstart import SAME_TABLE_COST_SHARE, WARM_COST_SHARE, table_signature, warm_start

    assert SAME_TABLE_COST_SHARE > WARM_COST_SHARE
    space, defaults = _space(["linear"])
    base = next(d for d in defaults if d["family"] == "linear")
    mf = MetaFeatures("binary", {"log_rows": 3.0, "log_features": 0.5})
    mine = table_signature(["a", "b"])
    budget = 10.0
    seconds = budget * (WARM_COST_SHARE + SAME_TABLE_COST_SHARE) / 2  # between the two shares
    path = tmp_path / "kb.db"
    with KnowledgeBase.open(path) as kb:
        for name, columns, c in (("same", mine, 0.02), ("other", table_signature(["x"]), 0.5)):
            kb.add_run(RunRecord(name, f"fp-{name}", "roc_auc", True, mf,
                                 [ConfigRecord({**base, "linear.C": c}, score=0.9, loss=0.1, fit_time=seconds)],
                                 columns=columns))
    with KnowledgeBase.open(path) as kb:
        ws = warm_start(kb, mf, "roc_auc", space, defaults, sketch=[], per_dataset=1, columns=mine,
                        time_budget=budget)
        assert [(n.dataset, n.same_table) for n in ws.neighbours] == [("same", True)]  # the other is too costly
        ws = warm_start(kb, mf, "roc_auc", space, defaults, sketch=[], per_dataset=1, columns=mine,
                        time_budget=seconds / SAME_TABLE_COST_SHARE * 0.9)
        # beyond the same table's share too: nothing to run, but its result is still what the search learns first
        assert [(n.dataset, n.configs) for n in ws.neighbours] == [("same", [])]
        assert not [c for c in ws.configs if ws.source(c) == "neighbour"]
        assert [(c["linear.C"], loss, cost) for c, loss, cost in ws.prior] == [(0.02, 0.1, seconds)]


def test_past_results_of_the_same_table_are_averaged_and_thinned_evenly(tmp_path):
    from forgeml.meta.knowledge import ConfigRecord, RunRecord
    from forgeml.meta.metafeatures import MetaFeatures

    def rec(c, loss):
        return ConfigRecord({"family": "linear", "linear.C": float(c)}, score=None, loss=loss, fit_time=c + 1)

    mf = MetaFeatures("binary", {"log_rows": 3.0})
    runs = [[rec(0, 0.3), rec(1, 0.1), rec(2, 0.2), rec(3, 0.3), rec(4, 0.4), rec(99, None)],
            [rec(0, 0.5), rec(4, 0.6), rec(5, 0.7), rec(6, 0.8), rec(7, 0.9), rec(99, None)]]
    path = tmp_path / "kb.db"
    with KnowledgeBase.open(path) as kb:
        for i, records in enumerate(runs):
            kb.add_run(RunRecord(f"r{i}", f"fp{i}", "roc_auc", True, mf, records))
        ids = kb.runs()["run_id"].tolist()
        seen = [(c["linear.C"], round(v, 9)) for c, v, _ in kb.observations(ids)]
        assert all(t == c["linear.C"] + 1 for c, _, t in kb.observations(ids))  # each one's seconds
        # a configuration evaluated in both runs counts once, at its mean loss; one without a loss is left out
        assert seen == [(1.0, 0.1), (2.0, 0.2), (3.0, 0.3), (0.0, 0.4), (4.0, 0.5), (5.0, 0.7), (6.0, 0.8),
                        (7.0, 0.9)]
        thin = [(c["linear.C"], round(v, 9)) for c, v, _ in kb.observations(ids, limit=3)]
        assert thin == [(1.0, 0.1), (4.0, 0.5), (7.0, 0.9)]  # best, middle and worst kept
        assert kb.observations([]) == []
