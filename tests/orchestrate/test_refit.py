"""Final refits run on the run's executor under its deadline; members fall back to their fold models (k-fold
bagging) when a refit is not wanted, does not fit in the time left, or fails."""
from __future__ import annotations

import functools
import os
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from forgeml.budget import Budget
from forgeml.data.infer import infer_schema
from forgeml.data.splits import make_folds
from forgeml.data.validate import align_for_predict
from forgeml.errors import SearchWarning
from forgeml.evaluate.evaluator import EvalContext, run_trial
from forgeml.execute.local import LocalExecutor
from forgeml.models import get_families
from forgeml.models.base import FitContext
from forgeml.orchestrate import run as run_module
from forgeml.orchestrate.loop import LoopOptions, SearchState
from forgeml.orchestrate.prepare import encode_target, prepare
from forgeml.orchestrate.refit import refit_members
from forgeml.orchestrate.settings import RunSettings
from forgeml.pipeline.bagged import BaggedPipeline
from forgeml.pipeline.fitted import predict_matrix
from forgeml.pipeline.joint import default_configs
from forgeml.search.base import Proposal
from forgeml.space import Config
from forgeml.store import Store
from forgeml.trial import TrialResult, TrialSpec, TrialStatus
from plugins.ensemblers import AverageEnsembler
from plugins.faulty_families import RefitRefusingTreeFamily


def frame(n: int = 120, seed: int = 0, cols: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(cols)})
    df["y"] = ((df.x0 > 0) ^ (df.x1 > 0) | (rng.random(n) < 0.1)).astype(int)  # a tree does better than a line
    return df


def context(tmp_path, n: int) -> EvalContext:
    df = frame(n, cols=8)
    schema = infer_schema(df, "y")
    X, y = align_for_predict(schema, df.drop(columns=["y"])), encode_target(df, schema)
    folds = make_folds(y, schema.task, n_rows=len(X), n_cols=X.shape[1], seed=0, n_folds=3)
    return EvalContext(X=X, y=y, folds=folds, schema_json=schema.to_json(), metric="roc_auc", run_dir=str(tmp_path))


def default(ctx: EvalContext, family: str, **params) -> dict:
    fctx = FitContext(task="binary", n_rows=len(ctx.y), n_features=8, n_classes=2, seed=0)
    config = dict(default_configs(get_families([family], fctx), ctx.schema, fctx)[0])
    return {**config, **{f"{family}.{k}": v for k, v in params.items()}}


def member(st: SearchState, tid: int, config: dict, result: TrialResult | None = None) -> None:
    """A finished trial whose cross-validation fits took 0.3 s in all (a cheap refit, by the estimate)."""
    st.results[tid] = result or TrialResult(tid, TrialStatus.COMPLETE, score=0.9, loss=-0.9, fit_time=0.3,
                                            extra={"n_folds": 3})
    st.proposals[tid] = Proposal(Config(config))
    st.next_id = max(st.next_id, tid + 1)


def refit_on_workers(tmp_path, ctx: EvalContext, st: SearchState, weights: dict[int, float], seconds: float,
                     refit: str, n_workers: int = 1):
    """``refit_members`` on real worker processes and a real store, with a budget of ``seconds`` from when the
    workers are started; returns ``(made, store, run_id, budget)``."""
    store = Store.open(tmp_path)
    run_id = store.start_run({"task": "binary"})
    with LocalExecutor(n_workers=n_workers) as executor:
        executor.start(run_trial, ctx)
        budget = Budget(seconds)
        made = refit_members(weights, st, ctx, store, run_id, budget, executor, seed=0, n_threads=1, n_folds=3,
                             refit=refit)
    return made, store, run_id, budget


def refit_rows(store: Store, run_id: str) -> dict[int, pd.Series]:
    t = store.trials(run_id)
    return {row.extra["source_trial"]: row for _, row in t[t.kind == "refit"].iterrows()}


