"""The portfolio build and the leave-one-dataset-out evaluation, end to end on two small real datasets."""
import json

import numpy as np
import pandas as pd
import pytest
from tests.conftest import SHARED

from forgeml import AutoML
from forgeml.bench import meta
from forgeml.bench.suite import read_suite
from forgeml.meta.knowledge import KnowledgeBase

FAST = {"families": ["linear", "knn"], "n_jobs": 1, "verbose": 0, "ensemble": None}


#: Not a default (C=1 and C=10 are); on penguins it beats them: something past runs can pass on
STRONGER = {"family": "linear", "linear.C": 100.0, "linear.penalty": "l2", "linear.class_weight": "none"}


def test_portfolio_build_and_leave_one_out_never_use_the_left_out_dataset(tmp_path):
    datasets, root = read_suite(SHARED)
    datasets = [e for e in datasets if e["name"] in ("wine", "penguins")]
    runs = tmp_path / "runs"
    for e in datasets:  # what `forgeml bench` leaves: one run per dataset, on its training split
        train, _ = meta.load_train_test(e, root)
        AutoML(max_trials=4, knowledge=None, portfolio=[STRONGER] if e["name"] == "penguins" else None,
               path=str(runs / f"{e['name']}-auto"), time_budget=None, **FAST).fit(train, target=e["target"])
    cands = meta.candidates(runs, datasets, per_dataset=2)
    assert [c["dataset"] for c in cands] == ["wine", "wine", "penguins", "penguins"]
    assert all(c["config"]["family"] in ("linear", "knn") for c in cands)
    assert cands[2]["config"]["linear.C"] == 100.0  # penguins' best
    costed = meta.candidates(runs, datasets, per_dataset=2, root=root)
    assert [c["config"] for c in costed] == [c["config"] for c in cands]
    sizes = {e["name"]: len(meta.load_train_test(e, root)[0]) for e in datasets}
    for c in costed:  # what the configuration cost in its run, and that data's size: a run scales it to its own
        assert c["cost"]["seconds"] > 0 and c["cost"]["log_rows"] == pytest.approx(np.log10(sizes[c["dataset"]]),
                                                                                      abs=1e-3)

    out = tmp_path / "build"
    out.mkdir()
    (out / "candidates.json").write_text(json.dumps(cands, default=str))
    matrix = meta.score_matrix(cands, datasets, root, out / "matrix.csv", timeout=60)
    table, higher = meta.wide(matrix)
    assert table.shape == (4, 2) and np.isfinite(table.to_numpy()).all()
    assert higher == {"wine": False, "penguins": False}  # log loss
    # each dataset's own best candidate re-scores (same folds, same seed) as it did in its run
    for i in (0, 2):
        assert abs(table.loc[i, cands[i]["dataset"]] - cands[i]["cv_score"]) < 1e-6
    full = meta.build_portfolio(cands, matrix, size=4)
    assert 1 <= len(full) <= 4 and full[0]["mean_norm"] <= full[-1]["mean_norm"]
    held_out = meta.build_portfolio(cands, matrix, size=4, exclude="wine")
    assert held_out and all(p["from"] == "penguins" for p in held_out)

    # what the defaults got in each run: wine's best trial was a default; on penguins the entry beat them
    zero = meta.default_scores(out, datasets, root, runs)
    assert zero["wine"] == pytest.approx(cands[0]["cv_score"]) and zero["penguins"] > cands[2]["cv_score"]
    assert meta.default_scores(out, datasets, root, runs) == zero  # read back from OUT/defaults.json
    # credit only for beating the defaults: on wine nothing does, on penguins only the entry
    added = meta.build_portfolio(cands, matrix, size=4, zero=zero)
    assert [p["config"]["linear.C"] for p in added] == [100.0] and 0 < added[0]["mean_norm"] <= 0.5
    assert meta.build_portfolio(costed, matrix, size=4, zero=zero)[0]["cost"] == costed[2]["cost"]

    frame = meta.leave_one_out(SHARED, runs, out, time_budget=None, only=["wine"], seeds=(0, 1),
                               fit_options={**FAST, "max_trials": 3})
    assert list(frame["dataset"]) == ["wine", "wine"] and list(frame["seed"]) == [0, 1]
    assert frame[["cold", "warm"]].notna().all().all() and frame["cold"].nunique() == 2  # two splits
    with KnowledgeBase.open(out / "loo" / "knowledge-without-wine.db") as kb:
        assert "wine" not in set(kb.runs()["dataset"])
    with KnowledgeBase.open(out / "knowledge.db") as kb:
        assert set(kb.runs()["dataset"]) == {"wine", "penguins"}
        sources = kb.configs()["source"].value_counts().to_dict()
    assert sources == {"default": 7, "bench": 1}  # each run's defaults are marked, so neighbours can skip them
    md = (out / "loo.md").read_text()
    assert "| wine |" in md and "warm better on" in md and "seed by seed: warm better on" in md
    for seed in (0, 1):
        assert len(meta.leave_one_out(SHARED, runs, out, only=["wine"], seeds=(seed,))) == 2  # resumed: no fit
    warm = pd.read_csv(out / "loo" / "wine-warm" / "leaderboard.csv")
    # after the two defaults, penguins' entry (a neighbour's configuration that beat its defaults, and the portfolio)
    assert sorted(warm["source"]) == ["default", "default", "neighbour"]
    cold = pd.read_csv(out / "loo" / "wine-cold" / "leaderboard.csv")
    assert set(cold["source"]) == {"default"}


