from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forgeml.errors import ConfigError
from forgeml.features.generate import MAX_GENERATED, FeatureGenerator, relevance


def _frame(n: int = 600, p: int = 6, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"x{i}" for i in range(p)])
    X["city"] = pd.Categorical.from_codes(rng.integers(0, 3, n), categories=pd.RangeIndex(3))
    X["x0__missing"] = rng.integers(0, 2, n).astype(float)
    X["flag"] = rng.integers(0, 2, n).astype(float)
    y = X["x0"].to_numpy() * X["x1"].to_numpy() + 0.1 * rng.normal(size=n)
    return X, y


def test_interaction_columns_rank_first_and_their_product_is_generated():
    X, y = _frame()
    gen = FeatureGenerator(k=2).fit(X, y)
    assert set(gen.top_) == {"x0", "x1"}  # |x0| vs |y| reveals the interaction that Spearman(x0, y) misses
    out = gen.transform(X)
    prod = [c for c in out.columns if gen.describe_features()[c] in ("x0 * x1", "x1 * x0")]
    assert len(prod) == 1
    assert np.corrcoef(out[prod[0]], y)[0, 1] > 0.95


def test_category_indicator_and_binary_columns_pass_through_untouched():
    X, y = _frame()
    gen = FeatureGenerator(k=8).fit(X, y)
    out = gen.transform(X)
    assert isinstance(out["city"].dtype, pd.CategoricalDtype)
    assert out["city"].equals(X["city"])
    pd.testing.assert_frame_equal(out[list(X.columns)], X)
    used = {c for _, a, b in gen.terms_ for c in (a, b)}
    assert not used & {"city", "x0__missing", "flag"}


def test_fit_rows_only_and_stable_names():
    X, y = _frame()
    train, test = X.iloc[:400], X.iloc[400:]
    gen = FeatureGenerator(k=4).fit(train, y[:400])
    again = FeatureGenerator(k=4).fit(train, y[:400])
    a, b = gen.transform(test), gen.transform(test.iloc[::-1])
    assert list(a.columns) == list(gen.get_feature_names_out()) == list(b.columns)
    pd.testing.assert_frame_equal(a, b.iloc[::-1])  # row-wise: no statistic of the transformed rows is used
    assert gen.terms_ == again.terms_ and gen.bounds_ == again.bounds_
    other = FeatureGenerator(k=4).fit(X.iloc[200:], y[200:])  # other rows, other learned bounds
    assert other.bounds_ != gen.bounds_


def test_width_cap_holds_on_a_wide_frame():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(300, 500)), columns=[f"c{i}" for i in range(500)])
    y = X["c0"].to_numpy() + rng.normal(size=300)
    gen = FeatureGenerator(k=8).fit(X, y)  # 8 squares + 28 x (product, 2 ratios, difference) = 120 candidates
    out = gen.transform(X)
    assert out.shape[1] - X.shape[1] == MAX_GENERATED
    with pytest.raises(ConfigError):
        FeatureGenerator(max_features=MAX_GENERATED + 1).fit(X, y)


def test_ratio_with_zero_denominator_is_finite_and_clipped():
    X = pd.DataFrame({"a": np.linspace(1, 3, 200), "b": np.r_[np.zeros(20), np.linspace(-1, 1, 180)]})
    y = X["a"].to_numpy() / (X["b"].to_numpy() + 3)
    gen = FeatureGenerator(k=2, operations=("ratio",)).fit(X, y)
    new = pd.DataFrame({"a": [5.0, 1.0], "b": [0.0, 1e-12]})
    out = gen.transform(new)
    added = out.iloc[:, 2:]
    assert added.shape[1] == 2 and np.isfinite(added.to_numpy()).all()
    for name in added.columns:
        lo, hi = gen.bounds_[name]
        assert ((added[name] >= lo) & (added[name] <= hi)).all()


def test_describe_features_names_every_output_column():
    X, y = _frame()
    gen = FeatureGenerator(k=3).fit(X, y)
    desc = gen.describe_features()
    assert list(desc) == list(gen.transform(X.head()).columns)
    assert all(desc[c] == "input" for c in X.columns)
    assert all(desc[c] != "input" for c in gen.names_)


def test_classification_relevance_uses_each_class():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 2))
    y = np.where(x[:, 1] > 0.5, 2, np.where(x[:, 1] < -0.5, 1, 0))
    score = relevance(x, y, classification=True)
    assert score[1] > 0.5 > score[0]
    gen = FeatureGenerator(k=1, task="multiclass").fit(pd.DataFrame(x, columns=["a", "b"]), y)
    assert gen.top_ == ["b"]


def test_clone_and_pandas_output():
    from sklearn.base import clone

    X, y = _frame(200)
    gen = clone(FeatureGenerator(k=3, operations=("product",))).set_output(transform="pandas")
    out = gen.fit(X, y).transform(X)
    assert list(out.columns) == list(gen.get_feature_names_out())
    assert all(" * " in gen.describe_features()[c] for c in gen.names_)
    with pytest.raises(ConfigError, match="pass y"):
        FeatureGenerator().fit(X)


