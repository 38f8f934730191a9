from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from forgeml.data import infer_schema
from forgeml.errors import ConfigError, SchemaMismatchError
from forgeml.features import Preprocessor

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"  # <repo>/../shared, as CI lays it out


def _frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    num = rng.normal(10, 2, n)
    num[::7] = np.nan
    return pd.DataFrame({
        "num": num,
        "big": rng.exponential(100, n),
        "cat": rng.choice(["a", "b", "c", None], n),
        "flag": rng.choice(["yes", "no"], n),
        "when": pd.date_range("2020-01-01", periods=n, freq="D"),
        "code": [f"ID{i:05d}" for i in range(n)],
        "same": 1,
        "y": rng.integers(0, 2, n),
    })


@pytest.fixture
def schema():
    return infer_schema(_frame(), "y")


def _xy(df):
    return df.drop(columns="y"), df["y"].to_numpy()


@pytest.mark.parametrize("enc", ["onehot", "ordinal", "target", "native"])
@pytest.mark.parametrize("impute", ["none", "median"])
def test_output_dtypes_and_stable_columns(schema, enc, impute):
    X, y = _xy(_frame())
    p = Preprocessor.from_schema(schema, {"cat_encoding": enc, "impute": impute, "indicators": True,
                                          "scale": "standard", "clip": "quantile"})
    out = p.fit_transform(X, y)
    again = p.transform(_xy(_frame(seed=1))[0])
    assert list(out.columns) == list(again.columns) == list(p.get_feature_names_out())
    native = [c for c in out.columns if isinstance(out[c].dtype, pd.CategoricalDtype)]
    assert all(out[c].dtype == "float64" for c in out.columns if c not in native)
    assert (native == ["cat"]) == (enc == "native") and (native == []) == (enc != "native")
    assert not {"code", "same"} & set(out.columns)  # id and constant columns are dropped
    assert {"when_year", "flag"} <= set(out.columns)
    if impute == "median":
        assert not again.select_dtypes("float").isna().any().any()
        assert "num__missing" in out.columns
    else:
        assert again["num"].isna().any()


def test_clone_keeps_params_and_is_unfitted(schema):
    p = Preprocessor.from_schema(schema, {"cat_encoding": "target", "scale": "robust"}, seed=3)
    c = clone(p)
    assert c.get_params() == p.get_params() and c.columns == p.columns
    assert not hasattr(c, "feature_names_out_")
    X, y = _xy(_frame())
    pd.testing.assert_frame_equal(clone(p).fit_transform(X, y), clone(p).fit_transform(X, y))


def test_no_leakage_statistics_come_from_the_fit_fold(schema):
    X, y = _xy(_frame(200))
    train, other = X.iloc[:100], X.iloc[100:].copy()
    p = Preprocessor.from_schema(schema, {"scale": "standard", "impute": "median"}).fit(train, y[:100])
    ref = p.transform(other)
    shifted = other.copy()
    shifted.iloc[1:, shifted.columns.get_loc("big")] += 1e6  # change every other row of the other fold
    out = p.transform(shifted)
    pd.testing.assert_series_equal(out.iloc[0], ref.iloc[0])  # row 0 does not see its neighbours
    assert abs(p.transform(train)["big"].mean()) < 1e-9  # scaled with the fit fold's own mean
    assert out["big"].iloc[1:].min() > 100


def test_unseen_categories_and_missing_at_transform(schema):
    X, y = _xy(_frame())
    new = X.iloc[:3].copy()
    new["cat"] = ["never", None, "a"]
    new["flag"] = ["maybe", None, "yes"]
    new["when"] = [None, "garbage", "2030-01-01"]
    for enc in ("onehot", "ordinal", "target", "native"):
        p = Preprocessor.from_schema(schema, {"cat_encoding": enc, "impute": "median"}).fit(X, y)
        out = p.transform(new)
        assert len(out) == 3
        assert not out.select_dtypes("float").isna().any().any(), enc
    assert out["flag"].tolist()[2] == 1.0


def test_column_entirely_missing_in_training_fold(schema):
    X, y = _xy(_frame())
    X["num"] = np.nan
    X["cat"] = None
    p = Preprocessor.from_schema(schema, {"impute": "median", "indicators": True}).fit(X, y)
    assert "num" in p.dropped_ and "cat" in p.dropped_
    out = p.transform(_xy(_frame(seed=2))[0])
    assert not any(c.startswith("num") or c.startswith("cat") for c in out.columns)
    assert not out.isna().any().any()


