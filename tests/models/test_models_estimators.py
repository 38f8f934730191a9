"""Targeted behaviour of the estimators the families build: deadlines, categoricals, labels, clipping, scaling."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from forgeml.models import FAMILIES
from forgeml.models.base import FitContext
from forgeml.testing.check_model_family import synthetic_data


def _ctx(task: str = "binary", n_rows: int = 200, **kw) -> FitContext:
    return FitContext(task=task, n_rows=n_rows, n_features=6, n_classes={"binary": 2, "multiclass": 3}.get(task, 0),
                      **kw)


def _build(name: str, ctx: FitContext, **override):
    family = FAMILIES[name]()
    return family.build({**family.defaults(ctx)[0], **override}, ctx)  # overrides may go below a fidelity floor


@pytest.mark.parametrize(("name", "trees"), [
    ("lightgbm", lambda m: m.booster_.num_trees()),
    ("xgboost", lambda m: m.get_booster().num_boosted_rounds()),
    ("catboost", lambda m: m.model_.tree_count_),
])
def test_boosting_stops_at_a_past_deadline_and_still_predicts(name, trees):
    X, y = synthetic_data("binary", 300, categorical=True, missing=True)
    it = FAMILIES[name].capabilities.iterative_param
    est = _build(name, _ctx(deadline=time.time() - 1), **{it: 2000})
    est.fit(X, y)
    assert trees(est) <= 2
    assert np.isfinite(est.predict_proba(X)).all()
    # the same configuration without a deadline builds every round
    full = _build(name, _ctx(), **{it: 30}).fit(X, y)
    assert trees(full) == 30


def test_xgboost_classifier_accepts_a_fold_missing_a_class():
    X, y = synthetic_data("multiclass", 150)
    keep = y != 1  # labels {0, 2}: what a CV fold without class 1 looks like
    est = _build("xgboost", _ctx("multiclass"), n_estimators=10).fit(X[keep], y[keep])
    assert est.classes_.tolist() == [0, 2]
    assert est.predict_proba(X).shape == (150, 2)
    assert set(np.unique(est.predict(X))) <= {0, 2}


def test_catboost_passes_category_columns_as_cat_features():
    rng = np.random.default_rng(0)
    n = 400
    codes = rng.integers(0, 5, n)
    X = pd.DataFrame({"noise": rng.normal(size=n),
                      "city": pd.Categorical(codes, categories=range(5)),
                      "shop": pd.Categorical(np.array(list("abcde"))[codes])})
    X.loc[::9, "city"] = np.nan
    y = (codes >= 3).astype(int)  # only the categories carry signal
    est = _build("catboost", _ctx(n_rows=n), iterations=60).fit(X, y)
    assert est.cat_columns_ == ["city", "shop"]
    assert sorted(est.model_.get_cat_feature_indices()) == [1, 2]
    assert (est.predict(X) == y).mean() > 0.95
    assert est.predict_proba(X.iloc[:3]).shape == (3, 2)


def test_lightgbm_uses_category_columns_natively():
    X, y = synthetic_data("binary", 300, categorical=True)
    est = _build("lightgbm", _ctx(), n_estimators=20).fit(X, y)
    cat = [str(c) for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    assert cat and est.booster_.feature_name() == [str(c) for c in X.columns]
    splits = est.booster_.trees_to_dataframe()
    assert set(splits.loc[splits.split_feature.isin(cat), "decision_type"]) == {"=="}  # category splits


def _lightgbm_frame(n: int = 3000) -> tuple[pd.DataFrame, np.ndarray]:
    """Numbers exact in float32, missing values, and a category column with missing codes."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.integers(0, 50, n).astype(float), "b": (rng.normal(size=n) * 64).round() / 64,
                      "c": pd.Categorical.from_codes(rng.integers(-1, 5, n), categories=pd.RangeIndex(5)),
                      "d": rng.integers(0, 3, n).astype(bool)})
    X.loc[::7, "a"] = np.nan
    y = ((X.a.fillna(0) > 25) ^ (X.c.cat.codes == 2)).astype(int).to_numpy()
    return X, y


