"""Choosing the ensemble the remaining time can refit."""
import numpy as np
import pytest

from forgeml.metrics import METRICS
from forgeml.orchestrate.final import choose_weights
from forgeml.orchestrate.loop import SearchState, full_fit_estimate
from forgeml.trial import TrialResult, TrialStatus


@pytest.fixture
def state(tmp_path):
    """Trial 0 is the best member and cheap; trial 1 is nearly as good, with independent errors, and slow."""
    rng = np.random.default_rng(0)
    n = 800
    y = rng.normal(size=n)
    st = SearchState()
    for tid, noise, fit_time in [(0, 0.50, 1.0), (1, 0.52, 40.0), (2, 1.5, 1.0)]:
        pred = y + rng.normal(0, noise, n)
        path = tmp_path / f"trial_{tid}.npy"
        np.save(path, pred)
        rmse = float(np.sqrt(np.mean((pred - y) ** 2)))
        st.results[tid] = TrialResult(tid, TrialStatus.COMPLETE, score=rmse, loss=rmse, fit_time=fit_time,
                                      oof_path=str(path), extra={"n_folds": 5})
    return st, y


def test_unbounded_weights_average_the_two_good_members(state):
    st, y = state
    weights, score = choose_weights(st, y, np.ones(len(y), bool), METRICS["rmse"], max_members=20, ensemble=True)
    assert {0, 1} <= set(weights) and score < st.results[0].score


def test_a_member_too_slow_to_refit_in_the_time_left_is_not_chosen(state):
    st, y = state
    slow = full_fit_estimate(st.results[1], 5)  # 40 s over 5 folds, plus 30 %: about 10 s
    weights, score = choose_weights(st, y, np.ones(len(y), bool), METRICS["rmse"], max_members=20, ensemble=True,
                                    refit_budget=slow / 2, n_folds=5)
    assert 1 not in weights and 0 in weights
    assert sum(full_fit_estimate(st.results[k], 5) for k in weights) <= slow / 2
    # the score describes the chosen members exactly
    pred = sum(w * np.load(st.results[k].oof_path) for k, w in weights.items())
    assert score == pytest.approx(METRICS["rmse"].score(y, pred))


def test_weights_chosen_again_among_the_members_that_were_refit(state):
    st, y = state
    weights, score = choose_weights(st, y, np.ones(len(y), bool), METRICS["rmse"], max_members=20, ensemble=True,
                                    only={1, 2})
    assert set(weights) <= {1, 2} and 1 in weights
    pred = sum(w * np.load(st.results[k].oof_path) for k, w in weights.items())
    assert score == pytest.approx(METRICS["rmse"].score(y, pred))


def test_the_search_loop_probe_picks_the_same_members_on_a_row_sample(state):
    from forgeml.evaluate.evaluator import EvalContext
    from forgeml.orchestrate.finalize import ensemble_probe

    st, y = state
    folds = [(np.arange(i, len(y), 4), np.setdiff1d(np.arange(len(y)), np.arange(i, len(y), 4))) for i in range(4)]
    ctx = EvalContext(X=None, y=y, folds=folds, schema_json="{}", metric="rmse", run_dir="")
    full, _ = choose_weights(st, y, np.ones(len(y), bool), METRICS["rmse"], max_members=20, ensemble=True)
    assert ensemble_probe(ctx, METRICS["rmse"], True, seed=0, max_rows=400)(st) == set(full)
    assert ensemble_probe(ctx, METRICS["rmse"], False, seed=0)(st) == {0}  # no ensemble: the best alone


def test_choose_weights_uses_the_ensembler_named_or_given(state):
    """ENSEMBLERS is read: a registered name and an object each choose the weights (not always greedy)."""
    from forgeml.ensemble import ENSEMBLERS
    from plugins.ensemblers import AverageEnsembler, BestSingleEnsembler

    st, y = state
    mask = np.ones(len(y), bool)
    greedy, _ = choose_weights(st, y, mask, METRICS["rmse"], max_members=20, ensemble="greedy")
    assert len(greedy) >= 2
    single, score = choose_weights(st, y, mask, METRICS["rmse"], max_members=20, ensemble=BestSingleEnsembler())
    assert single == {0: 1.0} and score == pytest.approx(st.results[0].score)
    ENSEMBLERS.register("average", AverageEnsembler)
    try:
        avg, _ = choose_weights(st, y, mask, METRICS["rmse"], max_members=20, ensemble="average")
    finally:
        ENSEMBLERS.unregister("average")
    assert avg == pytest.approx({0: 1 / 3, 1: 1 / 3, 2: 1 / 3})