def test_a_leave_one_out_table_without_seeds_reads_as_seed_0():
    rows = pd.DataFrame({"dataset": ["wine", "hi"], "task": ["multiclass", "regression"],
                         "metric": ["log_loss", "rmse"], "cold": [0.10, 14.0], "warm": [0.08, 15.0],
                         "warm_best_source": ["portfolio", "default"]})
    one = meta.summarize_loo(rows)
    assert "| wine | log_loss | 0.1000 | 0.0800 | portfolio | warm |" in one and "seed by seed" not in one
    assert "warm better on 1/2 datasets (50%)" in one
    two = meta.summarize_loo(pd.concat([rows.assign(seed=np.nan), rows.assign(seed=1, warm=[0.12, 13.0])]))
    # means over the seeds: wine 0.10 against 0.10 (a tie), hi 14.0 against 14.0 (a tie)
    assert "| wine | log_loss | 0.1000 | 0.1000 | portfolio/portfolio | tie | 2 |" in two
    assert "tied on 2" in two and "seed by seed: warm better on 2/4 runs" in two and "(seeds 0, 1)" in two
    assert meta.summarize_loo(rows.iloc[:0]) == "no dataset evaluated yet"


def test_reached_at_is_the_first_full_fidelity_completion_at_or_past_the_target():
    t = pd.DataFrame({"kind": ["cv"] * 4 + ["refit"], "status": ["complete", "failed", "complete", "complete",
                                                                  "complete"],
                      "fidelity": [1.0, 1.0, 0.3, 1.0, 1.0], "score": [0.7, 0.9, 0.95, 0.85, 0.99],
                      "ended_at": [10.0, 11.0, 12.0, 14.0, 15.0]})
    assert meta.reached_at(t, 9.0, 0.8, True) == 5.0  # the failed and low-fidelity trials do not count
    assert meta.reached_at(t, 9.0, 0.99, True) is None
    assert meta.reached_at(t, 9.0, 0.75, False) == 1.0


def test_anytime_reads_a_best_so_far_curve_at_given_times():
    curve = [(1.5, 0.9), (4.0, 0.8), (4.0, 0.7), (12.0, 0.6)]
    assert meta.anytime(curve, [1, 1.5, 2, 4, 11.9, 30]) == [None, 0.9, 0.9, 0.7, 0.7, 0.6]
    assert meta.anytime([], [5]) == [None]


def test_second_run_on_the_other_half_starts_from_the_first_runs_knowledge(tmp_path):
    datasets, root = read_suite(SHARED)
    wine = next(e for e in datasets if e["name"] == "wine")
    r = meta.second_run(wine, root, tmp_path, time_budget=None, fit_options={**FAST, "max_trials": 3})
    with KnowledgeBase.open(tmp_path / "wine-knowledge.db") as kb:  # the first run is remembered, defaults marked
        assert len(kb.runs()) == 2 and (kb.configs()["source"] == "default").sum() >= 3
    assert "neighbour" in r["second_sources"]  # the same table: its best go first, defaults included
    for arm in ("first", "cold", "second"):
        scores = [s for _, s in r["curves"][arm]]
        assert scores == sorted(scores, reverse=True)  # best-so-far log loss never gets worse
    assert r["cold_reached_s"] is not None and r["cold_final"] == r["curves"]["cold"][-1][1]
    # one standard error of the cold run's best trial: positive (its folds differ), and reaching within it can only
    # come sooner than reaching the final itself
    assert r["cold_se"] > 0 and r["cold_reached_1se_s"] <= r["cold_reached_s"]
    assert r["second_reached_1se_s"] is None or r["second_reached_s"] is None \
        or r["second_reached_1se_s"] <= r["second_reached_s"]
    assert r["first_reached_s"] is not None  # the first run reaches its own final
