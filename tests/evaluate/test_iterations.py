"""Fidelity as rounds or epochs, and continuing a parent trial's trained state (what PBT's exploit relies on).

Real data, real models, real pickles on disk: the evaluator is run as a worker runs it.
"""
import os
import pickle

import numpy as np
import pytest
from tests.conftest import shared_dataset

from forgeml.data.infer import infer_schema
from forgeml.data.splits import make_folds
from forgeml.data.validate import align_for_predict
from forgeml.evaluate.evaluator import EvalContext, fit_context
from forgeml.evaluate.evaluator import run_trial as _run_trial
from forgeml.models import get_families
from forgeml.orchestrate.prepare import encode_target
from forgeml.pipeline.joint import joint_space
from forgeml.trial import TrialSpec, TrialStatus

ITER = {"fidelity_unit": "iterations"}


def context(tmp_path, name="breast_cancer", n_folds=3):
    df, entry = shared_dataset(name)
    schema = infer_schema(df, entry["target"], task=entry["task"])
    X = align_for_predict(schema, df.drop(columns=[entry["target"]]))
    y = encode_target(df, schema)
    folds = make_folds(y, schema.task, n_rows=len(X), n_cols=X.shape[1], seed=0, n_folds=n_folds)
    metric = "roc_auc" if schema.task == "binary" else "log_loss" if schema.task == "multiclass" else "rmse"
    return EvalContext(X=X, y=y, folds=folds, schema_json=schema.to_json(), metric=metric, run_dir=str(tmp_path))


def run_trial(spec, ctx):
    """Run a spec whose config names only some parameters; the rest take the space's defaults."""
    fctx = fit_context(ctx, len(ctx.y), spec)
    space = joint_space(get_families(None, fctx, check_applies=False), ctx.schema, fctx)
    full = dict(space.complete(spec.config))
    return _run_trial(TrialSpec(spec.trial_id, full, fidelity=spec.fidelity, parent_id=spec.parent_id,
                                extra=spec.extra), ctx)


def lgbm(n_estimators=80, lr=0.1):
    return {"family": "lightgbm", "lightgbm.n_estimators": n_estimators, "lightgbm.learning_rate": lr}


def state(ctx, trial_id):
    with open(os.path.join(ctx.run_dir, "state", "run", f"trial_{trial_id}.pkl"), "rb") as f:
        return pickle.load(f)


def test_fidelity_is_a_share_of_rounds_on_all_rows(tmp_path):
    ctx = context(tmp_path)
    res = run_trial(TrialSpec(0, lgbm(80), fidelity=0.25, extra=ITER), ctx)
    assert res.status is TrialStatus.COMPLETE, res.error
    assert res.extra["iterations"] == 20 and res.extra["continued_folds"] == 0
    saved = state(ctx, 0)
    assert saved["iterations"] == 20 and len(saved["pipes"]) == 3
    for pipe, (train, _) in zip(saved["pipes"], ctx.folds):
        model = pipe.named_steps["model"]
        assert model.booster_.current_iteration() == 20
        assert model.n_features_in_ == ctx.X.shape[1] and len(train) > 300  # every training row, no subsample


def test_a_child_continues_its_parent_and_matches_training_in_one_go(tmp_path):
    ctx = context(tmp_path)
    parent = run_trial(TrialSpec(0, lgbm(80), fidelity=0.25, extra=ITER), ctx)
    child = run_trial(TrialSpec(1, lgbm(80), fidelity=0.5, parent_id=0, extra=ITER), ctx)
    last = run_trial(TrialSpec(2, lgbm(80), fidelity=1.0, parent_id=1, extra=ITER), ctx)
    whole = run_trial(TrialSpec(3, lgbm(80), fidelity=1.0, extra=ITER), ctx)
    assert child.status is TrialStatus.COMPLETE, child.error
    assert child.extra["continued_from"] == 0 and child.extra["continued_folds"] == 3
    assert child.extra["trained_share"] == pytest.approx(0.25)  # paid only for the missing 20 rounds
    for pipe in state(ctx, 1)["pipes"]:
        assert pipe.named_steps["model"].booster_.current_iteration() == 40  # 20 copied + 20 new
    assert last.extra["continued_from"] == 1 and last.extra["trained_share"] == pytest.approx(0.5)
    # boosting 20, then 20, then 40 more with the same settings is boosting 80: the same predictions
    assert last.score == pytest.approx(whole.score, abs=1e-9)
    np.testing.assert_allclose(np.load(last.oof_path), np.load(whole.oof_path), atol=1e-6)
    assert last.score > parent.score - 0.01
    # nothing continues from a full-fidelity trial, so none is kept on disk
    assert sorted(os.listdir(tmp_path / "state" / "run")) == ["trial_0.pkl", "trial_1.pkl"]


