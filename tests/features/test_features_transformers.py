from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from forgeml.errors import ConfigError
from forgeml.features import (
    CategoricalEncoder,
    DatetimeParts,
    NumericImputer,
    OutlierClipper,
    TextFeatures,
)


def test_datetime_parts_dates_only():
    X = pd.DataFrame({"d": ["2024-02-29", None, "2023-12-31"]})
    t = DatetimeParts().fit(X)
    out = t.transform(X)
    assert list(out.columns) == ["d_year", "d_month", "d_day", "d_dayofweek", "d_dayofyear", "d_epoch"]
    assert out.loc[0, ["d_year", "d_month", "d_day", "d_dayofyear"]].tolist() == [2024, 2, 29, 60]
    assert out.loc[0, "d_dayofweek"] == 3  # Thursday
    assert out.loc[1].isna().all()
    assert out.loc[2, "d_epoch"] == pd.Timestamp("2023-12-31").timestamp()
    assert (out.dtypes == "float64").all()


def test_datetime_parts_hour_when_time_present():
    X = pd.DataFrame({"t": pd.to_datetime(["2020-01-01 10:30", "2020-01-02 23:00"])})
    out = DatetimeParts(epoch=False).fit_transform(X)
    assert "t_hour" in out.columns and "t_epoch" not in out.columns
    assert out["t_hour"].tolist() == [10.0, 23.0]


def test_clipper_quantile_and_iqr_learn_from_fit_only():
    train = pd.DataFrame({"a": np.arange(101.0), "b": np.nan})
    q = OutlierClipper("quantile", q=0.1).fit(train)
    out = q.transform(pd.DataFrame({"a": [-50.0, 50.0, 500.0, np.nan], "b": [1e9, 2, 3, 4]}))
    assert out["a"].tolist()[:3] == [10.0, 50.0, 90.0] and np.isnan(out["a"].iloc[3])
    assert out["b"].tolist() == [1e9, 2, 3, 4]  # all-missing in training: left alone
    iqr = OutlierClipper("iqr", k=1.0).fit(train)
    assert iqr.transform(pd.DataFrame({"a": [-1000.0], "b": [0.0]}))["a"].iloc[0] == 25 - 50


def test_clipper_rejects_unknown_method():
    with pytest.raises(ConfigError, match="quantile"):
        OutlierClipper("zscore").fit(pd.DataFrame({"a": [1.0]}))


@pytest.mark.parametrize("strategy,expected", [("mean", 3.0), ("median", 1.5), ("most_frequent", 1.0),
                                               ("constant", 0.0)])
def test_imputer_strategies(strategy, expected):
    train = pd.DataFrame({"a": [1.0, 1.0, 2.0, 8.0, np.nan], "full": [1.0, 2, 3, 4, 5]})
    imp = NumericImputer(strategy, indicators=True, min_missing=1).fit(train)
    out = imp.transform(pd.DataFrame({"a": [np.nan, 5.0], "full": [np.nan, 1.0]}))
    assert out["a"].tolist() == [expected, 5.0]
    assert list(out.columns) == ["a", "full", "a__missing"]  # indicator only for columns missing in training
    assert out["a__missing"].tolist() == [1.0, 0.0]
    assert not out["full"].isna().any()


def test_an_indicator_needs_as_many_missing_rows_as_a_one_hot_category_needs_rows():
    train = pd.DataFrame({"once": [np.nan] + [1.0] * 19, "often": [np.nan] * 5 + [1.0] * 15})
    imp = NumericImputer("median", indicators=True).fit(train)
    assert imp.indicator_columns_ == ["often"]
    assert list(imp.transform(train).columns) == ["once", "often", "often__missing"]


def test_imputer_none_and_all_nan_column():
    train = pd.DataFrame({"a": [1.0, np.inf, np.nan], "empty": [np.nan] * 3})
    assert NumericImputer("none").fit_transform(train)["a"].isna().sum() == 2  # inf is missing
    out = NumericImputer("median").fit_transform(train)
    assert out["empty"].tolist() == [0.0, 0.0, 0.0]


def _cats(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"low": rng.choice(["a", "b", "c"], n), "high": [f"h{i % 40}" for i in range(n)]})


