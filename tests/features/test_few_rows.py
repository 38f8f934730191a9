"""A request's few rows take NumPy paths through the preprocessing (``Preprocessor._transform_few``, the coercions'
cell-by-cell reading): they must give exactly what the frame path gives for the same rows inside a large batch."""
import numpy as np
import pandas as pd
import pytest

from forgeml.data.coerce import FEW_ROWS, to_bool, to_numeric, to_string, unreadable
from forgeml.features.encode import CategoricalEncoder
from forgeml.features.engineer import GroupStats
from forgeml.features.preprocess import Preprocessor

COLS = (("num", "numeric"), ("wide", "numeric"), ("skewed", "numeric"), ("count", "numeric"), ("text_num", "numeric"),
        ("nullable", "numeric"), ("yes", "boolean"), ("flag", "boolean"), ("bit", "boolean"), ("mixed_yes", "boolean"),
        ("city", "categorical"), ("shop", "categorical"), ("grade", "categorical"))
CATEGORICALS = ["city", "shop", "grade"]


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "num": rng.normal(size=n),
        "wide": rng.normal(scale=1e4, size=n),
        "skewed": rng.lognormal(sigma=2.0, size=n),
        "count": rng.integers(0, 50, n),
        "text_num": rng.choice(["1.5", " 2 ", "-3", "4e2", "n/a", None], n).astype(object),  # numbers as text
        "nullable": pd.array(rng.integers(0, 9, n), dtype="Int64"),
        "yes": rng.choice(["yes", "no", " Yes", "N"], n).astype(object),
        "flag": rng.choice([True, False], n),
        "bit": rng.integers(0, 2, n),
        "mixed_yes": rng.choice(np.array(["yes", 0, 1, "false", None, pd.NA, "maybe"], dtype=object), n),
        "city": rng.choice(list("abcdefgh"), n).astype(object),
        "shop": rng.choice([f"s{i}" for i in range(40)], n).astype(object),
        "grade": rng.choice([1.0, 2.0, 3.0, 7.5], n).astype(object),  # numbers as categories: read as text
    })
    for c, share in (("num", 0.1), ("skewed", 0.05), ("yes", 0.1), ("city", 0.1), ("shop", 0.05)):
        df.loc[rng.random(n) < share, c] = np.nan
    df.loc[rng.random(n) < 0.05, "nullable"] = pd.NA
    df.loc[rng.random(n) < 0.02, "num"] = np.inf
    df.loc[rng.random(n) < 0.03, "city"] = None
    return df


def _hostile(test: pd.DataFrame) -> pd.DataFrame:
    """Request rows a caller may send: values training never saw, missing markers of every kind, a list cell."""
    test = test.copy()
    test.loc[test.index[:3], "city"] = ["zzz", "unseen", "a"]
    test.loc[test.index[3], "shop"] = "s999"
    test.loc[test.index[4], "city"] = pd.NA
    test["shop"] = test["shop"].astype(object)
    test.at[test.index[5], "shop"] = ["s1", "s2"]  # unhashable: read as its text, like any unseen value
    test.loc[test.index[6], "grade"] = 2  # the integer of a float category: the same text, "2"
    return test


def _same(few: pd.DataFrame, whole: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(few, whole, check_exact=True)
    floats = [c for c in few.columns if few[c].dtype == np.float64]
    # to the bit: -0.0 and 0.0, and NaN payloads, as the frame path makes them
    np.testing.assert_array_equal(few[floats].to_numpy().view(np.int64), whole[floats].to_numpy().view(np.int64))


CONFIGS = [
    {},
    {"impute": "none", "cat_encoding": "native"},
    {"impute": "mean", "indicators": True, "scale": "standard", "clip": "quantile", "cat_encoding": "onehot"},
    {"impute": "most_frequent", "indicators": True, "scale": "quantile", "clip": "iqr", "cat_encoding": "target",
     "max_onehot": 5},
    {"impute": "constant", "scale": "robust", "cat_encoding": "ordinal", "skew": "yeo-johnson"},
    {"impute": "median", "scale": "minmax", "cat_encoding": "onehot", "max_onehot": 10, "skew": "log1p",
     "count_encoding": True, "group_stats": True},
    {"impute": "none", "cat_encoding": "native", "skew": "box-cox", "count_encoding": True, "group_stats": True},
    {"impute": "median", "indicators": True, "cat_encoding": "onehot", "max_onehot": 10, "skew": "sqrt"},
]


@pytest.mark.parametrize("fit_on", ["strings", "categories"])  # a run fits on category columns (compact_categoricals)
@pytest.mark.parametrize("task", ["binary", "regression"])
@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "defaults")
def test_a_few_rows_are_preprocessed_exactly_as_inside_a_large_batch(params, task, fit_on):
    from forgeml.data.coerce import to_categories

    train, test = _frame(400, 0), _hostile(_frame(200, 1))
    y = (train["num"].fillna(0) + (train["city"] == "a") > 0.3).astype(int).to_numpy()
    if task == "regression":
        y = train["wide"].to_numpy() / 1e4 + y
    if fit_on == "categories":
        train = train.assign(**{c: to_categories(train[c]) for c in CATEGORICALS})
    prep = Preprocessor(COLS, task=task, seed=0, **params).fit(train, y)
    assert prep._few_rows_apply()  # the path under test is taken
    whole = prep.transform(test)  # 200 rows: the frame path
    for rows in ([0], [1], [2], [4], [5], [6], [5, 9], list(range(10, 10 + FEW_ROWS))):
        _same(prep.transform(test.iloc[rows]), whole.iloc[rows])


