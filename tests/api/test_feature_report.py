"""``AutoML.feature_report()`` and the report behind it (``forgeml.features.report``)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

import forgeml
from forgeml import AutoML
from forgeml.data.infer import infer_schema
from forgeml.errors import ForgeMLError, NotFittedError
from forgeml.features.preprocess import Preprocessor
from forgeml.features.report import COLUMNS, feature_report
from forgeml.features.select import FeatureSelector
from forgeml.pipeline.bagged import BaggedPipeline
from forgeml.pipeline.fitted import FittedPipeline
from forgeml.pipeline.pipe import ForgePipeline


def _data(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"signal": rng.normal(size=n), "noise": rng.normal(size=n),
                       "city": rng.choice(["Paris", "Rome", "Oslo"], n),
                       "row_id": np.arange(n)})
    df["y"] = (df["signal"] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return df


def test_before_fit_it_is_a_not_fitted_error():
    with pytest.raises(NotFittedError, match="not fitted"):
        AutoML().feature_report()
    assert issubclass(NotFittedError, ForgeMLError)


def test_report_of_a_fitted_model(tmp_path):
    df = _data()
    m = AutoML(max_trials=2, families=["linear"], ensemble=None, n_jobs=1, verbose=0, seed=0).fit(df, target="y")
    r = m.feature_report()
    assert list(r.columns) == COLUMNS
    assert set(df.columns.drop("y")) <= set(r.feature)  # every input column has a row
    inputs = r[r.feature.isin(df.columns.drop("y"))].set_index("feature")
    assert inputs.importance.sum() == pytest.approx(1.0)
    assert inputs.importance.idxmax() == "signal"
    assert not inputs.loc["row_id", "kept"] and "not modelled" in inputs.loc["row_id", "how"]
    assert inputs.loc[["signal", "noise", "city"], "kept"].all()
    onehot = r[r.how.str.startswith("one-hot city=")]
    assert len(onehot) >= 3 and (onehot.source == "city").all()
    assert (r.importance >= 0).all() and r.kept.dtype == bool
    m.save(str(tmp_path / "m"))
    loaded = forgeml.load(str(tmp_path / "m"))
    assert getattr(loaded, "_report_rows", None) is None  # no training rows in the model file
    pd.testing.assert_frame_equal(loaded.feature_report(), r)  # native importances: the same after loading


def _fitted(members, weights) -> FittedPipeline:
    return FittedPipeline(infer_schema(_data(), "y"), members, weights)


def _pipe(model, select=None):
    cols = (("signal", "numeric"), ("noise", "numeric"), ("city", "categorical"), ("row_id", "id"))
    steps = [("prep", Preprocessor(cols, task="binary", scale="standard"))]
    if select is not None:
        steps.append(("select", select))
    return ForgePipeline([*steps, ("model", model)])


def test_selected_out_features_are_not_kept_and_members_are_weighted():
    df = _data()
    X, y = df.drop(columns="y"), df["y"].to_numpy()
    narrow = _pipe(LogisticRegression(), FeatureSelector("mutual_info", 0.2, task="binary")).fit(X, y)
    wide = [_pipe(LogisticRegression()).fit(X.iloc[i::2], y[i::2]) for i in range(2)]
    r = feature_report(_fitted([narrow, BaggedPipeline(wide, 2)], [0.5, 0.5])).set_index("feature")
    assert narrow.named_steps["select"].selected_ == ["signal"]
    assert r.loc["noise", "kept"]  # kept by the bagged member
    only_narrow = feature_report(_fitted([narrow], [1.0])).set_index("feature")
    assert only_narrow.loc["signal", "importance"] == pytest.approx(1.0)
    assert not only_narrow.loc["noise", "kept"] and only_narrow.loc["noise", "importance"] == 0.0
    assert r.loc["signal", "importance"] < 1.0 and r.loc["noise", "importance"] > 0.0


def test_models_without_importances_get_permutation_importance():
    df = _data()
    X, y = df.drop(columns="y"), df["y"].to_numpy()
    knn = _pipe(KNeighborsClassifier(15)).fit(X, y)
    without_data = feature_report(_fitted([knn], [1.0])).set_index("feature")
    assert (without_data.importance == 0).all()  # nothing to measure on
    r = feature_report(_fitted([knn], [1.0]), X, y).set_index("feature")
    assert r.loc["signal", "importance"] > 0.5 and r.loc["signal", "importance"] > r.loc["noise", "importance"]


def test_a_generator_passing_columns_through_keeps_the_preprocessors_descriptions():
    from forgeml.features.generate import FeatureGenerator

    df = _data()
    X, y = df.drop(columns="y"), df["y"].to_numpy()
    cols = (("signal", "numeric"), ("noise", "numeric"), ("city", "categorical"), ("row_id", "id"))
    pipe = ForgePipeline([("prep", Preprocessor(cols, task="binary", count_encoding=True)),
                          ("generate", FeatureGenerator(k=2, max_features=2, task="binary")),
                          ("model", LogisticRegression())]).fit(X, y)
    assert "city__count" in pipe.named_steps["generate"].feature_names_in_  # passed through the generator
    r = feature_report(_fitted([pipe], [1.0])).set_index("feature")
    assert r.loc["city__count", "how"] == "count of city" and r.loc["city__count", "source"] == "city"
    made = pipe.named_steps["generate"].names_
    assert made and all(r.loc[n, "how"] != "input" for n in made)


def test_permutation_importance_compares_predictions_and_target_on_one_scale():
    from sklearn.neighbors import KNeighborsRegressor

    # y = exp(-4 u + 2.5 b): on the log scale the model learns, u moves the prediction more than b (variance
    # 16 vs 6.25); against y on the original scale, b would look more important.
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"u": rng.exponential(size=400), "b": rng.normal(size=400)})
    df["y"] = np.exp(-4 * df["u"] + 2.5 * df["b"])
    X, y = df.drop(columns="y"), df["y"].to_numpy()
    prep = Preprocessor((("u", "numeric"), ("b", "numeric")), scale="standard")
    pipe = ForgePipeline([("prep", prep), ("model", KNeighborsRegressor(10))], target_transform="box-cox").fit(X, y)
    r = feature_report(FittedPipeline(infer_schema(df, "y"), [pipe], [1.0]), X, y).set_index("feature")
    assert r.loc["u", "importance"] > 0.55 > r.loc["b", "importance"] > 0.0
    y[:5] = -1.0  # outside the fitted Box-Cox's domain: those rows are left out, the others still measure
    again = feature_report(FittedPipeline(infer_schema(df, "y"), [pipe], [1.0]), X, y).set_index("feature")
    assert again.loc["u", "importance"] > 0.55 > again.loc["b", "importance"] > 0.0
