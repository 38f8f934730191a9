from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forgeml.errors import ConfigError, SearchWarning
from forgeml.features import DatetimeParts, Preprocessor, TextFeatures
from forgeml.features.engineer import CountEncoder, GroupStats, SkewTransformer

COLS = (("a", "numeric"), ("b", "numeric"), ("city", "categorical"), ("d", "datetime"))


def _df(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": np.exp(rng.normal(size=n)), "b": rng.normal(size=n),
                       "city": rng.choice(list("wxyz"), n),
                       "d": pd.date_range("2020-01-01", periods=n, freq="D").astype(str)})
    y = df["a"].to_numpy() * 2 + rng.normal(size=n)
    return df, y


@pytest.mark.parametrize("method", ["log1p", "sqrt", "yeo-johnson", "box-cox"])
def test_skew_transform_reduces_skew_of_skewed_columns_only(method):
    df, _ = _df()
    X = df[["a", "b"]]
    t = SkewTransformer(method).fit(X)
    assert set(t.columns_) == {"a"}  # b is symmetric
    out = t.transform(X)
    assert abs(stats.skew(out["a"])) < abs(stats.skew(X["a"])) / 2
    pd.testing.assert_series_equal(out["b"], X["b"])


def test_box_cox_falls_back_to_yeo_johnson_for_non_positive_columns():
    df, _ = _df()
    X = pd.DataFrame({"pos": df["a"], "shifted": df["a"] - 1.5})
    t = SkewTransformer("box-cox").fit(X)
    assert t.columns_["pos"][0] == "box-cox" and t.columns_["shifted"][0] == "yeo-johnson"
    out = t.transform(pd.DataFrame({"pos": [-5.0, np.nan], "shifted": [-10.0, 1.0]}))
    assert np.isfinite(out["pos"][0]) and np.isnan(out["pos"][1]) and np.isfinite(out["shifted"]).all()
    huge = t.transform(pd.DataFrame({"pos": [1e300], "shifted": [1e300]}))
    assert huge.iloc[0].tolist() == [t.columns_["pos"][4], t.columns_["shifted"][4]]  # the fit rows' maximum
    with pytest.raises(ConfigError):
        SkewTransformer("cube").fit(X)


def test_count_encoding_learns_shares_on_fit_rows():
    X = pd.DataFrame({"c": ["a", "a", "b", None]})
    enc = CountEncoder().fit(X)
    out = enc.transform(pd.DataFrame({"c": ["a", "b", "zzz", None]}))
    assert out["c__count"].tolist() == [0.5, 0.25, 0.0, 0.25]


def test_count_encoding_of_a_few_rows_is_the_frame_paths_row_by_row():
    rng = np.random.default_rng(3)
    n = 300
    X = pd.DataFrame({"s": rng.choice(["a", "b", "c", None], n),
                      "f": rng.choice([1.0, 2.0, 2.5, np.nan], n),  # whole floats read as "1", "2"
                      "m": pd.Series(rng.choice(["x", 3, True, None, pd.NA], n), dtype=object),
                      "k": pd.Categorical(rng.choice(["p", "q", None], n))})
    enc = CountEncoder().fit(X.iloc[:200])
    new = X.iloc[150:].copy()
    new.iloc[0] = ["zzz", 7.0, "unseen", "p"]
    full = enc.transform(new)  # more rows than FEW_ROWS: pandas' map
    assert len(new) > 64 and (full.to_numpy() > 0).any() and (full.to_numpy() == 0).any()
    rows = pd.concat([enc.transform(new.iloc[i:i + 7]) for i in range(0, len(new), 7)])
    pd.testing.assert_frame_equal(rows, full)


def test_group_stats_are_out_of_fold_on_training_rows():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"g": rng.choice(["p", "q"], 200), "v": rng.normal(size=200)})
    gs = GroupStats(("g",), "v", n_splits=5, seed=0)
    oof = gs.fit_transform(X)
    full = gs.transform(X)
    assert not np.allclose(oof["g__mean_v"], full["g__mean_v"])  # training rows never see their own fold
    from sklearn.model_selection import KFold

    train, valid = next(iter(KFold(5, shuffle=True, random_state=0).split(X)))
    sub = X.iloc[train]
    n = (sub.g == "p").sum()
    expected = (n * sub.v[sub.g == "p"].mean() + 10 * sub.v.mean()) / (n + 10)
    first_p = valid[(X.g.iloc[valid] == "p").to_numpy()][0]
    assert oof["g__mean_v"].iloc[first_p] == pytest.approx(expected)


def test_cyclic_dates_put_december_next_to_january():
    X = pd.DataFrame({"d": ["2020-12-31", "2021-01-01", "2021-06-30"]})
    out = DatetimeParts(cyclic=True).fit(X).transform(X)
    dist = np.hypot(out["d_month_sin"] - out["d_month_sin"][0], out["d_month_cos"] - out["d_month_cos"][0])
    assert dist[1] < dist[2]
    assert "d_hour_sin" not in out and list(out.columns) == list(DatetimeParts(cyclic=True).fit(X)
                                                                    .get_feature_names_out())