def test_cell_by_cell_coercions_equal_the_vectorised_ones():
    cells = ["yes", "No", None, np.nan, " TRUE ", "maybe", 1, 0.0, 1.5, pd.NA, "", "f", True]
    big = pd.Series(cells * 6, dtype=object)  # hashable: the frame path reads each distinct value once
    unhashable = pd.Series((cells + [["a"], {"k": 1}]) * 6, dtype=object)  # the frame path's cell-by-cell fallback
    assert len(big) > FEW_ROWS
    for values in (big, unhashable, pd.Series([1.0, np.nan, 3.25, 4.0] * 20),
                   pd.Series(["a", "b", None] * 30, dtype="category"), pd.Series(pd.array([1, None, 0] * 30, "Int64")),
                   pd.Series([pd.Timestamp("2024-01-02"), pd.NaT] * 40)):
        for convert in (to_string, to_bool) if values.dtype.kind != "M" else (to_string,):
            whole = convert(values)
            for rows in ([0], [2, 3], list(range(FEW_ROWS))):
                pd.testing.assert_series_equal(convert(values.iloc[rows]), whole.iloc[rows], check_exact=True)
    for convert in (to_bool, to_numeric):  # the values predict-time checks call unreadable (markers such as "" not)
        lost = unreadable(big, convert(big))
        assert lost.any() and not lost.all()
        for rows in ([5], [2, 3, 4, 5], list(range(FEW_ROWS))):
            part = big.iloc[rows]
            np.testing.assert_array_equal(unreadable(part, convert(part)), lost[rows])


def test_group_statistics_of_a_few_rows_equal_the_frame_path():
    train, test = _frame(300, 2), _frame(80, 3)
    test.loc[test.index[0], "city"] = "never seen"
    gs = GroupStats(("city", "grade"), "num").fit(train.assign(num=train["num"].replace(np.inf, np.nan)))
    whole = gs.transform(test)
    rows = [0, 1, 2, 7]
    got = gs.transform_rows({c: test[c].iloc[rows].to_numpy(dtype=object) for c in ("city", "grade")})
    np.testing.assert_array_equal(got, whole.iloc[rows].to_numpy())


def test_native_codes_of_a_few_rows_equal_the_frame_path():
    train, test = _frame(300, 4), _frame(100, 5)
    test.loc[test.index[0], "shop"] = "never seen"
    for frame in (train, test):  # category columns too: of strings (read through their codes) and of numbers
        frame["city_cat"] = frame["city"].astype("category")
        frame["grade_cat"] = frame["grade"].astype("float64").astype("category")
    cols = ["city", "shop", "grade", "city_cat", "grade_cat"]
    enc = CategoricalEncoder("native").fit(train[cols])
    whole = enc.transform(test[cols])
    for rows in ([0], [1, 2, 3], list(range(FEW_ROWS))):
        pd.testing.assert_frame_equal(enc.transform(test[cols].iloc[rows]), whole.iloc[rows], check_exact=True)


@pytest.mark.parametrize("n_quantiles", [5, 200])
def test_normal_quantiles_equal_scikit_learns_transform_to_the_bit(n_quantiles):
    from sklearn.preprocessing import QuantileTransformer

    from forgeml.features.quantile import NormalQuantiles

    rng = np.random.default_rng(0)
    train = np.column_stack([rng.normal(size=300), rng.integers(0, 4, 300).astype(float), rng.lognormal(size=300)])
    train[rng.random(300) < 0.1, 0] = np.nan
    test = np.vstack([np.column_stack([rng.normal(scale=3, size=100), rng.integers(-1, 6, 100).astype(float),
                                       rng.lognormal(sigma=2, size=100)]),
                      [[np.nan, 0.0, 0.0], [1e300, -1e300, 1e308], [-0.0, 3.0, 1e-300]]])
    kw = dict(n_quantiles=n_quantiles, output_distribution="normal", subsample=100_000, random_state=0)
    ours, theirs = NormalQuantiles(**kw).fit(train), QuantileTransformer(**kw).fit(train)
    for rows in (test, test[:1], test[-3:]):
        np.testing.assert_array_equal(ours.transform(rows).view(np.int64), theirs.transform(rows).view(np.int64))
    np.testing.assert_array_equal(ours.inverse_transform(ours.transform(test)),
                                  theirs.inverse_transform(theirs.transform(test)))
