"""The seconds the search loop keeps back for ensembling and refitting."""
import pytest

from forgeml.budget import Budget
from forgeml.orchestrate.loop import LoopOptions, SearchLoop, SearchState
from forgeml.search import make_searcher
from forgeml.trial import TrialResult, TrialStatus


def loop_with(results, total=60.0, probe=None, **options):
    state = SearchState()
    for r in results:
        state.results[r.trial_id] = r
    return SearchLoop(searcher=make_searcher("random"), executor=None, store=None, run_id="r",
                      budget=Budget(total), options=LoopOptions(seed=0, max_trials=None, per_trial_timeout=None,
                                                                n_threads=1, n_folds=5, **options),
                      progress=None, state=state, describe=str, ensemble_probe=probe)


def ok(tid, loss, fit_time, fidelity=1.0, **extra):
    return TrialResult(tid, TrialStatus.COMPLETE, score=-loss, loss=loss, fit_time=fit_time, fidelity=fidelity,
                       extra={"n_folds": 5, **extra})


def test_nothing_done_keeps_two_seconds():
    assert loop_with([]).final_reserve() == 2.0


def test_reserve_follows_the_full_fidelity_candidates_not_slow_low_fidelity_arms():
    cheap_full = ok(0, 0.30, fit_time=5.0)  # 1 s a fold
    slow_arms = [ok(i, 0.10 + i / 100, fit_time=4.0, fidelity=1 / 9) for i in range(1, 6)]
    reserve = loop_with([cheap_full, *slow_arms]).final_reserve()
    assert reserve == pytest.approx(2.0 + 1.3 * 0.7 * 1.0 * 1.3)


def test_only_low_fidelity_trials_reserve_the_refit_of_the_best_one():
    arms = [ok(1, 0.2, fit_time=1.0, fidelity=0.25), ok(2, 0.1, fit_time=2.0, fidelity=0.25)]
    # the best (trial 2): 2 s over 5 folds at a quarter of the rows, so ~1.6 s for a full fit
    assert loop_with(arms).final_reserve() == pytest.approx(2.0 + 1.3 * 0.7 * (2.0 / 5 * 1.3 / 0.25))


def test_a_continued_pbt_trial_is_costed_by_the_share_it_trained():
    t = ok(1, 0.1, fit_time=1.0, fidelity=1.0, trained_share=0.25)
    assert loop_with([t]).final_reserve() == pytest.approx(2.0 + 1.3 * 0.7 * (1.0 / 5 * 1.3 / 0.25))


def test_reserve_is_capped_at_35_percent_of_the_budget():
    assert loop_with([ok(0, 0.1, fit_time=500.0)], total=60).final_reserve() == pytest.approx(0.35 * 60)


def est(fit_time):
    return fit_time / 5 * 1.3


def test_reserve_covers_the_members_the_ensemble_would_take_not_just_the_best_five():
    cheap = [ok(i, 0.1 + i / 100, fit_time=1.0) for i in range(6)]
    slow_diverse = ok(9, 0.5, fit_time=20.0)  # ranked last, but the ensemble wants it
    calls = []

    def probe(state):
        calls.append(len(state.results))
        return {0, 9}

    loop = loop_with([*cheap, slow_diverse], probe=probe)
    assert loop.final_reserve() == pytest.approx(2.0 + 1.3 * 0.7 * (est(1.0) + est(20.0)))
    assert loop_with([*cheap, slow_diverse]).final_reserve() == pytest.approx(2.0 + 1.3 * 0.7 * 5 * est(1.0))
    # the probe runs again only when the candidates change
    loop.final_reserve()
    assert calls == [7]
    loop.state.results[10] = ok(10, 0.05, fit_time=1.0)
    loop._next_probe = 0.0
    loop.final_reserve()
    assert calls == [7, 8]


def test_the_best_trial_is_reserved_for_even_when_the_probe_leaves_it_out():
    trials = [ok(0, 0.1, fit_time=10.0), ok(1, 0.2, fit_time=1.0)]
    assert loop_with(trials, probe=lambda s: {1}).final_reserve() == pytest.approx(
        2.0 + 1.3 * 0.7 * (est(10.0) + est(1.0)))