def test_large_text_is_hashed_or_skipped_with_a_warning():
    docs = pd.DataFrame({"t": [f"word{i % 7} other{i % 3} thing" for i in range(60)]})
    with pytest.warns(SearchWarning, match="hashing"):
        out = TextFeatures(hash_above=100).fit(docs).transform(docs)
    assert any(c.startswith("t_svd") for c in out.columns)
    with pytest.warns(SearchWarning, match="no term features"):
        out = TextFeatures(skip_above=100).fit_transform(docs)
    assert list(out.columns) == ["t_chars", "t_words"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", SearchWarning)
        TextFeatures().fit(docs)  # small text: a vocabulary, no warning


def test_preprocessor_defaults_are_unchanged_and_engineering_is_fit_on_train_rows():
    df, y = _df()
    base = Preprocessor(COLS).fit(df, y)
    assert not any(c.endswith(("__count", "_sin", "_cos")) for c in base.get_feature_names_out())
    pre = Preprocessor(COLS, skew="box-cox", count_encoding=True, group_stats=True, cyclic_dates=True,
                       scale="standard").fit(df.iloc[:200], y[:200])
    out = pre.transform(df.iloc[200:])
    for col in ("city__count", "city__mean_a", "city__std_a", "d_month_sin", "d_dayofweek_cos"):
        assert col in out.columns
    assert np.isfinite(out.to_numpy(dtype=float)).all()
    desc = pre.describe_features()
    assert list(desc) == list(out.columns)
    assert desc["a"] == "box-cox(a)" and desc["city__count"] == "count of city"
    assert desc["city__mean_a"] == "mean of a per city" and desc["d_month_sin"] == "sin(month of d)"
    assert pre.skew_.columns_["a"][2] == pytest.approx(df["a"].iloc[:200].min())  # fit rows only
    with pytest.raises(ConfigError):
        Preprocessor(COLS, skew="cube").fit(df, y)


def test_a_preprocessor_pickled_before_feature_engineering_still_transforms():
    df, y = _df()
    pre = Preprocessor(COLS).fit(df, y)
    expected = pre.transform(df)
    for name in ("skew", "count_encoding", "group_stats", "cyclic_dates", "skew_", "counts_", "groups_"):
        del pre.__dict__[name]  # what an object saved by the earlier version holds
    del pre.dates_.__dict__["cyclic"]
    pd.testing.assert_frame_equal(pre.transform(df), expected)
    assert pre.get_params()["skew"] == "none" and pre.describe_features()["a"] == "input"


@pytest.mark.parametrize("method", ["yeo-johnson", "box-cox"])
def test_skew_power_and_skewness_are_fitted_on_a_seeded_sample_of_at_most_10000_values(method, monkeypatch):
    from forgeml.features import engineer

    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": np.exp(rng.normal(size=30_000)), "b": np.exp(rng.normal(size=30_000))})
    X.loc[::7, "a"] = np.nan  # the sample is drawn from the finite values
    seen: list[int] = []

    def spy(fn):
        def wrapped(v, *args, **kwargs):
            seen.append(len(v))
            return fn(v, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(engineer, "_skew", spy(engineer._skew))
    monkeypatch.setattr(stats, "yeojohnson_normmax", spy(stats.yeojohnson_normmax))
    monkeypatch.setattr(stats, "boxcox_normmax", spy(stats.boxcox_normmax))
    t = SkewTransformer(method).fit(X)
    assert set(t.columns_) == {"a", "b"} and seen and max(seen) == engineer.SKEW_FIT_ROWS
    assert len(seen) == 4  # skewness and power of both columns, each on the sample
    again = SkewTransformer(method).fit(X)
    assert again.columns_ == t.columns_  # deterministic
    assert abs(stats.skew(t.transform(X)["b"])) < abs(stats.skew(X["b"])) / 10  # the sample's power fits all rows


def test_group_stats_value_column_is_ranked_on_a_seeded_sample_not_the_first_rows():
    rng = np.random.default_rng(0)
    n = 5000
    y = np.r_[np.zeros(3000, dtype=int), np.ones(2000, dtype=int)]  # sorted by the target
    X = pd.DataFrame({"noise": rng.normal(size=n), "signal": y + 0.5 * rng.normal(size=n),
                      "city": rng.choice(list("abc"), n)})
    cols = (("noise", "numeric"), ("signal", "numeric"), ("city", "categorical"))
    prep = Preprocessor(cols, task="binary", group_stats=True).fit(X, y)
    assert prep.group_value_ == "signal"  # the first 2,000 rows all have y = 0: nothing to rank on there
    assert "city__mean_signal" in prep.get_feature_names_out()