def test_a_refit_past_the_deadline_is_recorded_timed_out_and_left_out(tmp_path):
    ctx = context(tmp_path, 3000)
    st = SearchState()
    member(st, 0, default(ctx, "random_forest", n_estimators=4000, max_features=1.0))  # a minute's fit at least
    store = Store.open(tmp_path)
    run_id = store.start_run({"task": "binary"})
    with LocalExecutor(n_workers=1) as executor:
        executor.start(run_trial, ctx)
        budget = Budget(0.5)
        t0 = time.time()
        made = refit_members({0: 1.0}, st, ctx, store, run_id, budget, executor, seed=0, n_threads=1, n_folds=3,
                             refit="full")
        took = time.time() - t0
    assert made.models == {} and made.dropped == {0: "refit timed out"}
    row = refit_rows(store, run_id)[0]
    assert row.status == "timeout" and row.extra["how"] == "dropped" and row.timeout <= 1.0
    assert took < 10


def test_auto_refits_what_finishes_and_bags_the_member_whose_refit_timed_out(tmp_path):
    ctx = context(tmp_path, 3000)
    st = SearchState()
    # trial 0 kept its fold models (a cheap forest's: the test only needs real fold models on disk); its refit
    # is of a forest far too slow for the time left
    cheap = default(ctx, "random_forest", n_estimators=10)
    cv = run_trial(TrialSpec(0, cheap, extra={"keep_folds": True}), ctx)
    assert cv.status is TrialStatus.COMPLETE, cv.error
    member(st, 0, default(ctx, "random_forest", n_estimators=4000, max_features=1.0),
           TrialResult(0, TrialStatus.COMPLETE, score=0.9, loss=-0.9, fit_time=0.3, extra=cv.extra))
    member(st, 1, default(ctx, "linear"))
    made, store, run_id, budget = refit_on_workers(tmp_path, ctx, st, {0: 0.6, 1: 0.4}, 4.0, "auto", n_workers=2)
    assert budget.elapsed() < 4.0 + 5
    assert made.how == {0: "bagged", 1: "refit"} and made.dropped == {}
    assert isinstance(made.models[0], BaggedPipeline) and made.models[0].n_folds == 3
    assert not isinstance(made.models[1], BaggedPipeline)
    rows = refit_rows(store, run_id)
    assert rows[0].status == "timeout" and rows[0].extra["how"] == "bagged"
    assert rows[1].status == "complete" and rows[1].extra["how"] == "refit"
    assert os.path.exists(rows[1].model_path) and not os.path.exists(os.path.join(tmp_path, "refit", "trial_0.pkl"))


# the trials these tests need are the families' defaults: no portfolio entries before them
SMALL = dict(time_budget=None, max_trials=3, families=["linear"], n_jobs=1, verbose=0, n_folds=3, portfolio=None)


def test_bag_deploys_each_member_as_its_fold_models(tmp_path):
    df, new = frame(), frame(40, seed=1).drop(columns=["y"])
    settings = RunSettings(**SMALL, refit="bag", ensemble="greedy")  # weights over members: checked below
    out = run_module.run_automl(settings, df, "y", str(tmp_path))
    members = out.pipeline.members
    assert members and all(isinstance(m, BaggedPipeline) and m.n_folds == 3 for m in members)
    assert not (tmp_path / "refit").exists()  # nothing was refit
    # each member's fold models made its trial's out-of-fold predictions, so they score what the trial scored
    prep = prepare(settings, df, "y")
    trials = Store.open(tmp_path).trials(out.run_id)
    cv = trials[trials.kind == "cv"]
    for m in members:
        oof = np.zeros((len(df), 2))
        for pipe, (_, valid) in zip(m.pipelines, prep.folds):
            oof[valid] = predict_matrix(pipe, prep.X.iloc[valid], 2)
        same = [r for _, r in cv.iterrows() if np.allclose(np.load(r.oof_path), oof, atol=1e-5)]
        assert len(same) >= 1 and prep.metric.score(prep.y, oof) == pytest.approx(same[0].score, abs=1e-6)
    # on new rows: the mean of the fold models, weighted across members
    X = align_for_predict(out.schema, new)
    means = [np.mean([p.predict_proba(X) for p in m.pipelines], axis=0) for m in members]
    for m, mean in zip(members, means):
        np.testing.assert_allclose(m.predict_proba(X), mean)
    blend = sum(w * mean for w, mean in zip(out.pipeline.weights, means))
    np.testing.assert_allclose(out.pipeline.predict_proba(new), blend / blend.sum(axis=1, keepdims=True))