def test_a_parent_that_trained_further_is_reused_and_its_count_recorded(tmp_path):
    ctx = context(tmp_path)
    run_trial(TrialSpec(0, lgbm(100), fidelity=0.5, extra=ITER), ctx)  # 50 rounds
    child = run_trial(TrialSpec(1, lgbm(60), fidelity=0.75, parent_id=0, extra=ITER), ctx)  # asks for 45
    assert child.extra["continued_folds"] == 3 and child.extra["trained_share"] == 0
    assert child.extra["iterations"] == 50 and state(ctx, 1)["iterations"] == 50


def test_a_child_with_new_settings_keeps_the_parents_trees(tmp_path):
    ctx = context(tmp_path)
    run_trial(TrialSpec(0, lgbm(60, lr=0.1), fidelity=0.5, extra=ITER), ctx)
    child = run_trial(TrialSpec(1, lgbm(60, lr=0.02), fidelity=0.9, parent_id=0, extra=ITER), ctx)
    scratch = run_trial(TrialSpec(2, lgbm(60, lr=0.02), fidelity=0.9, extra=ITER), ctx)
    assert child.extra["continued_folds"] == 3
    parent_model = state(ctx, 0)["pipes"][0].named_steps["model"]
    child_model = state(ctx, 1)["pipes"][0].named_steps["model"]
    first = parent_model.booster_.dump_model()["tree_info"][:30]
    assert child_model.booster_.dump_model()["tree_info"][:30] == first  # the copied trees, unchanged
    assert child_model.booster_.current_iteration() == 54
    assert child.score != pytest.approx(scratch.score, abs=1e-9)  # not the same as training afresh


@pytest.mark.parametrize("family,config", [
    ("xgboost", {"xgboost.n_estimators": 40}),
    ("catboost", {"catboost.iterations": 40}),
    ("random_forest", {"random_forest.n_estimators": 40}),
    ("mlp", {"mlp.epochs": 40, "mlp.width": 32, "mlp.lr": 0.01}),
])
def test_every_iterative_family_continues(tmp_path, family, config):
    ctx = context(tmp_path, "wine", n_folds=2)
    cfg = {"family": family, **config}
    run_trial(TrialSpec(0, cfg, fidelity=0.5, extra=ITER), ctx)
    child = run_trial(TrialSpec(1, cfg, fidelity=0.75, parent_id=0, extra=ITER), ctx)
    assert child.status is TrialStatus.COMPLETE, child.error
    assert child.extra["continued_folds"] == 2 and child.extra["trained_share"] == pytest.approx(0.25)
    before = state(ctx, 0)["pipes"][0].named_steps["model"]
    model = state(ctx, 1)["pipes"][0].named_steps["model"]
    size = {"xgboost": lambda m: m.get_booster().num_boosted_rounds(), "catboost": lambda m: m.model_.tree_count_,
            "random_forest": lambda m: len(m.estimators_), "mlp": lambda m: None}[family]
    if family == "mlp":  # the child trained on from the parent's weights: it starts where the parent ended
        assert model.history_[0] < 0.2 * before.history_[0]  # a fresh network starts near log(3) = 1.1
    else:
        assert (size(before), size(model)) == (20, 30)


