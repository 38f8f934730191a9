"""Row deletion (``missing_rows="drop"``) and the selection choices of the search space (issue 17)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LogisticRegression

from forgeml.data.infer import infer_schema
from forgeml.evaluate.evaluator import continue_pipeline
from forgeml.features.preprocess import Preprocessor
from forgeml.models import get_families
from forgeml.models.base import Capabilities, FitContext
from forgeml.pipeline.builder import build_pipeline, fit_pipeline
from forgeml.pipeline.joint import family_config, joint_space
from forgeml.pipeline.pipe import MAX_DROP_SHARE, ForgePipeline
from forgeml.pipeline.space import prep_space
from forgeml.space import Config


class Recorder(RegressorMixin, BaseEstimator):
    """A model that remembers which rows (index labels), targets and weights it was fitted on."""

    def fit(self, X, y, sample_weight=None):
        self.index_, self.y_, self.sample_weight_ = list(X.index), np.asarray(y), sample_weight
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        return np.zeros(len(X))


def _data(n: int = 200, n_missing: int = 10, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(["u", "v", "w"], n)})
    X.loc[: n_missing // 2 - 1, "a"] = np.nan
    X.loc[n - (n_missing - n_missing // 2):, "c"] = None
    y = (X["b"] > 0).astype(int).to_numpy()
    return X, y


def _pipe(model, missing_rows="drop", impute="median"):
    cols = (("a", "numeric"), ("b", "numeric"), ("c", "categorical"))
    return ForgePipeline([("prep", Preprocessor(cols, task="binary", impute=impute, indicators=True)),
                          ("model", model)], missing_rows=missing_rows)


def test_drop_fits_on_the_complete_rows_only_with_their_weights():
    X, y = _data()
    incomplete = X.isna().any(axis=1).to_numpy()
    w = np.arange(len(X), dtype=float)
    pipe = fit_pipeline(_pipe(Recorder()), X, y, w)
    rec = pipe.named_steps["model"]
    assert rec.index_ == list(X.index[~incomplete])
    assert np.array_equal(rec.y_, y[~incomplete]) and np.array_equal(rec.sample_weight_, w[~incomplete])
    assert pipe.n_rows_dropped_ == incomplete.sum() == 10
    # "impute" (the default) keeps every row
    assert _pipe(Recorder(), "impute").fit(X, y).named_steps["model"].index_ == list(X.index)


def test_every_row_gets_a_prediction_after_drop():
    X, y = _data()
    pipe = _pipe(LogisticRegression()).fit(X, y)
    prep = pipe.named_steps["prep"]
    assert set(prep.imputer_.statistics_) == set(prep.imputer_.value_columns_)  # a fill value for every column
    X_new = X.copy()
    X_new.loc[:20, ["a", "b"]] = np.nan
    proba = pipe.predict_proba(X_new)
    assert proba.shape == (len(X_new), 2) and np.isfinite(proba).all()
    # a family that takes NaN (impute="none") still predicts every row
    assert len(_pipe(Recorder(), impute="none").fit(X, y).predict(X_new)) == len(X_new)


@pytest.mark.parametrize("n_missing,n", [(int(MAX_DROP_SHARE * 200) + 2, 200), (4, 22)])
def test_too_many_incomplete_rows_or_too_few_left_keep_every_row(n_missing, n):
    X, y = _data(n=n, n_missing=n_missing)
    pipe = _pipe(Recorder()).fit(X, y)
    assert pipe.named_steps["model"].index_ == list(X.index) and pipe.n_rows_dropped_ == 0


def test_drop_never_removes_a_class():
    X, y = _data()
    y = y.copy()
    y[0] = 2  # the only row of class 2 has a missing value
    pipe = _pipe(Recorder()).fit(X, y)
    assert pipe.n_rows_dropped_ == 0


def test_continue_pipeline_trains_on_the_kept_rows():
    X, y = _data()
    incomplete = X.isna().any(axis=1).to_numpy()
    before = _pipe(Recorder()).fit(X, y)
    family = SimpleNamespace(capabilities=Capabilities(iterative_param="n"),
                             continue_from=lambda fitted, hp, ctx: Recorder())
    w = np.ones(len(X))
    after = continue_pipeline(before, Config({"family": "rec", "rec.n": 5}), 5, family, None, X, y, w)
    rec = after.named_steps["model"]
    assert rec.index_ == list(X.index[~incomplete]) and len(rec.sample_weight_) == (~incomplete).sum()
    assert after.missing_rows == "drop"


def _schema(n_missing: int, n: int = 200):
    X, y = _data(n=n, n_missing=n_missing)
    return infer_schema(X.assign(y=y), "y")


def test_schema_records_the_incomplete_share_and_the_space_offers_drop_only_when_small():
    fams = get_families(["linear"], FitContext(task="binary", n_rows=200, n_features=3, n_classes=2),
                        check_applies=False)
    cap = fams["linear"].capabilities
    small, large, none = _schema(10), _schema(60), _schema(0)
    assert small.extra["incomplete_row_share"] == pytest.approx(0.05)
    assert "missing_rows" in prep_space(cap, small)
    assert prep_space(cap, small)["missing_rows"].get_default() == "impute"
    assert "missing_rows" not in prep_space(cap, large) and "missing_rows" not in prep_space(cap, none)
    assert "missing_rows" not in prep_space(cap, small, engineering=False)
    old = type(small)(small.columns, small.target, small.task, small.classes, small.target_dtype)  # no extra
    assert "missing_rows" not in prep_space(cap, old)  # schemas saved before this change still work


def test_selection_choices_default_off_and_chi2_only_for_classification():
    ctx = FitContext(task="binary", n_rows=200, n_features=3, n_classes=2)
    cap = get_families(["linear"], ctx, check_applies=False)["linear"].capabilities
    space = prep_space(cap, _schema(10))
    assert space["select"].get_default() == "none" and "chi2" in space["select"].choices
    assert not space.is_active("select_keep", {"select": "none"})
    assert space.is_active("select_keep", {"select": "l1"}) and not space.is_active("select_keep",
                                                                                    {"select": "variance"})
    X, _ = _data()
    reg = infer_schema(X.assign(y=np.arange(len(X)) * 0.5), "y")
    assert "chi2" not in prep_space(cap, reg)["select"].choices


def test_build_pipeline_adds_the_select_step_and_missing_rows():
    schema = _schema(10)
    ctx = FitContext(task="binary", n_rows=200, n_features=3, n_classes=2)
    fams = get_families(["linear"], ctx, check_applies=False)
    space = joint_space(fams, schema, ctx)
    params = fams["linear"].defaults(ctx)[0]
    default = build_pipeline(family_config("linear", fams["linear"], params, schema, space), schema, fams, ctx)
    assert [n for n, _ in default.steps] == ["prep", "select", "model"] and default.missing_rows == "impute"
    assert default.named_steps["select"].method == "none"  # only the width cap
    cfg = family_config("linear", fams["linear"], params, schema, space,
                        prep={"select": "l1", "select_keep": 0.25, "missing_rows": "drop"})
    pipe = build_pipeline(cfg, schema, fams, ctx)
    assert pipe.named_steps["select"].keep == 0.25 and pipe.missing_rows == "drop"
    X, y = _data()
    pipe.fit(X, y)
    assert pipe.n_rows_dropped_ == 10 and len(pipe.predict(X)) == len(X)
    # a config without the engineering choices (feature_engineering=False) builds today's pipeline
    bare = Config({k: v for k, v in cfg.items() if k.split(".")[-1] not in ("select", "select_keep",
                                                                            "missing_rows")})
    assert [n for n, _ in build_pipeline(bare, schema, fams, ctx).steps] == ["prep", "model"]