def test_onehot_switches_high_cardinality_to_target_encoding():
    X = _cats()
    y = (X["low"] == "a").astype(int).to_numpy()
    enc = CategoricalEncoder("onehot", max_onehot=10).fit(X, y)
    out = enc.transform(pd.DataFrame({"low": ["a", "never-seen", None], "high": ["h1", "zz", None]}))
    assert [c for c in out.columns if c.startswith("low_")] == ["low_a", "low_b", "low_c"]
    assert "high__te" in out.columns and out.shape[1] == 4
    assert out.loc[1, ["low_a", "low_b", "low_c"]].sum() == 0  # unseen -> all zeros
    assert not out.isna().any().any()


def test_ordinal_unknown_and_missing_are_minus_one():
    enc = CategoricalEncoder("ordinal").fit(pd.DataFrame({"c": ["x", "y", "y"]}))
    out = enc.transform(pd.DataFrame({"c": ["y", "new", np.nan]}))
    assert out["c"].tolist() == [1.0, -1.0, -1.0]


def test_native_categories_by_frequency():
    enc = CategoricalEncoder("native").fit(pd.DataFrame({"c": ["b", "a", "b", None]}))
    out = enc.transform(pd.DataFrame({"c": ["a", "b", "new", None]}))
    assert isinstance(out["c"].dtype, pd.CategoricalDtype)
    assert list(out["c"].cat.categories) == [0, 1]
    assert out["c"].cat.codes.tolist() == [1, 0, -1, -1]


def test_target_encoding_fit_transform_is_out_of_fold():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"key": [f"k{i}" for i in range(300)]})  # every category seen once
    y = rng.integers(0, 2, 300)
    enc = CategoricalEncoder("target", target_type="binary", seed=0)
    oof = enc.fit_transform(X, y)["key__te"].to_numpy()
    # a leaky in-sample mean would reproduce y exactly; the cross-fitted one carries no information about it
    assert abs(np.corrcoef(oof, y)[0, 1]) < 0.3
    # ... while re-encoding the training rows with the full-data means would leak the label
    assert np.corrcoef(enc.transform(X)["key__te"], y)[0, 1] > 0.9


def test_target_encoding_multiclass_columns():
    X = _cats(90)
    y = np.arange(90) % 3
    out = CategoricalEncoder("target", target_type="multiclass").fit_transform(X, y)
    assert out.shape == (90, 6)


def test_encoder_clone_and_unknown_method():
    enc = CategoricalEncoder("native", max_categories=3)
    assert clone(enc).get_params() == enc.get_params()
    with pytest.raises(ConfigError, match="unknown categorical encoding"):
        CategoricalEncoder("hash").fit(_cats())


def test_text_features():
    docs = [f"the quick brown fox number {i} jumps over the lazy dog" if i % 2 else f"hello world again {i}"
            for i in range(40)]
    X = pd.DataFrame({"t": docs})
    tf = TextFeatures(n_components=3, seed=0)
    out = tf.fit_transform(X)
    assert list(out.columns) == ["t_svd0", "t_svd1", "t_svd2", "t_chars", "t_words"]
    new = tf.transform(pd.DataFrame({"t": [None, "brand new words"]}))
    assert new.loc[0, "t_chars"] == 0 and new.loc[1, "t_words"] == 3
    assert not new.isna().any().any()
    np.testing.assert_allclose(tf.transform(X).to_numpy(), out.to_numpy(), atol=1e-8)


def test_text_features_empty_vocabulary():
    out = TextFeatures().fit_transform(pd.DataFrame({"t": ["", None, "!"]}))
    assert list(out.columns) == ["t_chars", "t_words"]


@pytest.mark.parametrize("est", [DatetimeParts(), OutlierClipper(), NumericImputer(), CategoricalEncoder("ordinal"),
                                 TextFeatures()])
def test_set_output_pandas(est):
    X = {"DatetimeParts": pd.DataFrame({"d": pd.date_range("2020-01-01", periods=5)}),
         "CategoricalEncoder": pd.DataFrame({"c": list("abcab")}),
         "TextFeatures": pd.DataFrame({"t": ["a b c", "d e f", "a d", "b e", "c f"]})}.get(
        type(est).__name__, pd.DataFrame({"x": [1.0, 2, np.nan, 4, 5]}))
    est = clone(est).set_output(transform="pandas")
    out = est.fit(X).transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(est.get_feature_names_out())


