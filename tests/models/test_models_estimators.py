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
    assert est.booster_.pandas_categorical == [[0, 1, 2, 3]]


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
