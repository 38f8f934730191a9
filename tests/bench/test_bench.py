"""`forgeml bench`: the suite runner and the strategy comparison, on one small real dataset."""
import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from tests.conftest import SHARED

from forgeml.bench.runner import run_bench
from forgeml.bench.strategies import GRID, anytime, mean_curves, normalized_scores


def test_normalised_scores_and_curves_on_a_hand_made_frame():
    frame = pd.DataFrame([
        {"dataset": "a", "system": "constant", "task": "binary", "test_score": 0.5},
        {"dataset": "a", "system": "forgeml[x]", "task": "binary", "test_score": 0.9,
         "anytime": json.dumps([None] + [0.8] * (len(GRID) - 1))},
        {"dataset": "a", "system": "forgeml[y]", "task": "binary", "test_score": 0.7,
         "anytime": json.dumps([0.6] * len(GRID))},
        {"dataset": "b", "system": "constant", "task": "regression", "test_score": 10.0},
        {"dataset": "b", "system": "forgeml[x]", "task": "regression", "test_score": 6.0, "anytime": None},
        {"dataset": "b", "system": "forgeml[y]", "task": "regression", "test_score": 2.0, "anytime": None},
    ])
    higher = {"binary": True, "regression": False}
    f = normalized_scores(frame, higher).set_index(["dataset", "system"])
    assert f.loc[("a", "forgeml[x]"), "norm"] == pytest.approx(1.0)
    assert f.loc[("a", "forgeml[y]"), "norm"] == pytest.approx(0.5)
    assert f.loc[("b", "forgeml[y]"), "norm"] == pytest.approx(1.0)
    assert f.loc[("b", "forgeml[x]"), "norm"] == pytest.approx(0.5)
    assert f.loc[("a", "forgeml[x]"), "rank"] == 1 and f.loc[("b", "forgeml[x]"), "rank"] == 2
    curves = mean_curves(frame, higher)
    assert curves["forgeml[x]"][0] == 0.0 and curves["forgeml[x]"][-1] == pytest.approx(1.0)
    assert curves["forgeml[y]"][-1] == pytest.approx(0.0)


def test_anytime_is_monotone_best_so_far():
    t = pd.DataFrame({"kind": "cv", "status": "complete", "fidelity": 1.0,
                      "ended_at": [101.0, 105.0, 109.0], "score": [0.7, 0.9, 0.8]})
    curve = anytime(t, start=100.0, budget=10.0, greater_is_better=True)
    assert curve[0] is None and curve[-1] == 0.9
    seen = [c for c in curve if c is not None]
    assert seen == sorted(seen)


@pytest.mark.slow
def test_bench_compares_strategies_on_a_real_dataset(tmp_path):
    frame = run_bench(str(SHARED / "manifest.json"), str(tmp_path), time_budget=5, only=["wine"],
                      search="random,auto")
    assert set(frame.system) == {"constant", "lightgbm", "forgeml[random]", "forgeml[auto]"}
    fm = frame[frame.system.str.startswith("forgeml")]
    assert fm["test_score"].notna().all() and (fm["wall_over_budget"] < 1.05 + 5 / 5).all()
    md = (tmp_path / "results.md").read_text()
    assert "forgeml[random]" in md and "mean rank" in md
    svg = ET.fromstring((tmp_path / "anytime.svg").read_text())
    # two axes, plus one curve per strategy once any trial finished in time (on a loaded machine, 5 s may see
    # none: the count follows what the runs recorded, not how fast this machine is)
    finished = any(v is not None for a in fm["anytime"] for v in json.loads(a))
    lines = [e for e in svg.iter() if e.tag.endswith("polyline")]
    assert svg.tag.endswith("svg") and len(lines) == 2 + (2 if finished else 0)
    # Resuming with one more strategy runs only that one and keeps the earlier rows as they were.
    again = run_bench(str(SHARED / "manifest.json"), str(tmp_path), time_budget=5, only=["wine"],
                      search="random,auto,evolution", resume=True)
    assert len(again) == len(frame) + 1 and "forgeml[evolution]" in set(again.system)
    kept = again.set_index("system").loc["forgeml[random]", "fit_wall_s"]
    assert kept == pytest.approx(frame.set_index("system").loc["forgeml[random]", "fit_wall_s"])
    assert "3 datasets" not in (tmp_path / "results.md").read_text()
    assert "1 datasets with every strategy" in (tmp_path / "results.md").read_text()