def test_fold_models_too_big_to_save_in_the_time_left_are_refit_instead(tmp_path, monkeypatch):
    from forgeml.orchestrate import refit as refit_module

    monkeypatch.setattr(refit_module, "SAVE_BYTES_PER_S", 1e-9)  # any fold file takes longer to save than is left
    out = run_module.run_automl(RunSettings(**SMALL, refit="bag", ensemble="greedy"), frame(), "y", str(tmp_path))
    assert out.pipeline.members and not any(isinstance(m, BaggedPipeline) for m in out.pipeline.members)
    rows = refit_rows(Store.open(tmp_path), out.run_id)
    assert rows and all(r.extra["how"] == "refit" for r in rows.values())


def test_full_refits_every_member_and_keeps_no_fold_models(tmp_path):
    out = run_module.run_automl(RunSettings(**SMALL, refit="full"), frame(), "y", str(tmp_path))
    assert not any(isinstance(m, BaggedPipeline) for m in out.pipeline.members)
    assert not (tmp_path / "folds").exists()
    rows = refit_rows(Store.open(tmp_path), out.run_id)
    assert len(rows) == len(out.pipeline.members)
    assert all(r.status == "complete" and r.extra["how"] == "refit" for r in rows.values())


def test_fold_models_are_kept_only_for_the_best_trials(tmp_path, monkeypatch):
    monkeypatch.setattr(run_module, "LoopOptions", functools.partial(LoopOptions, keep_folds_top=2))
    settings = RunSettings(**{**SMALL, "max_trials": 5}, refit="auto")
    out = run_module.run_automl(settings, frame(), "y", str(tmp_path))
    trials = Store.open(tmp_path).trials(out.run_id)
    cv = trials[(trials.kind == "cv") & (trials.status == "complete")].sort_values(["loss", "trial_id"])
    assert len(cv) > 2 and all("folds_path" in e for e in cv.extra)
    best_two = {f"trial_{t}.pkl" for t in cv.trial_id[:2]}
    assert set(os.listdir(tmp_path / "folds")) == best_two


@pytest.mark.parametrize("refit", ["full", "auto"])
def test_a_member_whose_refit_fails_is_bagged_or_dropped_with_a_warning(tmp_path, refit):
    # the tree cross-validates on 80-row folds but refuses the 120 rows of its refit
    settings = RunSettings(**{**SMALL, "families": [RefitRefusingTreeFamily(), "linear"]},
                           ensemble=AverageEnsembler(size=5), refit=refit)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = run_module.run_automl(settings, frame(), "y", str(tmp_path))
    rows = refit_rows(Store.open(tmp_path), out.run_id)
    trials = Store.open(tmp_path).trials(out.run_id)
    tree = {r.trial_id for _, r in trials.iterrows() if r.kind == "cv" and r.config["family"] == "refit_refusing_tree"}
    tree_rows = [r for src, r in rows.items() if src in tree]
    assert tree_rows and all(r.status == "failed" for r in tree_rows)
    dropped = [w for w in caught if issubclass(w.category, SearchWarning) and "lost" in str(w.message)]
    if refit == "full":
        assert all(r.extra["how"] == "dropped" for r in tree_rows)
        assert len(dropped) == 1 and "refit failed" in str(dropped[0].message)
        assert all("refit_refusing_tree" not in d for d in out.pipeline.descriptions)
    else:
        assert all(r.extra["how"] == "bagged" for r in tree_rows) and not dropped
        bagged = [m for m, d in zip(out.pipeline.members, out.pipeline.descriptions) if "refit_refusing_tree" in d]
        assert bagged and all(isinstance(m, BaggedPipeline) for m in bagged)