def test_everything_dropped_leaves_a_constant_column():
    df = pd.DataFrame({"a": [np.nan] * 4, "y": [0, 1, 0, 1]})
    schema = infer_schema(df.assign(a=[1.0, 2, 3, 4]), "y")
    out = Preprocessor.from_schema(schema).fit_transform(df[["a"]], df["y"])
    assert out.shape == (4, 1) and (out.to_numpy() == 0).all()


def test_numpy_input_and_wrong_width(schema):
    X, y = _xy(_frame())
    p = Preprocessor.from_schema(schema, {"cat_encoding": "ordinal"}).fit(X, y)
    np.testing.assert_allclose(p.transform(X.to_numpy(dtype=object)).to_numpy(), p.transform(X).to_numpy())
    with pytest.raises(SchemaMismatchError, match="7 columns"):
        p.transform(np.zeros((2, 3)))
    with pytest.raises(SchemaMismatchError, match="'cat'"):
        p.transform(X.drop(columns="cat"))


def test_high_cardinality_onehot_becomes_target_encoding():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"city": [f"c{i % 60}" for i in range(300)], "few": rng.choice(list("abc"), 300),
                       "y": rng.normal(size=300)})
    schema = infer_schema(df, "y")
    out = Preprocessor.from_schema(schema, {"cat_encoding": "onehot", "max_onehot": 20}).fit_transform(
        df[["city", "few"]], df["y"])
    assert list(out.columns) == ["few_a", "few_b", "few_c", "city__te"]


def test_invalid_choice():
    with pytest.raises(ConfigError, match="scale='zscore'"):
        Preprocessor((("a", "numeric"),), scale="zscore").fit(pd.DataFrame({"a": [1.0, 2.0]}))


def test_names_are_safe_for_boosting_libraries():
    df = pd.DataFrame({"weird [name]": [1.0, 2, 3, 4], "c": ['x,"y"', "{z}", "a", "a"], "y": [0, 1, 0, 1]})
    schema = infer_schema(df, "y")
    out = Preprocessor.from_schema(schema, {"cat_encoding": "onehot", "max_onehot": 5}).fit_transform(
        df.drop(columns="y"), df["y"])
    assert all(ch.isalnum() or ch == "_" for c in out.columns for ch in c)
    assert len(set(out.columns)) == out.shape[1]


def test_text_column_real_dataset_and_set_output():
    df = pd.read_parquet(f"{DATASETS}/seattle_weather.parquet")
    df["note"] = [f"the day number {i} was {w} with wind {v:.0f}" for i, (w, v) in
                  enumerate(zip(df["weather"], df["wind"]))]
    schema = infer_schema(df, "weather")
    assert schema.column("note").kind == "text"
    y = pd.factorize(df["weather"], sort=True)[0]
    p = Preprocessor.from_schema(schema, {"scale": "quantile"}).set_output(transform="pandas")
    out = p.fit_transform(df[schema.names()], y)
    assert "note_svd0" in out.columns and "date_epoch" in out.columns
    assert out.shape[0] == len(df) and not out.isna().any().any()


def _wide(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols = {f"x{i}": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)) for i in range(20)}
    cols.update({f"c{i}": pd.Categorical(rng.choice(list("abcdefgh")[:3 + i], n)) for i in range(4)})
    cols["y"] = rng.integers(0, 2, n)
    return pd.DataFrame(cols)


def test_fit_transform_holds_little_more_than_its_output_at_its_peak():
    """Bytes allocated, not seconds or resident memory: the same on every machine. Each copy of the output a
    large table's trial makes is hundreds of megabytes; stacking and concatenating the parts copied it twice more
    (peaks of 4.9x the output in fit and 3.4x in transform before, 3.1x and 2.3x after; 2.5x and 2.0x now that
    each part is let go once copied and the categorical groups are made one at a time, after the numbers)."""
    import tracemalloc

    df = _wide(20_000)
    schema = infer_schema(df, "y")
    X, y = df.drop(columns="y"), df["y"].to_numpy()
    pre = Preprocessor.from_schema(schema, {"impute": "median", "indicators": True, "scale": "standard",
                                            "cat_encoding": "onehot"})
    tracemalloc.start()
    try:
        out = pre.fit_transform(X, y)
        _, fit_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        again = pre.transform(X)
        _, transform_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = out.to_numpy().nbytes
    assert out.shape == (20_000, 20 + 20 + sum(3 + i for i in range(4)))  # values, indicators, one-hot
    assert fit_peak < 2.8 * size and transform_peak - start < 2.3 * size
    pd.testing.assert_frame_equal(out, again)
    assert np.allclose(out.iloc[:, :20].mean(), 0, atol=1e-9)  # scaled; the indicators and one-hot are not
    assert set(np.unique(out.iloc[:, 20:].to_numpy())) == {0.0, 1.0}