def test_paired_table_counts_wins_and_treats_failures_as_constant():
    from forgeml.bench.strategies import paired_table, strategy_table

    rows = []
    for i in range(6):  # auto beats x on five datasets; on the sixth x failed
        rows += [{"dataset": f"d{i}", "system": "constant", "task": "binary", "test_score": 0.5},
                 {"dataset": f"d{i}", "system": "forgeml[auto]", "task": "binary", "test_score": 0.9,
                  "wall_over_budget": 1.0},
                 {"dataset": f"d{i}", "system": "forgeml[x]", "task": "binary",
                  "test_score": 0.8 if i < 5 else float("nan"), "wall_over_budget": 1.0}]
    frame = pd.DataFrame(rows)
    higher = {"binary": True}
    table = paired_table(frame, higher)
    assert "| forgeml[x] | 6 | 0 | 0 |" in table  # the failure counts as a loss for x
    f = normalized_scores(frame, higher).set_index(["dataset", "system"])
    assert f.loc[("d5", "forgeml[x]"), "norm"] == 0.0 and f.loc[("d5", "forgeml[x]"), "rank"] == 2
    assert "| forgeml[x] | 0.625 | 2.00 |" in strategy_table(frame, higher)
    # every strategy failed, or none beat the constant: scores stay finite and ordered
    bad = pd.DataFrame([{"dataset": "z", "system": "constant", "task": "binary", "test_score": 0.5},
                        {"dataset": "z", "system": "forgeml[a]", "task": "binary", "test_score": 0.40},
                        {"dataset": "z", "system": "forgeml[b]", "task": "binary", "test_score": 0.45},
                        {"dataset": "z", "system": "forgeml[c]", "task": "binary", "test_score": float("nan")}])
    z = normalized_scores(bad, higher).set_index("system")["norm"]
    assert z["forgeml[b]"] > z["forgeml[a]"] and z["forgeml[c]"] == 0.0 and z.notna().all()


def test_search_specs_carry_options():
    from forgeml.bench.runner import split_searches
    from forgeml.errors import ConfigError
    from forgeml.search import parse_search_spec

    assert split_searches("random, auto(random_fraction=0.3;max_cost_share=0.2),bayes") == [
        "random", "auto(random_fraction=0.3;max_cost_share=0.2)", "bayes"]
    assert parse_search_spec("auto(random_fraction=0.3;multi_fidelity=true)") == (
        "auto", {"random_fraction": 0.3, "multi_fidelity": True})
    assert parse_search_spec("halving(resource=iterations)") == ("halving", {"resource": "iterations"})
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_search_spec("auto(random_fraction)")
    with pytest.raises(ConfigError, match="parentheses"):
        parse_search_spec("auto(random_fraction=0.3")
    with pytest.raises(ConfigError, match="cannot read"):
        split_searches("auto(x=(1)),random")
    with pytest.raises(ConfigError, match="no option"):
        split_searches("random,auto(random_fractoin=0.3)")  # caught before any dataset runs


def test_ensemble_methods_summary_on_a_hand_made_frame():
    from forgeml.bench.ensembles import summarize

    rows = []
    for ds, task, metric, scores in (("a", "binary", "roc_auc", {"constant": 0.5, "auto": 0.9, "single": 0.8,
                                                                  "greedy": 0.9, "stacking": 0.7}),
                                     ("b", "regression", "rmse", {"constant": 10.0, "auto": 4.0, "single": 4.0,
                                                                  "greedy": 5.0, "stacking": 2.0})):
        for method, s in scores.items():
            rows.append({"dataset": ds, "task": task, "metric": metric, "method": method, "test_score": s,
                         "chosen": "greedy" if ds == "a" else "single"})
    text = summarize(pd.DataFrame(rows))
    assert "auto is worse than the single best on 0 of 2 datasets; beyond test-set noise" in text
    for method, s in {"constant": 0.5, "auto": 0.7, "single": 0.8, "greedy": 0.7, "stacking": 0.7}.items():
        rows.append({"dataset": "c", "task": "binary", "metric": "roc_auc", "method": method, "test_score": s,
                     "chosen": "greedy", **({"p_worse": 0.97} if method == "auto" else {})})
    assert ("auto is worse than the single best on 1 of 3 datasets: c (worse on 97% of test resamples); "
            "beyond test-set noise (worse on at least 95% of 500 paired bootstrap resamples of the test rows) on 1: c"
            ) in summarize(pd.DataFrame(rows))
    lines = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    # auto: norm 1.0 on a (best), (10-4)/(10-2) = 0.75 on b; at least as good as single on both
    assert lines["auto"] == "| auto | 2/2 | 0.8750 | 2.00 | 2/2 |"
    # stacking: (0.7-0.5)/(0.9-0.5) = 0.5 on a, 1.0 on b; worse than single on a
    assert lines["stacking"] == "| stacking | 2/2 | 0.7500 | 2.50 | 1/2 |"
    assert "| a | roc_auc | greedy | **0.9000** |" in text
    # auto - stacking: 1.0 - 0.5 on a, 0.75 - 1.0 on b; two datasets, so the interval spans both
    assert "stacking +0.1250 [-0.2500, +0.5000] on 2" in text