def test_native_to_codes():
    from forgeml.features.encode import native_to_codes
    enc = CategoricalEncoder("native").fit(pd.DataFrame({"c": ["b", "a", "b"]}))
    out, cats = native_to_codes(enc.transform(pd.DataFrame({"c": ["a", None, "zz"]})).assign(x=1.0))
    assert cats == ["c"] and out["c"].tolist() == [1, -1, -1] and out["c"].dtype == "int64"


@pytest.mark.parametrize("method", ["onehot", "ordinal", "target", "native"])
def test_category_and_object_columns_of_the_same_strings_encode_alike(method):
    """Training frames hold categoricals as ``category`` (``compact_categoricals``), predict-time frames as the
    user sends them: every encoder must read both the same way, and fit the same on either."""
    from forgeml.data.coerce import to_categories

    rng = np.random.default_rng(0)
    raw = pd.DataFrame({"a": rng.choice(["x", "y", "z", None], 400),
                        "b": rng.choice([f"k{i}" for i in range(40)], 400)})
    cat = raw.apply(to_categories)
    y = rng.integers(0, 2, 400)
    on_raw = CategoricalEncoder(method, max_onehot=5, seed=0)
    on_cat = CategoricalEncoder(method, max_onehot=5, seed=0)
    pd.testing.assert_frame_equal(on_raw.fit_transform(raw, y), on_cat.fit_transform(cat, y))
    if "target" in on_cat.groups_:  # category columns reach TargetEncoder as integer codes, object ones as strings
        assert on_cat.target_codes_ is not None and on_raw.target_codes_ is None
    new = pd.DataFrame({"a": ["y", "new", None], "b": ["k3", None, "k39"]})
    for enc in (on_raw, on_cat):
        for X in (raw, cat, new, new.apply(to_categories)):
            pd.testing.assert_frame_equal(enc.transform(X), on_raw.transform(X.astype(object)))


def test_native_codes_break_ties_by_value_whatever_the_order_rows_come_in():
    a = CategoricalEncoder("native").fit(pd.DataFrame({"c": ["b", "a", "c", "a", "b"]}))
    b = CategoricalEncoder("native").fit(pd.DataFrame({"c": ["a", "b", "b", "c", "a"]}))
    out = [e.transform(pd.DataFrame({"c": ["a", "b", "c"]}))["c"].cat.codes.tolist() for e in (a, b)]
    assert out == [[0, 1, 2], [0, 1, 2]]  # a and b tie on 2 rows: a first; c (1 row) last