def test_candidates_are_tested_on_the_ranking_sample_only(monkeypatch):
    from forgeml.features import generate

    X, y = _frame(n=5000, p=3)
    seen: list[int] = []
    real = generate._combinable

    def spy(s):
        seen.append(len(s))
        return real(s)

    monkeypatch.setattr(generate, "_combinable", spy)
    gen = FeatureGenerator(k=3, sample=500).fit(X, y)
    assert len(seen) == X.shape[1] and set(seen) == {500}  # every column, never the 5,000 fit rows
    assert set(gen.top_) == {"x0", "x1", "x2"}  # the 0/1 and category columns still pass through


def test_generated_columns_are_always_finite_so_linear_and_knn_models_predict():
    from sklearn.linear_model import LinearRegression
    from sklearn.neighbors import KNeighborsRegressor

    X, y = _frame(p=2)
    X = X[["x0", "x1"]]
    gen = FeatureGenerator(k=2).fit(X, y)
    assert {op for op, _, _ in gen.terms_} >= {"ratio", "product"}
    new = pd.DataFrame({"x0": [1e200, -1e200, np.nan, 1e200], "x1": [1e200, 1e200, 1.0, -np.inf]})
    out = gen.transform(new)
    assert np.isfinite(out[gen.names_].to_numpy()).all()  # a = b = 1e200 gave inf / inf = NaN before
    for name in gen.names_:
        lo, hi = gen.bounds_[name]
        assert ((out[name] >= lo) & (out[name] <= hi)).all()
    Xt = gen.transform(X)
    for model in (LinearRegression(), KNeighborsRegressor(5)):
        model.fit(Xt[gen.names_], y)
        assert np.isfinite(model.predict(out[gen.names_])).all()
    # huge values among the fit rows themselves: inf / inf there too, still finite
    Xh = X.copy()
    Xh.iloc[:5] = 1e200
    huge = FeatureGenerator(k=2).fit(Xh, y)
    assert np.isfinite(huge.transform(Xh)[huge.names_].to_numpy()).all()


def _one_term_at_a_time(gen: FeatureGenerator, X: pd.DataFrame) -> np.ndarray:
    """The module doc's recipe, term by term: inputs clipped to their fit range, the term, clipped to its bounds,
    its fit median where it is not a number."""
    cols = []
    for name, t in zip(gen.names_, gen.terms_):
        lo, hi = gen.bounds_[name]
        with np.errstate(invalid="ignore", over="ignore"):
            v = np.clip(gen._term(X, t), lo, hi)
        cols.append(np.nan_to_num(np.where(np.isnan(v), gen.medians_[name], v), posinf=hi, neginf=lo))
    return np.column_stack(cols)


@pytest.mark.parametrize("rows", [1, 7, 500])
def test_generated_columns_have_the_same_bits_as_one_term_at_a_time_on_few_and_many_rows(rows):
    X, y = _frame(n=800, p=5, seed=3)
    X["x4"] = X["x4"].abs() + 1.0  # a positive column: ratios by it and differences against it
    gen = FeatureGenerator(k=5, max_features=MAX_GENERATED).fit(X, y)
    assert {op for op, _, _ in gen.terms_} == {"product", "ratio", "difference", "square"}
    new, _ = _frame(n=rows, p=5, seed=4)
    new["x4"] = new["x4"].abs() + 1.0
    if rows > 1:  # missing, infinite, huge and zero inputs among the rows
        new.loc[0, "x0"], new.loc[1, "x1"], new.loc[2, "x2"] = np.nan, np.inf, -1e300
        new.loc[3, ["x3", "x4"]] = 0.0
        new.loc[4, "x1"] = -np.inf
    out = gen.transform(new)
    np.testing.assert_array_equal(out[gen.names_].to_numpy(), _one_term_at_a_time(gen, new))
    assert list(out.columns) == [*new.columns, *gen.names_]
    pd.testing.assert_frame_equal(out[list(new.columns)], new)
    assert (out.index == new.index).all() and out[gen.names_].dtypes.eq("float64").all()
    # nullable columns (pd.NA for missing) read as the plain ones
    nullable = new.astype({"x0": "Float64", "x1": "Float64"})
    np.testing.assert_array_equal(gen.transform(nullable)[gen.names_].to_numpy(), out[gen.names_].to_numpy())


def test_a_refit_generator_forgets_its_first_terms_and_pickles_the_same_after_transforming():
    import pickle

    X, y = _frame(n=600, p=5, seed=1)
    gen = FeatureGenerator(k=3).fit(X, y)
    saved = pickle.dumps(gen)
    gen.transform(X.iloc[:1])
    gen.transform(X)
    assert pickle.dumps(gen) == saved  # what transforming keeps is not part of the fitted state
    gen.transform(X.iloc[:1])  # cached again before the refit, whatever pickling did
    y2 = X["x3"].to_numpy() - 2 * X["x4"].to_numpy() ** 2
    first = list(gen.names_)
    gen.fit(X, y2)
    assert gen.names_ != first
    fresh = FeatureGenerator(k=3).fit(X, y2)
    for rows in (X.iloc[:1], X):
        pd.testing.assert_frame_equal(gen.transform(rows), fresh.transform(rows))
