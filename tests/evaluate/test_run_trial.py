"""What workers run: cross-validation only. Final refits happen in the orchestrator (``refit_in_process``)."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from forgeml.data.infer import infer_schema
from forgeml.data.splits import make_folds
from forgeml.data.validate import align_for_predict
from forgeml.evaluate.evaluator import EvalContext, run_trial
from forgeml.models import get_families
from forgeml.models.base import FitContext
from forgeml.orchestrate.prepare import encode_target
from forgeml.pipeline.joint import default_configs
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


def test_a_refit_spec_is_refused_not_run_as_cv(tmp_path):
    ctx, config = small(tmp_path)
    res = run_trial(TrialSpec(1, config, kind="refit"), ctx)
    assert res.status is TrialStatus.FAILED and "refit_in_process" in res.error.message
    assert not (tmp_path / "models").exists() and not (tmp_path / "oof").exists()
