"""What workers run: cross-validation (keeping the fold models when asked) and final refits on all rows."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pandas as pd
import pytest

from forgeml.data.infer import infer_schema
from forgeml.data.splits import make_folds
from forgeml.data.validate import align_for_predict
from forgeml.evaluate import evaluator
from forgeml.evaluate.evaluator import EvalContext, build, run_trial
from forgeml.models import get_families
from forgeml.models.base import FitContext
from forgeml.orchestrate.prepare import encode_target
from forgeml.pipeline.bagged import BaggedPipeline
from forgeml.pipeline.builder import fit_pipeline
from forgeml.pipeline.fitted import predict_matrix
from forgeml.pipeline.joint import default_configs
from forgeml.space import Config
from forgeml.trial import TrialSpec, TrialStatus


def small(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=90), "b": rng.normal(size=90)})
    df["y"] = (df.a + rng.normal(0, 0.5, 90) > 0).astype(int)
    schema = infer_schema(df, "y")
    X, y = align_for_predict(schema, df.drop(columns=["y"])), encode_target(df, schema)
    folds = make_folds(y, schema.task, n_rows=len(X), n_cols=2, seed=0, n_folds=3)
    ctx = EvalContext(X=X, y=y, folds=folds, schema_json=schema.to_json(), metric="roc_auc", run_dir=str(tmp_path))
    fctx = FitContext(task="binary", n_rows=60, n_features=2, n_classes=2, seed=0)
    config = default_configs(get_families(["linear"], fctx), schema, fctx)[0]
    return ctx, dict(config)


def test_a_cv_trial_writes_its_out_of_fold_predictions_whole(tmp_path):
    ctx, config = small(tmp_path)
    res = run_trial(TrialSpec(0, config), ctx)
    assert res.status is TrialStatus.COMPLETE, res.error
    assert np.load(res.oof_path).shape == (90, 2)  # both classes' probabilities
    assert os.listdir(tmp_path / "oof") == ["trial_0.npy"]  # no temporary file left beside it


def test_a_refit_spec_writes_a_loadable_pipeline_that_predicts_like_a_direct_fit(tmp_path):
    ctx, config = small(tmp_path)
    res = run_trial(TrialSpec(7, config, seed=3, kind="refit", extra={"source_trial": 2}), ctx)
    assert res.status is TrialStatus.COMPLETE, res.error
    assert res.trial_id == 7 and res.extra["source_trial"] == 2 and res.fit_time > 0
    assert res.model_path == res.extra["model_path"] == str(tmp_path / "refit" / "trial_2.pkl")
    assert os.listdir(tmp_path / "refit") == ["trial_2.pkl"]  # written atomically: no temporary file beside it
    with open(res.model_path, "rb") as f:
        refit = pickle.load(f)
    direct = build(Config(config), ctx, len(ctx.y), TrialSpec(0, config, seed=3))
    fit_pipeline(direct, ctx.X, ctx.y)
    np.testing.assert_allclose(refit.predict_proba(ctx.X), direct.predict_proba(ctx.X))
    assert not (tmp_path / "oof").exists()  # a refit is not cross-validated


def test_a_refit_replays_the_schedule_it_is_given_as_json(tmp_path):
    # PBT trained 15 rounds at learning rate 0.3, then continued to 40 at 0.05: the refit must do the same
    ctx, config = small(tmp_path)
    fast = {**_lgbm_defaults(ctx), "lightgbm.n_estimators": 40, "lightgbm.learning_rate": 0.3}
    slow = {**fast, "lightgbm.learning_rate": 0.05}
    spec = TrialSpec(1, slow, kind="refit", extra={"source_trial": 0, "schedule": [[fast, 15], [slow, 40]]})
    res = run_trial(spec, ctx)
    assert res.status is TrialStatus.COMPLETE, res.error
    assert res.extra["schedule_steps"] == 2
    with open(res.model_path, "rb") as f:
        booster = pickle.load(f).named_steps["model"].booster_
    one_go = build(Config(fast), ctx, len(ctx.y), TrialSpec(0, fast))
    fit_pipeline(one_go, ctx.X, ctx.y)
    assert booster.current_iteration() == 40
    assert booster.dump_model()["tree_info"][:15] == one_go.named_steps["model"].booster_.dump_model()["tree_info"][:15]


def test_an_unknown_kind_is_a_failed_trial(tmp_path):
    ctx, config = small(tmp_path)
    res = run_trial(TrialSpec(1, config, kind="transfer"), ctx)
    assert res.status is TrialStatus.FAILED and "'transfer'" in res.error.message


def test_keep_folds_saves_the_fold_models_that_made_the_out_of_fold_predictions(tmp_path):
    ctx, config = small(tmp_path)
    res = run_trial(TrialSpec(0, config, extra={"keep_folds": True}), ctx)
    assert res.status is TrialStatus.COMPLETE, res.error
    assert res.extra["folds_path"] == str(tmp_path / "folds" / "trial_0.pkl")
    with open(res.extra["folds_path"], "rb") as f:
        pipes = pickle.load(f)
    assert len(pipes) == len(ctx.folds) == 3
    oof = np.load(res.oof_path)
    for pipe, (_, valid) in zip(pipes, ctx.folds):
        np.testing.assert_allclose(predict_matrix(pipe, ctx.X.iloc[valid], 2), oof[valid], rtol=1e-5)
    bagged = BaggedPipeline(pipes, 2)
    X = ctx.X.iloc[:10]
    mean = np.mean([p.predict_proba(X) for p in pipes], axis=0)
    np.testing.assert_allclose(bagged.predict_proba(X), mean)
    np.testing.assert_array_equal(bagged.predict(X), mean.argmax(axis=1))
    assert list(bagged.classes_) == [0, 1] and predict_matrix(bagged, X, 2).shape == (10, 2)
    # without keep_folds nothing is kept; below full fidelity the models trained on the row sample are
    assert "folds_path" not in run_trial(TrialSpec(1, config), ctx).extra
    low = run_trial(TrialSpec(2, config, fidelity=0.5, extra={"keep_folds": True}), ctx)
    assert low.status is TrialStatus.COMPLETE and low.extra["folds_path"].endswith("trial_2.pkl")
    with open(low.extra["folds_path"], "rb") as f:
        assert len(pickle.load(f)) == 3
    assert sorted(os.listdir(tmp_path / "folds")) == ["trial_0.pkl", "trial_2.pkl"]


def _lgbm_defaults(ctx):
    fctx = FitContext(task="binary", n_rows=90, n_features=2, n_classes=2, seed=0)
    return dict(default_configs(get_families(["lightgbm"], fctx), ctx.schema, fctx)[0])


def test_a_trial_stops_training_before_its_time_limit_and_still_scores_what_it_trained(tmp_path):
    from forgeml.evaluate.evaluator import finish_margin

    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(5000, 10)), columns=[f"x{i}" for i in range(10)])
    df["y"] = (df.x0 * df.x1 + rng.normal(0, 0.5, 5000) > 0).astype(int)
    schema = infer_schema(df, "y")
    X, y = align_for_predict(schema, df.drop(columns=["y"])), encode_target(df, schema)
    ctx = EvalContext(X=X, y=y, folds=make_folds(y, schema.task, n_rows=len(X), n_cols=10, seed=0, n_folds=3),
                      schema_json=schema.to_json(), metric="roc_auc", run_dir=str(tmp_path))
    fctx = FitContext(task="binary", n_rows=3333, n_features=10, n_classes=2, seed=0)
    config = {**default_configs(get_families(["lightgbm"], fctx), schema, fctx)[0],
              "lightgbm.n_estimators": 10_000_000, "lightgbm.learning_rate": 1e-4}  # hours of boosting
    timeout = 4.0
    res = run_trial(TrialSpec(0, config, timeout=timeout, extra={"keep_folds": True}), ctx)
    assert res.status is TrialStatus.COMPLETE, res.error
    assert res.extra["deadline_hit"] is True  # what was validated: the stopped models, not the configuration
    # boosting stopped at the trial's deadline less the margin to predict and save, the folds sharing the time
    assert res.fit_time < timeout - finish_margin(timeout) + 0.9 and res.duration < timeout
    with open(res.extra["folds_path"], "rb") as f:
        rounds = [p.named_steps["model"].booster_.num_trees() for p in pickle.load(f)]
    assert all(1 < r < 10_000_000 for r in rounds)  # every fold trained: none was starved by the one before
    assert finish_margin(4.0) == 1.0 and finish_margin(50.0) == 10.0 and finish_margin(500.0) == 20.0
    assert finish_margin(4.0, "refit") == 1.0 and finish_margin(50.0, "refit") == 5.0


def _mixed(tmp_path, n=3000):
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.exponential(size=n),
                       "c": rng.choice(["x", "y", "z", None], size=n)})
    df.loc[rng.random(n) < 0.1, "a"] = np.nan
    df["y"] = ((df.a.fillna(0) + (df.c == "x") + rng.normal(0, 0.5, n)) > 0.5).astype(int)
    schema = infer_schema(df, "y")
    X, y = align_for_predict(schema, df.drop(columns=["y"])), encode_target(df, schema)
    folds = make_folds(y, schema.task, n_rows=len(X), n_cols=3, seed=0, n_folds=3)
    return EvalContext(X=X, y=y, folds=folds, schema_json=schema.to_json(), metric="roc_auc", run_dir=str(tmp_path))


@pytest.mark.parametrize("family", ["linear", "lightgbm", "mlp"])
def test_validation_rows_predicted_in_slices_give_the_same_out_of_fold_predictions(tmp_path, monkeypatch, family):
    """A large fold is predicted a slice at a time (memory); the out-of-fold predictions and the score must be those
    of one call over the whole fold: 1,000 validation rows per fold here, in slices of 250."""
    ctx = _mixed(tmp_path)
    fctx = FitContext(task="binary", n_rows=2000, n_features=3, n_classes=2, seed=0)
    config = dict(default_configs(get_families([family], fctx), ctx.schema, fctx)[0])
    whole = run_trial(TrialSpec(0, config), ctx)
    monkeypatch.setattr(evaluator, "PREDICT_SLICE_CELLS", 3)  # as small as slices go: _MIN_SLICE_ROWS
    monkeypatch.setattr(evaluator, "_MIN_SLICE_ROWS", 250)
    calls = []
    real = evaluator.predict_matrix
    monkeypatch.setattr(evaluator, "predict_matrix", lambda p, X, k: calls.append(len(X)) or real(p, X, k))
    sliced = run_trial(TrialSpec(1, config), ctx)
    assert whole.status is sliced.status is TrialStatus.COMPLETE, (whole.error, sliced.error)
    assert calls == [250, 250, 250, 250] * 3  # each fold of 1,000 rows in four slices
    np.testing.assert_array_equal(np.load(sliced.oof_path), np.load(whole.oof_path))
    assert sliced.score == whole.score and sliced.fold_scores == whole.fold_scores