def test_with_only_low_fidelity_trials_the_kept_one_can_be_refit_on_all_rows_in_the_time_left():
    from forgeml.orchestrate.finalize import refittable_best
    from forgeml.orchestrate.loop import full_fit_estimate

    st = SearchState()
    # a large table searched on a ninth of its rows, one fold each: CatBoost scored best but needs ~105 s on all
    # rows; the linear trial (~19 s) and LightGBM (~17 s) fit in 30 s
    for tid, loss, fit in ((0, -0.790, 1.6), (2, -0.798, 9.0), (5, -0.772, 1.4)):
        st.results[tid] = TrialResult(tid, TrialStatus.COMPLETE, score=-loss, loss=loss, fit_time=fit,
                                      fidelity=1 / 9, extra={"n_folds": 1})
    assert full_fit_estimate(st.results[2], 5) > 100 and full_fit_estimate(st.results[0], 5) < 30
    assert refittable_best(st, 30.0, 5).trial_id == 0  # the best that fits, not the best
    assert refittable_best(st, 200.0, 5).trial_id == 2  # time enough: the best
    assert refittable_best(st, 5.0, 5).trial_id == 5  # none fits: the quickest to refit
    st.results[7] = TrialResult(7, TrialStatus.COMPLETE, score=0.70, loss=-0.70, fit_time=0.1, fidelity=1 / 3,
                                extra={"n_folds": 1})
    assert refittable_best(st, 30.0, 5).trial_id == 7  # a higher fidelity wins first, as state.best() does
    # a trial that kept its fold models may be chosen whatever its refit costs: they stand in if it cannot finish
    st.results[8] = TrialResult(8, TrialStatus.COMPLETE, score=0.71, loss=-0.71, fit_time=90.0, fidelity=1 / 3,
                                extra={"n_folds": 1, "folds_path": __file__})  # any existing file
    assert refittable_best(st, 30.0, 5).trial_id == 8


def test_sample_share_refits_a_low_fidelity_trial_on_the_rows_that_fit():
    from forgeml.orchestrate.loop import MIN_SAMPLE_GAIN, SAMPLE_USE, sample_share

    low = TrialResult(0, TrialStatus.COMPLETE, score=0.8, loss=-0.8, fit_time=3.0, fidelity=1 / 9)
    assert sample_share(low, 60.0, 20.0) == pytest.approx(SAMPLE_USE * 20 / 60, abs=1e-4)
    assert sample_share(low, 10.0, 20.0) is None  # all rows fit: a plain refit
    assert sample_share(low, 1000.0, 20.0) is None  # 1.2 % of the rows is not more than the ninth it trained on
    assert SAMPLE_USE * 20 / 1000 < MIN_SAMPLE_GAIN / 9
    full = TrialResult(1, TrialStatus.COMPLETE, score=0.8, loss=-0.8, fit_time=3.0, fidelity=1.0)
    assert sample_share(full, 60.0, 20.0) is None  # its fold models saw most rows: bag them instead
    pbt = TrialResult(2, TrialStatus.COMPLETE, score=0.8, loss=-0.8, fit_time=3.0, fidelity=1 / 9,
                      extra={"trained_share": 1 / 9})
    assert sample_share(pbt, 60.0, 20.0) is None  # a share of iterations, not of rows


def test_a_low_fidelity_member_too_slow_for_all_rows_is_refit_on_a_row_sample(tmp_path):
    ctx = context(tmp_path, 3000)
    st = SearchState()
    # searched on a ninth of the rows; by its fit time a refit on all rows takes ~18 s, and 7 s are left
    member(st, 0, default(ctx, "linear"), TrialResult(0, TrialStatus.COMPLETE, score=0.9, loss=-0.9, fit_time=1.5,
                                                      fidelity=1 / 9, extra={"n_folds": 1}))
    made, store, run_id, _ = refit_on_workers(tmp_path, ctx, st, {0: 1.0}, 8.0, "auto")
    assert made.how == {0: "refit"} and not isinstance(made.models[0], BaggedPipeline)
    row = refit_rows(store, run_id)[0]
    assert row.status == "complete" and 1 / 9 * 3000 * 1.5 <= row.extra["rows"] < 3000  # more than it saw
    assert set(np.unique(made.models[0].predict(ctx.X))) <= {0, 1}


