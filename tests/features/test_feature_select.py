"""FeatureSelector: each method finds the informative column, keeps what it should and never zero columns."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forgeml.errors import ConfigError
from forgeml.features.select import MAX_FEATURES, RANKERS, FeatureSelector


def _frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 10)), columns=[f"x{i}" for i in range(10)])
    X["c"] = pd.Categorical.from_codes(rng.integers(0, 3, n), categories=pd.RangeIndex(3))
    return X


def _target(X: pd.DataFrame, task: str) -> np.ndarray:
    if task == "regression":
        return 2 * X["x3"].to_numpy() + 0.1 * np.random.default_rng(1).normal(size=len(X))
    return (X["x3"] > 0).astype(int).to_numpy()


CASES = [(m, t) for m in RANKERS for t in ("binary", "regression") if not (m == "chi2" and t == "regression")]


@pytest.mark.parametrize("method,task", CASES)
def test_ranking_methods_keep_the_informative_column_and_the_fraction(method, task):
    X = _frame()
    sel = FeatureSelector(method, 0.25, task=task).fit(X, _target(X, task))
    assert "x3" in sel.selected_
    assert len(sel.selected_) == 3  # ceil(0.25 * 11)
    out = sel.transform(X)
    assert list(out.columns) == sel.selected_ and len(out) == len(X)


@pytest.mark.parametrize("method", RANKERS)
def test_a_tiny_keep_still_keeps_the_best_column(method):
    X = _frame()
    sel = FeatureSelector(method, 0.01, task="binary").fit(X, _target(X, "binary"))
    assert sel.selected_ == ["x3"]


def test_variance_drops_near_constant_columns_only():
    X = _frame()
    X["flat"] = 0.0
    X.loc[:1, "flat"] = 1.0  # 2 of 600 rows differ: near-constant
    sel = FeatureSelector("variance", task="binary").fit(X, _target(X, "binary"))
    assert "flat" not in sel.selected_ and len(sel.selected_) == X.shape[1] - 1


def test_correlation_drops_the_later_of_a_correlated_pair():
    X = _frame()
    X.insert(1, "x3_copy", X["x3"] * 3 + 0.001)  # placed before x3: x3 is the later one
    sel = FeatureSelector("correlation", task="binary").fit(X, _target(X, "binary"))
    assert "x3_copy" in sel.selected_ and "x3" not in sel.selected_
    assert len(sel.selected_) == X.shape[1] - 1


def test_filters_that_reject_every_column_keep_one():
    X = pd.DataFrame({"a": np.zeros(50), "b": np.ones(50)})
    sel = FeatureSelector("variance", task="binary").fit(X, np.arange(50) % 2)
    assert len(sel.selected_) == 1 and sel.transform(X).shape == (50, 1)


def test_category_columns_pass_through_unchanged():
    X = _frame()
    y = (X["c"].cat.codes == 2).astype(int).to_numpy()  # the category column is the signal
    for method in ("mutual_info", "chi2", "tree_importance", "l1", "variance", "correlation", "none"):
        out = FeatureSelector(method, 0.25, task="binary").fit(X, y).transform(X)
        assert "c" in out.columns, method
        assert isinstance(out["c"].dtype, pd.CategoricalDtype)
        pd.testing.assert_series_equal(out["c"], X["c"])


def test_chi2_handles_negative_inputs_and_refuses_regression():
    X = _frame()
    y = _target(X, "binary")
    num = [c for c in X.columns if c != "c"]
    X[num] = X[num] - 5.0  # every numeric column negative
    sel = FeatureSelector("chi2", 0.05, task="binary").fit(X, y)
    assert "x3" in sel.selected_
    with pytest.raises(ConfigError, match="classification"):
        FeatureSelector("chi2", task="regression").fit(X, np.zeros(len(X)))


def test_fit_uses_only_the_rows_it_is_given():
    """Scores come from the fit rows: a column that is informative only on rows held out is not picked."""
    X = _frame(800)
    y = _target(X, "binary")
    held = np.arange(800) >= 600
    X.loc[held, "x7"] = y[held] * 10.0  # x7 would be perfect on the held-out rows only
    sel = FeatureSelector("mutual_info", 0.15, task="binary").fit(X[~held], y[~held])
    assert "x3" in sel.selected_ and "x7" not in sel.selected_
    assert "x7" in FeatureSelector("mutual_info", 0.15, task="binary").fit(X, y).selected_  # the test can fail


def test_the_width_cap_applies_even_with_method_none():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 40)), columns=[f"f{i}" for i in range(40)])
    y = (X["f17"] > 0).astype(int).to_numpy()
    sel = FeatureSelector("none", task="binary", max_features=5).fit(X, y)
    assert len(sel.selected_) == 5 and "f17" in sel.selected_
    assert FeatureSelector("none", task="binary").fit(X, y).selected_ == list(X.columns)  # under the cap: all
    assert MAX_FEATURES == 1000  # the documented number (docs/feature_selection.md)


def test_scoring_rows_are_capped_and_seeded():
    X = _frame(3000)
    y = _target(X, "regression")
    a = FeatureSelector("tree_importance", 0.5, task="regression", max_rows=500, seed=3).fit(X, y)
    b = FeatureSelector("tree_importance", 0.5, task="regression", max_rows=500, seed=3).fit(X, y)
    assert a.selected_ == b.selected_ and np.allclose(a.scores_, b.scores_)


def test_bad_arguments_are_config_errors():
    X = _frame()
    with pytest.raises(ConfigError, match="method"):
        FeatureSelector("magic").fit(X, np.zeros(len(X)))
    with pytest.raises(ConfigError, match="keep"):
        FeatureSelector("l1", keep=0).fit(X, np.zeros(len(X)))


def test_the_width_cap_keeps_a_column_equal_to_a_regression_target():
    """A column perfectly correlated with the target has an infinite (or rounding-negative) F statistic; the cap
    must still rank it first."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 30)), columns=[f"f{i}" for i in range(30)])
    X["f11"] = np.random.default_rng(0).normal(size=300)  # with this column, F comes out as -6.7e17
    y = X["f11"].to_numpy() * 3.0 + 1.0
    sel = FeatureSelector("none", task="regression", max_features=3).fit(X, y)
    assert "f11" in sel.selected_


