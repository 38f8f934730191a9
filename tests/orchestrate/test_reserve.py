"""The seconds the search loop keeps back for ensembling and refitting."""
import pytest

from forgeml.budget import Budget
from forgeml.orchestrate.loop import LoopOptions, SearchLoop, SearchState
from forgeml.search import make_searcher
from forgeml.trial import TrialResult, TrialStatus


def loop_with(results, total=60.0):
    state = SearchState()
    for r in results:
        state.results[r.trial_id] = r
    return SearchLoop(searcher=make_searcher("random"), executor=None, store=None, run_id="r",
                      budget=Budget(total), options=LoopOptions(seed=0, max_trials=None, per_trial_timeout=None,
                                                                n_threads=1, n_folds=5),
                      progress=None, state=state, describe=str)


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