def test_when_no_refit_finishes_a_low_fidelity_members_kept_models_stand_in(tmp_path):
    ctx = context(tmp_path, 3000)
    st = SearchState()
    cheap = default(ctx, "random_forest", n_estimators=10)
    cv = run_trial(TrialSpec(0, cheap, fidelity=1 / 9, extra={"keep_folds": True}), ctx)
    assert cv.status is TrialStatus.COMPLETE and cv.extra.get("folds_path"), cv.error
    # by its fit time (~12 s on all rows, 9 s left) it is refit on about half of the rows; but what is refit is
    # a forest far too slow even for that
    member(st, 0, default(ctx, "random_forest", n_estimators=100_000, max_features=1.0),
           TrialResult(0, TrialStatus.COMPLETE, score=0.9, loss=-0.9, fit_time=3.0, fidelity=1 / 9,
                       extra=cv.extra))
    made, store, run_id, budget = refit_on_workers(tmp_path, ctx, st, {0: 1.0}, 10.0, "auto")
    assert budget.elapsed() < 10.0 + 5
    assert made.how == {0: "bagged"} and made.dropped == {}
    assert isinstance(made.models[0], BaggedPipeline) and made.models[0].n_folds == 3
    row = refit_rows(store, run_id)[0]
    assert row.extra["how"] == "bagged" and row.status == "timeout"
    spec = next(sp for sp in store.trial_specs(run_id) if sp.trial_id == row.trial_id)
    assert 1.5 / 9 <= spec.extra["row_share"] <= 0.75 * 9 / 11.7  # the refit that was tried: on a row sample


def test_a_member_whose_models_were_stopped_by_their_time_limit_is_deployed_as_them(tmp_path):
    ctx = context(tmp_path, 600)
    st = SearchState()
    config = default(ctx, "random_forest", n_estimators=10)
    cv = run_trial(TrialSpec(0, config, extra={"keep_folds": True}), ctx)
    assert cv.status is TrialStatus.COMPLETE, cv.error
    member(st, 0, config, TrialResult(0, TrialStatus.COMPLETE, score=0.9, loss=-0.9, fit_time=0.3,
                                      extra={**cv.extra, "deadline_hit": True}))
    member(st, 1, default(ctx, "linear"))
    made, store, run_id, _ = refit_on_workers(tmp_path, ctx, st, {0: 0.5, 1: 0.5}, 60.0, "auto")
    # plenty of time to refit both: the stopped one is still its validated fold models, the other is refit
    assert made.how == {0: "bagged", 1: "refit"}
    assert "stopped by the time limit" in refit_rows(store, run_id)[0].error_message


def test_low_fidelity_trials_keep_their_fold_models_ranked_by_fidelity_then_loss(tmp_path, monkeypatch):
    monkeypatch.setattr(run_module, "LoopOptions", functools.partial(LoopOptions, keep_folds_top=3))
    settings = RunSettings(**{**SMALL, "max_trials": 12, "families": ["linear", "knn"]}, refit="auto",
                           search="halving")
    out = run_module.run_automl(settings, frame(300), "y", str(tmp_path))
    trials = Store.open(tmp_path).trials(out.run_id)
    cv = trials[(trials.kind == "cv") & (trials.status == "complete")]
    assert (cv.fidelity < 0.999).any() and all("folds_path" in e for e in cv.extra)
    ranked = cv.assign(f=-cv.fidelity).sort_values(["f", "loss", "trial_id"])
    assert set(os.listdir(tmp_path / "folds")) == {f"trial_{t}.pkl" for t in ranked.trial_id[:3]}


@pytest.mark.parametrize("n_members", [1, 2])
def test_a_lone_refit_gets_the_threads_of_the_idle_workers(tmp_path, n_members):
    ctx = context(tmp_path, 300)
    st = SearchState()
    for tid in range(n_members):
        member(st, tid, default(ctx, "lightgbm", n_estimators=20 + tid))
    made, *_ = refit_on_workers(tmp_path, ctx, st, {t: 1.0 for t in range(n_members)}, 60.0, "full", n_workers=2)
    assert set(made.how.values()) == {"refit"}
    threads = [made.models[t].named_steps["model"].get_params()["n_jobs"] for t in range(n_members)]
    expected = min(2, os.cpu_count() or 1) if n_members == 1 else 1  # two members: one worker each
    assert threads == [expected] * n_members