def test_the_correlation_filter_never_builds_the_full_correlation_matrix():
    import tracemalloc

    from forgeml.features.select import PEAK_MEMORY_BASE_MB, PEAK_MEMORY_MULTIPLE

    rng = np.random.default_rng(0)
    n, p = 100, 3000  # a p x p float matrix is 72 MB, the frame 2.4 MB
    A = rng.normal(size=(n, p))
    A[:, 1000] = 2 * A[:, 10] + 1e-3 * rng.normal(size=n)  # pairs within and across column blocks
    A[:, 2999] = -A[:, 1000]
    A[:, 11] = A[:, 10]
    A[:, 5] = 0.0  # constant: never correlated
    X = pd.DataFrame(A, columns=[f"x{i}" for i in range(p)])
    y = rng.normal(size=n)
    input_mb = X.memory_usage(deep=True).sum() / 1e6
    sel = FeatureSelector("correlation", max_features=p).fit(X.iloc[:, :300], y)  # warm up imports
    tracemalloc.start()
    try:
        sel = FeatureSelector("correlation", max_features=p).fit(X, y)
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    assert peak_mb <= PEAK_MEMORY_MULTIPLE * input_mb + PEAK_MEMORY_BASE_MB, peak_mb
    # the same greedy result as the dense computation
    Z = (A - A.mean(axis=0)) / np.where(A.std(axis=0) > 0, A.std(axis=0), 1.0)
    high = np.triu(np.abs(Z.T @ Z) / n > 0.95, k=1)
    keep = np.ones(p, dtype=bool)
    for j in np.flatnonzero(high.any(axis=0)):
        if keep[np.flatnonzero(high[:, j])].any():
            keep[j] = False
    assert sel.support_.tolist() == keep.tolist()
    assert {"x11", "x1000", "x2999"}.isdisjoint(sel.selected_) and {"x5", "x10"} <= set(sel.selected_)
