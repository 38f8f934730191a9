"""The evaluator with row weights: each fold fit gets its training rows' weights, each fold score and the
out-of-fold score their validation rows' weights."""
import numpy as np
import pandas as pd
import pytest

from forgeml.data.infer import infer_schema
from forgeml.data.splits import make_folds
from forgeml.data.validate import align_for_predict
from forgeml.evaluate.evaluator import EvalContext, run_trial
from forgeml.metrics import get_metric
from forgeml.orchestrate.prepare import encode_target
from forgeml.trial import TrialSpec, TrialStatus

LINEAR = {"family": "linear", "linear.C": 1.0, "linear.penalty": "l2", "linear.class_weight": "none"}


def context(tmp_path, sample_weight=None, metric="log_loss"):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    df["y"] = np.where(df["a"] + rng.normal(scale=1.5, size=300) > 0.7, "yes", "no")
    schema = infer_schema(df, "y", task="binary")
    X = align_for_predict(schema, df.drop(columns=["y"]))
    y = encode_target(df, schema)
    folds = make_folds(y, "binary", n_rows=len(X), n_cols=2, seed=0, n_folds=3)
    return EvalContext(X=X, y=y, folds=folds, schema_json=schema.to_json(), metric=metric, run_dir=str(tmp_path),
                       sample_weight=sample_weight)


def test_folds_fit_and_score_with_the_weights(tmp_path):
    plain_ctx = context(tmp_path / "plain")
    w = np.where(plain_ctx.y == 1, 6.0, 1.0)
    ctx = context(tmp_path / "weighted", sample_weight=w)
    plain, weighted = run_trial(TrialSpec(0, LINEAR), plain_ctx), run_trial(TrialSpec(0, LINEAR), ctx)
    assert plain.status is weighted.status is TrialStatus.COMPLETE, weighted.error
    oof_plain, oof = np.load(plain.oof_path).astype(float), np.load(weighted.oof_path).astype(float)
    # the weighted fold models put more probability on the up-weighted class
    assert oof[:, 1].mean() > oof_plain[:, 1].mean() + 0.05
    metric = get_metric("log_loss", "binary")
    assert weighted.score == pytest.approx(metric.score(ctx.y, oof, sample_weight=w), rel=1e-5)
    for (_, valid), s in zip(ctx.folds, weighted.fold_scores):
        assert s == pytest.approx(metric.score(ctx.y[valid], oof[valid], sample_weight=w[valid]), rel=1e-5)
    assert plain.score == pytest.approx(metric.score(ctx.y, oof_plain), rel=1e-5)


def test_a_fold_whose_validation_rows_all_weigh_zero_has_no_score_but_the_trial_completes(tmp_path):
    ctx = context(tmp_path)
    w = np.ones(len(ctx.y))
    w[ctx.folds[0][1]] = 0.0
    ctx.sample_weight = w
    res = run_trial(TrialSpec(0, LINEAR), ctx)
    assert res.status is TrialStatus.COMPLETE, res.error
    assert np.isnan(res.fold_scores[0]) and np.isfinite(res.fold_scores[1:]).all() and np.isfinite(res.score)


def test_iterative_trials_continue_only_models_trained_with_the_same_weights(tmp_path):
    from forgeml.evaluate.evaluator import fit_context
    from forgeml.models import get_families
    from forgeml.pipeline.joint import joint_space

    ctx = context(tmp_path)  # both contexts share one run directory, so each can see the other's saved states
    weighted = context(tmp_path, sample_weight=np.where(ctx.y == 1, 6.0, 1.0))
    it = {"fidelity_unit": "iterations"}

    def spec(tid, fidelity, parent=None):
        cfg = {"family": "lightgbm", "lightgbm.n_estimators": 40}
        fctx = fit_context(ctx, 300, TrialSpec(0, cfg))
        space = joint_space(get_families(["lightgbm"], fctx), ctx.schema, fctx)
        return TrialSpec(tid, dict(space.complete(cfg)), fidelity=fidelity, parent_id=parent, extra=it)

    assert run_trial(spec(0, 0.5), weighted).status is TrialStatus.COMPLETE
    child = run_trial(spec(1, 1.0, parent=0), weighted)
    assert child.status is TrialStatus.COMPLETE, child.error
    assert child.extra["continued_folds"] == 3  # weighted parent, weighted child: continued
    assert run_trial(spec(2, 0.5), ctx).status is TrialStatus.COMPLETE
    other = run_trial(spec(3, 1.0, parent=2), weighted)
    assert other.status is TrialStatus.COMPLETE and other.extra["continued_folds"] == 0  # trained without weights