@pytest.mark.parametrize("enc", ["onehot", "target"])
def test_a_refit_forgets_what_the_first_fit_made_and_what_predicting_keeps_is_never_pickled(enc):
    """Transforming keeps each output's column Index for the next request; a refit must not reuse it, and a
    pickle (a saved model, the digest by which members share a step) must not depend on it."""
    import pickle

    df = _frame()
    df["cat"] = np.random.default_rng(5).choice(["a", "b", "c"], len(df))
    X, y = _xy(df.drop(columns=["when"]))
    p = Preprocessor.from_schema(infer_schema(df.drop(columns=["when"]), "y"), {"cat_encoding": enc})
    p.fit(X, y)
    saved = pickle.dumps(p)
    p.transform(X.iloc[:1])
    p.transform(X)
    assert pickle.dumps(p) == saved
    p.transform(X.iloc[:1])  # cached again before the refit, whatever pickling did
    other = X.assign(cat=np.random.default_rng(6).choice(["d", "e", "f", "g"], len(X)))
    p.fit(other, y)
    fresh = Preprocessor.from_schema(infer_schema(df.drop(columns=["when"]), "y"), {"cat_encoding": enc}).fit(other, y)
    for rows in (other.iloc[:1], other):
        pd.testing.assert_frame_equal(p.transform(rows), fresh.transform(rows))


@pytest.mark.parametrize("scale", ["standard", "robust", "minmax", "quantile"])
def test_scaling_a_slice_of_rows_at_a_time_gives_the_same_output(monkeypatch, scale):
    """The output's numbers are scaled a slice of rows at a time (the scaler's copy stays small on a large table):
    every scaler works row by row, so the output must equal one call over all rows, to the bit."""
    from forgeml.features import preprocess

    df = _frame(300, seed=3)
    schema = infer_schema(df, "y")
    X, y = _xy(df)
    params = {"impute": "median", "indicators": True, "scale": scale, "cat_encoding": "onehot"}
    whole_fit = Preprocessor.from_schema(schema, params)
    whole = whole_fit.fit_transform(X, y)
    monkeypatch.setattr(preprocess, "_SCALE_ROWS", 7)
    sliced_fit = Preprocessor.from_schema(schema, params)
    pd.testing.assert_frame_equal(sliced_fit.fit_transform(X, y), whole, check_exact=True)
    pd.testing.assert_frame_equal(sliced_fit.transform(X), whole_fit.transform(X), check_exact=True)  # 43 slices


def test_the_output_is_the_parts_side_by_side_with_every_categorical_group_in_place():
    """The output is built a part at a time (numbers, indicators, then each categorical group as it is made): it
    must hold exactly the encoder's own output for the categorical columns (one-hot and target groups here, the
    target group cross-fitted in ``fit_transform``), after the numbers, in the encoder's order."""
    from forgeml.features.encode import CategoricalEncoder

    rng = np.random.default_rng(5)
    n = 3000
    df = pd.DataFrame({"x": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
                       "low": pd.Categorical(rng.choice(["a", "b", "c"], n)),
                       "high": pd.Categorical(rng.choice([f"k{i}" for i in range(60)], n)),
                       "z": rng.exponential(size=n)})
    df["y"] = (df.x.fillna(0) + (df.low == "a") + rng.normal(0, 1, n) > 0.5).astype(int)
    schema = infer_schema(df, "y")
    X, y = _xy(df)
    pre = Preprocessor.from_schema(schema, {"impute": "median", "indicators": True, "scale": "standard",
                                            "cat_encoding": "onehot"})
    fitted, again = pre.fit_transform(X, y), pre.transform(X)
    assert list(pre.encoder_.groups_) == ["onehot", "target"]
    enc_cols = [str(c) for c in pre.encoder_.get_feature_names_out()]
    assert [str(c) for c in pre.raw_names_[-len(enc_cols):]] == enc_cols  # the encoder's columns, in its order
    reference = CategoricalEncoder("onehot", max_onehot=pre.max_onehot, target_type="binary", seed=pre.seed)
    crossed = reference.fit_transform(X[["low", "high"]], y)
    np.testing.assert_array_equal(fitted.to_numpy()[:, -len(enc_cols):], crossed.to_numpy())
    np.testing.assert_array_equal(again.to_numpy()[:, -len(enc_cols):],
                                  pre.encoder_.transform(X[["low", "high"]]).to_numpy())
    numbers = fitted.shape[1] - len(enc_cols)  # x, z, x's indicator: the same in fit and transform
    assert numbers == 3
    np.testing.assert_array_equal(fitted.to_numpy()[:, :numbers], again.to_numpy()[:, :numbers])