@pytest.mark.parametrize("rows", [1, 5, 3000])
def test_lightgbm_on_a_float32_matrix_predicts_what_its_pandas_path_does(rows):
    """The frame goes to LightGBM as one float32 matrix (a quarter of the memory of LightGBM's own pandas path);
    on numbers float32 holds exactly, the trees and predictions are LightGBM's own, and no warning is raised."""
    import pickle
    import warnings

    import lightgbm as lgb

    X, y = _lightgbm_frame()
    ours = _build("lightgbm", _ctx(n_rows=len(X)), n_estimators=30)
    plain = lgb.LGBMClassifier(**{k: v for k, v in ours.get_params().items() if k != "deadline"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours.fit(X, y)
        plain.fit(X, y)
        batch = X.iloc[:rows]
        assert np.array_equal(ours.predict_proba(batch), plain.predict_proba(batch))
        assert np.array_equal(pickle.loads(pickle.dumps(ours)).predict(batch), plain.predict(batch))
    assert ours.booster_.dump_model()["tree_info"] == plain.booster_.dump_model()["tree_info"]


def test_lightgbm_reads_numbers_beyond_float32_as_float64_and_keeps_its_booster_usable_on_frames():
    import warnings

    X, y = _lightgbm_frame()
    X["huge"] = np.where(y == 1, 1e300, -1e300)  # finite, but inf in float32: the split would be lost
    est = _build("lightgbm", _ctx(n_rows=len(X)), n_estimators=20).fit(X, y)
    assert est.frame_dtype_ == np.float64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (est.predict(X) == y).mean() > 0.99
    # the booster maps a frame's categories as after LightGBM's own pandas path
    assert est.booster_.pandas_categorical == [[0, 1, 2, 3, 4]]
    assert np.allclose(est.booster_.predict(X), est.predict_proba(X)[:, 1])
    small = _build("lightgbm", _ctx(n_rows=len(X)), n_estimators=20).fit(X.drop(columns="huge"), y)
    assert small.frame_dtype_ == np.float32


def test_lightgbm_recodes_categories_that_differ_at_predict_time():
    X, y = _lightgbm_frame()
    est = _build("lightgbm", _ctx(n_rows=len(X)), n_estimators=20).fit(X, y)
    other = X.assign(c=X["c"].cat.set_categories([4, 3, 2, 1, 0]))  # same values, other codes
    assert np.array_equal(est.predict_proba(other), est.predict_proba(X))
    assert not np.array_equal(other["c"].cat.codes, X["c"].cat.codes)


def test_lightgbm_fitted_through_its_pandas_path_predicts_frames_that_way():
    """A model pickled before the float32 matrix (no ``frame_categories_``) reads frames as LightGBM does."""
    import lightgbm as lgb

    X, y = _lightgbm_frame()
    est = _build("lightgbm", _ctx(n_rows=len(X)), n_estimators=20).fit(X, y, categorical_feature="auto")
    assert "frame_categories_" not in est.__dict__ and est.booster_.pandas_categorical == [[0, 1, 2, 3, 4]]
    plain = lgb.LGBMClassifier(**{k: v for k, v in est.get_params().items() if k != "deadline"}).fit(X, y)
    assert np.array_equal(est.predict_proba(X), plain.predict_proba(X))


def test_catboost_leaves_the_callers_frame_as_it_was():
    X, y = _lightgbm_frame(400)
    X["s"] = pd.Categorical(np.where(X["d"], "yes", "no"))
    before = X.copy()
    est = _build("catboost", _ctx(n_rows=len(X)), iterations=10).fit(X, y)
    est.predict_proba(X)
    pd.testing.assert_frame_equal(X, before)


def test_knn_clips_neighbours_to_the_rows_it_sees():
    X, y = synthetic_data("binary", 40)
    ctx = _ctx(n_rows=400)  # the space was bounded for 400 rows, the fold has 12
    est = FAMILIES["knn"]().build({"n_neighbors": 100, "weights": "uniform", "p": 2}, ctx)
    est.fit(X.iloc[:12], y[:12])
    assert est.n_neighbors_ == 12 and est.n_neighbors == 100
    assert est.predict_proba(X).shape == (40, 2)


def test_linear_regression_penalty_shrinks_towards_the_target_mean_not_zero():
    X, y = synthetic_data("regression", 200)  # target around 1000
    est = FAMILIES["linear"]().build({"model": "lasso", "alpha": 10.0}, _ctx("regression"))
    pred = est.fit(X, y).predict(X)
    assert np.allclose(pred, y.mean(), atol=1e-6)


def test_linear_l1_uses_a_solver_valid_for_multiclass():
    X, y = synthetic_data("multiclass", 150)
    est = FAMILIES["linear"]().build({"C": 1.0, "penalty": "l1", "class_weight": "none"}, _ctx("multiclass"))
    assert est.solver == "saga"
    assert est.fit(X, y).predict_proba(X).shape == (150, 3)


def test_forest_cheap_default_bags_few_rows_on_big_data():
    family = FAMILIES["random_forest"]()
    ctx = _ctx(n_rows=200_000)
    est = family.build(family.defaults(ctx)[0], ctx)
    assert est.bootstrap and est.max_samples * 200_000 <= 20_001 and est.n_estimators == 100