@pytest.mark.parametrize("as_category", [False, True])
def test_onehot_lookup_for_few_rows_encodes_exactly_as_the_fitted_encoder(as_category):
    """Batches of up to FAST_ROWS rows, and category columns of any length, read a lookup table instead of
    scikit-learn's transform: frequent, infrequent, unseen and missing values, in object and category columns, must
    come out the same."""
    import pickle

    from forgeml.features.encode import FAST_ROWS

    rng = np.random.default_rng(0)
    n = 600
    X = pd.DataFrame({"city": rng.choice(["a", "b", "c", "d", "rare1", "rare2"], n, p=[.3, .3, .2, .19, .005, .005]),
                      "size": rng.choice(["S", "M", "L"], n), "flag": rng.choice(["yes", "no"], n),
                      "code": rng.choice([1, 2, 3], n), "ok": rng.choice([True, False], n)})
    X.loc[::11, "city"] = np.nan
    enc = CategoricalEncoder("onehot", max_onehot=20, min_frequency=5).fit(X)
    test = pd.DataFrame({"city": rng.choice(["a", "b", "rare1", "rare2", "unseen", None], 300),
                         "size": rng.choice(["S", "M", "L", "XL"], 300), "flag": rng.choice(["yes", "no", None], 300),
                         "code": rng.choice([1.0, 2.0, 5.0, np.nan], 300),  # read as "1", "2", ...
                         "ok": rng.choice([True, False], 300)})
    if as_category:
        test = test.astype("category")
    whole = enc.transform(test)  # 300 rows: scikit-learn's transform (as category, "code" and "ok" have
    # categories that are not strings: they reach the encoder as text, so the group still takes scikit-learn's path)
    assert len(test) > FAST_ROWS
    pd.testing.assert_frame_equal(whole, enc.transform(test.astype(object)))  # scikit-learn's, in either case
    parts = pd.concat([enc.transform(test.iloc[i:i + FAST_ROWS]) for i in range(0, len(test), FAST_ROWS)])
    assert "onehot_lookup_" in enc.__dict__
    pd.testing.assert_frame_equal(parts, whole)
    rows = test["size"].astype(object).eq("XL").to_numpy()
    assert rows.any() and whole.loc[rows, whole.columns.str.startswith("size")].to_numpy().sum() == 0
    rows = test["city"].astype(object).eq("unseen").to_numpy()  # unseen goes with the infrequent cities
    assert rows.any() and (whole.loc[rows, "city_infrequent_sklearn"] == 1).all()
    again = pickle.loads(pickle.dumps(enc))  # saved without the table (it would change the step's digest)
    assert "onehot_lookup_" not in again.__dict__
    pd.testing.assert_frame_equal(again.transform(test.iloc[:1]), whole.iloc[:1])
    enc.fit(X.assign(city="z"))  # a refit drops the table made from the old encoder
    assert "onehot_lookup_" not in enc.__dict__
    assert enc.transform(test.iloc[:3]).filter(like="city").to_numpy().sum() <= 3


def test_onehot_fitted_on_category_columns_learns_what_it_learns_from_every_row():
    """Category columns are fitted from a sketch of their counts (each value at most min_frequency times): the
    categories, the infrequent ones and every output must be those of a fit on the full object columns."""
    from forgeml.features.encode import _count_sketch

    rng = np.random.default_rng(1)
    n = 3000
    city = rng.choice(["a", "b", "c", "r1", "r2", "r3"], n, p=[.5, .3, .1983, .001, .0004, .0003])
    city[::97] = None  # 31 missing: a frequent "category" of its own
    size = rng.choice(["S", "M", "L"], n).astype(object)
    size[:3] = None  # 3 missing: infrequent
    rare = np.array(["only"] * 4 + [None] * (n - 4), dtype=object)  # its one value is infrequent, missing is not
    raw = pd.DataFrame({"city": city, "size": size, "rare": rare})
    cat = raw.astype("category")
    cat["size"] = cat["size"].cat.add_categories(["XXL"])  # a category the rows never hold
    sketch = _count_sketch(cat, 5)
    assert len(sketch) < 30 and list(sketch.columns) == list(cat.columns)
    on_raw = CategoricalEncoder("onehot", max_onehot=20, min_frequency=5).fit(raw)
    on_cat = CategoricalEncoder("onehot", max_onehot=20, min_frequency=5).fit(cat)
    for a, b in zip(on_raw.encoders_["onehot"].categories_, on_cat.encoders_["onehot"].categories_):
        assert list(map(str, a)) == list(map(str, b))
    assert [None if i is None else list(map(str, i)) for i in on_raw.encoders_["onehot"].infrequent_categories_] \
        == [None if i is None else list(map(str, i)) for i in on_cat.encoders_["onehot"].infrequent_categories_]
    test = pd.DataFrame({"city": ["a", "r1", None, "new"], "size": ["S", None, "XXL", "M"],
                         "rare": ["only", None, "x", None]})
    for X in (raw, test):
        pd.testing.assert_frame_equal(on_cat.transform(X), on_raw.transform(X.astype(object)))
    pd.testing.assert_frame_equal(CategoricalEncoder("onehot", min_frequency=5).fit_transform(cat),
                                  on_raw.transform(raw))
    no_frequent = pd.DataFrame({"x": pd.Categorical(["u", "v", "w"])})
    assert _count_sketch(no_frequent, 5) is no_frequent  # nothing at the threshold to pad with: every row is fitted
    assert _count_sketch(cat, 0.01) is cat  # a share of the rows: the counts' total matters