def test_a_missing_or_foreign_parent_state_means_training_afresh(tmp_path):
    ctx = context(tmp_path)
    orphan = run_trial(TrialSpec(5, lgbm(40), fidelity=1.0, parent_id=99, extra=ITER), ctx)
    assert orphan.status is TrialStatus.COMPLETE and orphan.extra["continued_from"] is None
    assert orphan.extra["trained_share"] == pytest.approx(1.0)
    run_trial(TrialSpec(6, {"family": "xgboost", "xgboost.n_estimators": 20}, fidelity=0.5, extra=ITER), ctx)
    other = run_trial(TrialSpec(7, lgbm(40), fidelity=1.0, parent_id=6, extra=ITER), ctx)
    assert other.status is TrialStatus.COMPLETE and other.extra["continued_from"] is None
    # the same family on other folds (a resumed run with another n_folds): never continued
    run_trial(TrialSpec(8, lgbm(40), fidelity=0.5, extra=ITER), ctx)
    other_folds = context(tmp_path, n_folds=4)
    res = run_trial(TrialSpec(9, lgbm(40), fidelity=1.0, parent_id=8, extra=ITER), other_folds)
    assert res.status is TrialStatus.COMPLETE and res.extra["continued_from"] is None
    # another preprocessing: never continued either
    mlp = {"family": "mlp", "mlp.epochs": 4, "mlp.width": 32, "mlp.prep.scale": "standard"}
    run_trial(TrialSpec(20, mlp, fidelity=0.5, extra=ITER), ctx)
    same = run_trial(TrialSpec(21, mlp, fidelity=1.0, parent_id=20, extra=ITER), ctx)
    robust = run_trial(TrialSpec(22, {**mlp, "mlp.prep.scale": "robust"}, fidelity=1.0, parent_id=20, extra=ITER),
                       ctx)
    assert same.extra["continued_from"] == 20 and robust.extra["continued_from"] is None
    # a state written by another run in the same directory: not continued
    res = run_trial(TrialSpec(11, lgbm(40), fidelity=1.0, parent_id=8,
                              extra={**ITER, "state_key": "another-run"}), ctx)
    assert res.extra["continued_from"] is None


def test_mlp_with_another_shape_trains_afresh(tmp_path):
    ctx = context(tmp_path, "wine", n_folds=2)
    run_trial(TrialSpec(0, {"family": "mlp", "mlp.epochs": 6, "mlp.width": 32}, fidelity=0.5, extra=ITER), ctx)
    child = run_trial(TrialSpec(1, {"family": "mlp", "mlp.epochs": 6, "mlp.width": 64}, fidelity=1.0, parent_id=0,
                                extra=ITER), ctx)
    assert child.status is TrialStatus.COMPLETE and child.extra["continued_folds"] == 0


def _full(ctx, partial):
    fctx = fit_context(ctx, len(ctx.y), TrialSpec(0, {}))
    return joint_space(get_families(None, fctx, check_applies=False), ctx.schema, fctx).complete(partial)


def test_a_refit_replays_the_schedule_the_validated_model_was_trained_with(tmp_path):
    from forgeml.evaluate.refit import refit_in_process

    ctx = context(tmp_path)
    same = _full(ctx, lgbm(80, lr=0.1))
    one_go, _ = refit_in_process(same, ctx, seed=0, n_threads=1)
    replayed, _ = refit_in_process(same, ctx, seed=0, n_threads=1, schedule=[(same, 30), (same, 80)])
    X = ctx.X.iloc[:50]
    np.testing.assert_allclose(replayed.predict_proba(X), one_go.predict_proba(X), atol=1e-9)
    # a schedule that changed the learning rate half way ends with the first trees of the first setting
    slow = _full(ctx, lgbm(80, lr=0.02))
    changed, _ = refit_in_process(slow, ctx, seed=0, n_threads=1, schedule=[(same, 40), (slow, 80)])
    afresh, _ = refit_in_process(slow, ctx, seed=0, n_threads=1)
    first = one_go.named_steps["model"].booster_.dump_model()["tree_info"][:40]
    assert changed.named_steps["model"].booster_.dump_model()["tree_info"][:40] == first
    assert changed.named_steps["model"].booster_.current_iteration() == 80
    assert not np.allclose(changed.predict_proba(X), afresh.predict_proba(X))
