"""XGBoost and CatBoost members predict from the array the library's own frame path would build, to the last bit."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forgeml.models._xgb import XGBClassifier, XGBRegressor, _as_array


def _frame(n: int, seed: int, categories: object = ("x", "y", "z", "w")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 50, n).astype(np.int64),
                      "flag": rng.integers(0, 2, n).astype(bool), "c": rng.normal(size=n)})
    X.loc[rng.random(n) < 0.1, "a"] = np.nan
    codes = rng.integers(-1, 4, n)  # -1: missing
    X["city"] = pd.Categorical.from_codes(codes, categories=list(categories))  # codes are not the values
    return X


@pytest.mark.parametrize("cls", [XGBClassifier, XGBRegressor])
@pytest.mark.parametrize("rows", [1, 9, 3000])
@pytest.mark.parametrize("categories", [("x", "y", "z", "w"), pd.RangeIndex(4)], ids=["labels", "forgeml-codes"])
def test_predictions_equal_xgboosts_own_frame_path(cls, rows, categories):
    X = _frame(2000, 0, categories)
    y = ((X["a"].fillna(0) + (X["city"].cat.codes == 2)) > 0.3).astype(int) if cls is XGBClassifier else \
        X["a"].fillna(0) * 3 + X["city"].cat.codes.to_numpy()
    est = cls(n_estimators=25, max_depth=4, tree_method="hist", enable_categorical=True, n_jobs=1).fit(X, y)
    new = _frame(rows, 1, categories)
    assert isinstance(_as_array(est.get_booster(), new), np.ndarray)  # the short way is taken
    # a nullable column takes XGBoost's own frame path: same values, compared bit for bit
    own = new.astype({"c": "Float64"})
    assert _as_array(est.get_booster(), own) is own
    predict = est.predict_proba if cls is XGBClassifier else est.predict
    np.testing.assert_array_equal(predict(new), predict(own))
    np.testing.assert_array_equal(est.predict(new), est.predict(own))


def test_frames_it_cannot_vouch_for_go_to_xgboost():
    X = _frame(500, 0)
    est = XGBRegressor(n_estimators=5, tree_method="hist", enable_categorical=True, n_jobs=1).fit(X, X["c"] * 2)
    booster = est.get_booster()
    for other in (X[["b", "a", "flag", "c", "city"]],  # reordered: XGBoost names the mismatch
                  X.assign(city=X["city"].astype(str)),  # text where the booster has a category
                  X.assign(a=X["city"].cat.codes.astype("category"))):  # a category where it has numbers
        assert _as_array(booster, other) is other
    with pytest.raises(ValueError, match="feature_names mismatch|names"):
        est.predict(X[["b", "a", "flag", "c", "city"]])


def test_members_given_one_frame_in_a_request_convert_it_once():
    """Inside a prediction (``request_columns``) the boosters of an ensemble that share a preprocessing get the
    frame's matrix made once between them, for a request's few rows only; outside, or for a batch, each its own."""
    from forgeml.data.coerce import FEW_ROWS, request_columns

    X = _frame(800, 0)
    a = XGBClassifier(n_estimators=5, enable_categorical=True, n_jobs=1).fit(X, X["a"].fillna(0) > 0)
    b = XGBClassifier(n_estimators=9, max_depth=2, enable_categorical=True, n_jobs=1).fit(X, X["c"] > 0)
    row, batch = _frame(1, 1), _frame(FEW_ROWS + 1, 2)
    with request_columns():
        first = _as_array(a.get_booster(), row)
        assert _as_array(b.get_booster(), row) is first
        assert _as_array(b.get_booster(), row.copy()) is not first  # another frame
        assert _as_array(a.get_booster(), batch) is not _as_array(b.get_booster(), batch)
        np.testing.assert_array_equal(b.predict_proba(row), b.predict_proba(row.astype({"c": "Float64"})))
    assert _as_array(a.get_booster(), row) is not _as_array(b.get_booster(), row)
    np.testing.assert_array_equal(first, _as_array(a.get_booster(), row))


@pytest.mark.parametrize("task", ["binary", "regression"])
@pytest.mark.parametrize("rows", [1, 9, 3000])
def test_catboost_on_numbers_predicts_from_an_array_as_from_the_frame(task, rows):
    from forgeml.models.catboost import CatBoostClassifier, CatBoostRegressor, _as_catboost

    X = _frame(1500, 0).drop(columns=["city"])
    y = (X["a"].fillna(0) > 0).astype(int) if task == "binary" else X["a"].fillna(0) * 2 + X["b"]
    est = (CatBoostClassifier if task == "binary" else CatBoostRegressor)(iterations=30, depth=4).fit(X, y)
    new = _frame(rows, 1).drop(columns=["city"])
    assert isinstance(_as_catboost(new, est.cat_columns_, est.model_), np.ndarray)
    own = new.astype({"c": "Float64"})  # a nullable column: CatBoost builds its pool from the frame
    assert _as_catboost(own, est.cat_columns_, est.model_) is own
    np.testing.assert_array_equal(est.predict(new), est.predict(own))
    if task == "binary":
        np.testing.assert_array_equal(est.predict_proba(new), est.predict_proba(own))
    # reordered columns or a model with categories keep the frame
    assert not isinstance(_as_catboost(new[list(new.columns)[::-1]], [], est.model_), np.ndarray)