def test_ensemble_methods_summary_compares_the_mean_over_splits():
    from forgeml.bench.ensembles import summarize

    rows = []
    # a: auto loses split 0 by a little and wins split 1 by more: ahead on the mean, level on one split in two
    # b: stacking is missing on one split, so it gets no mean, but auto and single are still compared
    for ds, task, seed, scores in (("a", "binary", 0, {"constant": 0.5, "auto": 0.79, "single": 0.80}),
                                   ("a", "binary", 1, {"constant": 0.5, "auto": 0.90, "single": 0.80}),
                                   ("b", "regression", 0, {"constant": 9.0, "auto": 5.0, "single": 4.0,
                                                            "stacking": 3.0}),
                                   ("b", "regression", 1, {"constant": 9.0, "auto": 5.0, "single": 4.5})):
        for method, s in scores.items():
            rows.append({"dataset": ds, "task": task, "metric": "m", "method": method, "test_score": s,
                         "chosen": "greedy" if seed else "voting", "seed": seed})
    text = summarize(pd.DataFrame(rows))
    assert "per split: seed 0: 0/2, seed 1: 1/2" in text
    assert "on the mean over 2 splits: 1/2; worse on b (0 of 2 splits)" in text
    assert "| a | m | voting/greedy | **0.8450** | 0.8000 |" in text  # the mean of 0.79 and 0.90
    lines = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    # stacking is not scored on every split of b: no mean there, and b stays in the table without it
    assert lines["stacking"].startswith("| stacking | 0/2 |")
    # a split whose single best could not be scored (an error row) is left out, and does not end the summary
    rows += [{"dataset": "a", "task": "binary", "metric": "m", "method": "auto", "error": "boom", "seed": 2},
             {"dataset": "b", "task": "regression", "metric": "m", "method": "single", "test_score": np.nan,
              "seed": 2}, {"dataset": "b", "task": "regression", "metric": "m", "method": "auto",
                           "test_score": 1.0, "seed": 2}]
    again = summarize(pd.DataFrame(rows))
    assert "on the mean over 2 splits: 1/2" in again and "| a | m | voting/greedy | **0.8450** |" in again
    assert "| b | m | voting/greedy | 5.0000 | **4.2500** | — |" in text


def test_bench_ensembles_resumes_a_file_from_before_splits_were_recorded(tmp_path, capsys):
    from forgeml.bench.ensembles import run_bench_ensembles

    old = [{"dataset": "wine", "task": "multiclass", "metric": "log_loss", "method": m, "test_score": v,
            "chosen": "greedy"} for m, v in (("constant", 1.1), ("auto", 0.02), ("single", 0.03))]
    (tmp_path / "ensembles.csv").write_text(pd.DataFrame(old).to_csv(index=False))
    # the old rows are the split --seed names (3): nothing left to run for wine, and the file gains the column
    frame = run_bench_ensembles(str(SHARED), str(tmp_path), only=["wine"], resume=True, seed=3)
    assert len(frame) == 3 and set(frame["seed"]) == {3}
    assert "auto is worse than the single best on 0 of 1 datasets" in capsys.readouterr().out


def test_p_worse_tells_a_real_loss_from_test_set_noise():
    from forgeml.bench.ensembles import p_worse

    class Pipe:
        classes_ = ["n", "y"]

    rng = np.random.default_rng(0)
    y = pd.Series(np.where(rng.random(400) < 0.5, "y", "n"))
    signal = (y == "y").to_numpy() * 1.0
    good = np.clip(0.5 + 0.3 * (signal - 0.5) * 2 + rng.normal(scale=0.3, size=400), 0.01, 0.99)
    bad = np.clip(0.5 + 0.1 * (signal - 0.5) * 2 + rng.normal(scale=0.3, size=400), 0.01, 0.99)
    twin = np.clip(good + rng.normal(scale=0.02, size=400), 0.01, 0.99)
    proba = {k: np.column_stack([1 - v, v]) for k, v in (("good", good), ("bad", bad), ("twin", twin))}
    assert p_worse(proba["bad"], proba["good"], y, "binary", Pipe(), 0) > 0.99
    assert p_worse(proba["good"], proba["bad"], y, "binary", Pipe(), 0) < 0.01
    assert 0.05 < p_worse(proba["twin"], proba["good"], y, "binary", Pipe(), 0) < 0.95


def test_a_suite_is_its_manifest_or_the_folder_holding_it(tmp_path, capsys):
    from forgeml.bench.suite import read_suite
    from forgeml.cli.main import main

    by_folder, root = read_suite(SHARED)
    assert by_folder == read_suite(SHARED / "manifest.json")[0] and root == SHARED
    assert any(e["name"] == "wine" for e in by_folder)
    (tmp_path / "manifest.json").write_text("{not json")
    assert main(["bench", "--suite", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "is not a suite manifest" in capsys.readouterr().err
    assert main(["bench-ensembles", "--suite", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "no benchmark suite at" in capsys.readouterr().err
