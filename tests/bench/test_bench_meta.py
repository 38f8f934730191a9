"""The portfolio build and the leave-one-dataset-out evaluation, end to end on two small real datasets."""
import json

import numpy as np
import pandas as pd
from tests.conftest import SHARED

from forgeml import AutoML
from forgeml.bench import meta
from forgeml.bench.suite import read_suite
from forgeml.meta.knowledge import KnowledgeBase

FAST = {"families": ["linear", "knn"], "n_jobs": 1, "verbose": 0, "ensemble": None}


def test_portfolio_build_and_leave_one_out_never_use_the_left_out_dataset(tmp_path):
    datasets, root = read_suite(SHARED)
    datasets = [e for e in datasets if e["name"] in ("wine", "penguins")]
    runs = tmp_path / "runs"
    for e in datasets:  # what `forgeml bench` leaves: one run per dataset, on its training split
        train, _ = meta.load_train_test(e, root)
        AutoML(max_trials=4, knowledge=None, portfolio=None, path=str(runs / f"{e['name']}-auto"),
               time_budget=None, **FAST).fit(train, target=e["target"])
    cands = meta.candidates(runs, datasets, per_dataset=2)
    assert [c["dataset"] for c in cands] == ["wine", "wine", "penguins", "penguins"]
    assert all(c["config"]["family"] in ("linear", "knn") for c in cands)

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

    frame = meta.leave_one_out(SHARED, runs, out, time_budget=None, only=["wine"],
                               fit_options={**FAST, "max_trials": 3})
    assert list(frame["dataset"]) == ["wine"] and frame[["cold", "warm"]].notna().all().all()
    with KnowledgeBase.open(out / "loo" / "knowledge-without-wine.db") as kb:
        assert "wine" not in set(kb.runs()["dataset"])
    with KnowledgeBase.open(out / "knowledge.db") as kb:
        assert set(kb.runs()["dataset"]) == {"wine", "penguins"}
    md = (out / "loo.md").read_text()
    assert "| wine |" in md and "warm better on" in md
    warm = pd.read_csv(out / "loo" / "wine-warm" / "leaderboard.csv")
    assert set(warm["source"]) & {"neighbour", "portfolio"}  # the warm arm did start from past knowledge
    cold = pd.read_csv(out / "loo" / "wine-cold" / "leaderboard.csv")
    assert not set(cold["source"]) & {"neighbour", "portfolio"}


def test_reached_at_is_the_first_full_fidelity_completion_at_or_past_the_target():
    t = pd.DataFrame({"kind": ["cv"] * 4 + ["refit"], "status": ["complete", "failed", "complete", "complete",
                                                                  "complete"],
                      "fidelity": [1.0, 1.0, 0.3, 1.0, 1.0], "score": [0.7, 0.9, 0.95, 0.85, 0.99],
                      "ended_at": [10.0, 11.0, 12.0, 14.0, 15.0]})
    assert meta.reached_at(t, 9.0, 0.8, True) == 5.0  # the failed and low-fidelity trials do not count
    assert meta.reached_at(t, 9.0, 0.99, True) is None
    assert meta.reached_at(t, 9.0, 0.75, False) == 1.0


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