def test_a_failing_probe_falls_back_to_the_best_five():
    trials = [ok(i, 0.1 + i / 100, fit_time=1.0) for i in range(8)]

    def probe(state):
        raise OSError("an out-of-fold file went missing")

    assert loop_with(trials, probe=probe).final_reserve() == pytest.approx(2.0 + 1.3 * 0.7 * 5 * est(1.0))


def test_members_deployed_as_their_fold_models_need_no_refit_time():
    trials = [ok(0, 0.1, fit_time=10.0), ok(1, 0.2, fit_time=1.0)]
    assert loop_with(trials).final_reserve() > 4.0
    assert loop_with(trials, reserve_refits=False).final_reserve() == 2.0


def test_a_large_tables_low_fidelity_best_reserves_for_a_refit_on_a_row_sample_or_not_at_all(tmp_path):
    from forgeml.orchestrate.loop import MIN_SAMPLE_GAIN, SAMPLE_USE

    folds = tmp_path / "trial_1.pkl"
    folds.write_bytes(b"kept")
    # one fold on a ninth of the rows, 10 s: ~117 s on all rows, far past the 35 % cap of a 60 s budget
    best = ok(1, 0.1, fit_time=10.0, fidelity=1 / 9, n_folds=1, folds_path=str(folds))
    est = 10.0 * 1.3 * 9
    smallest = est * MIN_SAMPLE_GAIN / 9 / SAMPLE_USE  # the smallest row sample worth refitting: ~26 s
    assert 2.0 + 1.0 + smallest > 0.35 * 60  # does not fit in 21 s: search on, its kept models stand in
    assert loop_with([best], total=60).final_reserve() == 2.0
    assert 2.0 + 1.0 + smallest <= 0.35 * 300  # in 105 s it does: keep the cap for the sample refit
    assert loop_with([best], total=300).final_reserve() == pytest.approx(0.35 * 300)
    # without its fold models on disk (pruned, a PBT trial, a run resumed from an older version) nothing stands
    # in: the whole cap is kept for the refit, as before
    folds.unlink()
    assert loop_with([best], total=60).final_reserve() == pytest.approx(0.35 * 60)


def test_trials_running_at_the_search_deadline_are_recorded_stopped_at_their_own_fidelity(tmp_path):
    from forgeml.execute.local import LocalExecutor
    from forgeml.orchestrate.progress import Progress
    from forgeml.space import Constant, Float, SearchSpace
    from forgeml.store import Store
    from forgeml.testing.trial_fns import CountingContext, trial_fn

    searcher = make_searcher("halving")
    space = SearchSpace({"x": Float(0.0, 1.0), "action": Constant("sleep"), "seconds": Constant(60.0)})
    searcher.setup(space, seed=0)
    store = Store.open(tmp_path)
    run_id = store.start_run({"task": "binary"})
    with LocalExecutor(n_workers=2) as executor:
        executor.start(trial_fn, CountingContext())
        loop = SearchLoop(searcher=searcher, executor=executor, store=store, run_id=run_id, budget=Budget(600.0),
                          options=LoopOptions(seed=0, max_trials=None, per_trial_timeout=None, n_threads=1),
                          progress=Progress(0, 600.0, "roc_auc"), state=SearchState(), describe=str)
        for tid in (0, 1):  # two sleeping trials on the bottom rung; then the search ends (the loop's last step)
            loop._submit(searcher.ask(tid), tid)
        loop._drain()
    trials = store.trials(run_id)
    assert len(trials) == 2 and set(trials.status) == {"pruned"}
    assert list(trials.fidelity) == pytest.approx([1 / 9, 1 / 9])  # the bottom rung, not 1.0


def test_a_large_table_runs_one_worker_with_every_core_unless_n_jobs_says_otherwise(monkeypatch):
    import os

    from forgeml.orchestrate.prepare import LARGE_ROWS, resources

    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert resources(-1) == (4, 1) and resources(-1, n_rows=LARGE_ROWS - 1) == (4, 1)
    assert resources(-1, n_rows=LARGE_ROWS) == (1, 4)  # one copy of the rows, every core on each trial
    assert resources(2, n_rows=LARGE_ROWS) == (2, 2)  # the user's n_jobs is kept
