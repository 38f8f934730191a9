"""AutoML.explain and AutoML.feature_importance over the INPUT columns, on real fitted models: a frame of five
columns where only ``a`` (numeric) and ``c`` (categorical) carry signal.

Efficiency (base_value + row sum == the model's output) is exact to rounding on every route by construction
(``forgeml.explain.native._rescale``, ``forgeml.explain.sampling``), so it is checked at 1e-9; the sampling
estimator's accuracy is checked separately against brute-force Shapley values."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import forgeml
from forgeml import AutoML
from forgeml.errors import ConfigError, SchemaMismatchError
from forgeml.explain.sampling import sampled_shapley
from forgeml.pipeline.fitted import FittedPipeline

FAST = dict(time_budget=None, max_trials=3, seed=0, verbose=0, n_jobs=1, knowledge=None, portfolio=None,
            feature_engineering=False, ensemble=None)
SIGNAL = {"a", "c"}


def _data(n: int = 300) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(list("pqrs"), n),
                       "d": rng.normal(size=n), "e": rng.uniform(size=n)})
    df.index = [f"r{i}" for i in range(n)]  # the explanation must keep X's own index
    score = 2 * df["a"] + df["c"].map({"p": -2.0, "q": -1.0, "r": 1.0, "s": 2.0})
    label = pd.Series(np.where(score + rng.logistic(size=n) > 0, "yes", "no"), index=df.index)
    return df, label, score + 0.3 * rng.normal(size=n)


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def trees(data):
    """Binary LightGBM kept as its fold models (a bagged member): the TreeSHAP route."""
    df, label, _ = data
    return AutoML(families=["lightgbm"], refit="bag", **FAST).fit(df, label)


@pytest.fixture(scope="module")
def knn(data):
    df, label, _ = data
    return AutoML(families=["knn"], **FAST).fit(df, label)


@pytest.fixture(scope="module")
def linear(data):
    df, _, value = data
    return AutoML(families=["linear"], **FAST).fit(df, value)


def _top2(frame: pd.DataFrame) -> set[str]:
    return set(frame["feature"].head(2))


def test_tree_route_is_exact_and_efficient(trees, data):
    X = data[0].iloc[:60]
    e = trees.explain(X)
    assert type(trees.best_pipeline_.members[0]).__name__ == "BaggedPipeline"
    assert e.attrs["routes"] == ["exact"] and e.attrs["output"] == "probability of class 'yes'"
    assert list(e.columns) == ["a", "b", "c", "d", "e", "base_value"] and e.index.equals(X.index)
    p = trees.predict_proba(X)["yes"].to_numpy()
    np.testing.assert_allclose(e.sum(axis=1).to_numpy(), p, atol=1e-9)
    other = trees.explain(X, class_="no")  # the other class's probability: the same credits, negated
    np.testing.assert_allclose(other.drop(columns="base_value"), -e.drop(columns="base_value"), atol=1e-9)
    assert other["base_value"].iloc[0] == pytest.approx(1 - e["base_value"].iloc[0])


def test_signal_columns_rank_on_top(trees, knn, data):
    X = data[0].iloc[:80]
    for model in (trees, knn):
        for method in ("permutation", "shap"):
            imp = model.feature_importance(method=method)
            assert list(imp.columns) == ["feature", "importance", "std"]
            assert _top2(imp) == SIGNAL, (model.best_pipeline_, method, imp)
            assert (imp["importance"].diff().dropna() <= 0).all()
        mean_abs = model.explain(X).drop(columns="base_value").abs().mean().sort_values(ascending=False)
        assert set(mean_abs.index[:2]) == SIGNAL


def test_sampling_route_on_a_model_without_native_shap(knn, data):
    X = data[0].iloc[:30]
    e = knn.explain(X, n_samples=32)
    assert e.attrs["routes"] == ["sampling"]
    np.testing.assert_allclose(e.sum(axis=1).to_numpy(), knn.predict_proba(X)["yes"].to_numpy(), atol=1e-9)
    with pytest.raises(ConfigError, match="exact"):
        knn.explain(X, method="exact")


def test_category_columns_with_other_categories_than_at_fit_are_explained(knn, data):
    """A frame read separately (parquet, ``fetch_openml``) holds its categoricals as ``category`` columns whose
    category lists differ from the training frame's: the sampling route mixes its rows with the background's."""
    X = data[0].iloc[:20].copy()
    X["c"] = X["c"].astype("category").cat.add_categories(["never"])
    background = data[0].iloc[200:260].copy()
    background["c"] = pd.Categorical(background["c"], categories=["s", "r", "q", "p", "other"])
    e = knn.explain(X, n_samples=16, background=background)
    np.testing.assert_allclose(e.sum(axis=1).to_numpy(), knn.predict_proba(X)["yes"].to_numpy(), atol=1e-9)


def test_mixed_ensemble_combines_exact_and_sampled_members(trees, knn, data):
    X = trees._read(data[0].iloc[:30])
    mixed = FittedPipeline(trees.schema_, [*trees.best_pipeline_.members, *knn.best_pipeline_.members], [0.7, 0.3])
    from forgeml.explain import shap_values

    att = shap_values(mixed, X, trees._read(data[0]), n_samples=16)
    assert att.routes == ["exact", "sampling"]
    np.testing.assert_allclose(att.base + att.phi.sum(axis=1), mixed.predict_proba(X), atol=1e-9)


def test_sampling_equals_linear_shap_on_an_additive_model(linear, data):
    """A linear model over one-hot and scaled columns is additive in the input columns: every permutation then
    credits each column exactly its linear SHAP value, so sampling (with the same background rows) must agree."""
    X, background = data[0].iloc[:25], data[0].iloc[100:116]
    exact = linear.explain(X, method="exact", background=background)
    sampled = linear.explain(X, method="sampling", background=background, n_samples=32)  # 16 pairs: all 16 rows
    assert exact.attrs["routes"] == ["exact"] and sampled.attrs["routes"] == ["sampling"]
    np.testing.assert_allclose(sampled.to_numpy(), exact.to_numpy(), atol=1e-8)
    np.testing.assert_allclose(exact.sum(axis=1).to_numpy(), linear.predict(X), atol=1e-9)
    assert _top2(linear.feature_importance()) == SIGNAL
    with pytest.raises(ConfigError, match="class_"):
        linear.explain(X, class_="yes")


def test_sampled_shapley_converges_to_brute_force_values():
    """On f = x0*x1*x2 + sin(3*x2) + 0*x3 (a three-way interaction: antithetic pairs do not make it exact) the
    exact Shapley values against the background are computed over all subsets. Eight seeds give independent
    estimates: their mean must lie within 4 empirical standard errors of the exact value. Each estimate must also
    keep the worst-case bound: a pair's mean credit lies in [-R, R] (R the range of f over the points a walk
    visits), so its sd is at most R and, pairs being independent, the error's sd at most R / sqrt(pairs)."""
    rng = np.random.default_rng(1)
    cols = ["x0", "x1", "x2", "x3"]
    B = pd.DataFrame(rng.normal(size=(400, 4)), columns=cols)
    X = pd.DataFrame(rng.normal(size=(3, 4)), columns=cols)

    def f(frame: pd.DataFrame) -> np.ndarray:
        v = frame.to_numpy(dtype=float)
        return (v[:, 0] * v[:, 1] * v[:, 2] + np.sin(3 * v[:, 2]))[:, None]

    runs = [sampled_shapley(f, X, B, cols, n_samples=800, seed=s) for s in range(8)]  # 400 pairs: each row once
    for phi, base in runs:
        np.testing.assert_allclose(base + phi.sum(axis=1), f(X), atol=1e-9)
        assert base[0] == pytest.approx(f(B).mean())
        assert (phi[:, 3, 0] == 0.0).all()  # a column f ignores gets exactly nothing
    est = np.array([phi[:, :, 0] for phi, _ in runs])  # (seeds, rows, columns)
    for i in range(len(X)):
        exact = _brute_force(f, X.iloc[[i]], B, cols)
        points = [f(_mix(X.iloc[[i]], B, cols, set(s))) for r in range(5) for s in itertools.combinations(cols, r)]
        R = float(np.ptp(np.concatenate(points)))
        assert np.abs(est[:, i] - exact).max() < 4 * R / np.sqrt(400)
        se = est[:, i, :3].std(axis=0, ddof=1) / np.sqrt(len(runs))
        assert (np.abs(est[:, i, :3].mean(axis=0) - exact[:3]) < 4 * se).all(), (est[:, i].mean(axis=0), exact)


def _mix(x: pd.DataFrame, B: pd.DataFrame, cols: list[str], known: set[str]) -> pd.DataFrame:
    out = B.copy()
    for c in known:
        out[c] = x[c].iloc[0]
    return out


def _brute_force(f, x: pd.DataFrame, B: pd.DataFrame, cols: list[str]) -> np.ndarray:
    from math import factorial

    m = len(cols)
    v = {frozenset(s): float(f(_mix(x, B, cols, set(s))).mean())
         for r in range(m + 1) for s in itertools.combinations(cols, r)}
    out = np.zeros(m)
    for j, c in enumerate(cols):
        for S, val in v.items():
            if c not in S:
                w = factorial(len(S)) * factorial(m - len(S) - 1) / factorial(m)
                out[j] += w * (v[S | {c}] - val)
    return out


def test_after_load_explain_needs_x_and_importance_needs_data(trees, data, tmp_path):
    df, label, _ = data
    X = df.iloc[:40]
    trees.save(str(tmp_path / "m"))
    loaded = forgeml.load(str(tmp_path / "m"))
    # TreeSHAP needs no background: the loaded model explains exactly as the original did
    pd.testing.assert_frame_equal(loaded.explain(X), trees.explain(X))
    with pytest.raises(ConfigError, match="pass X and y"):
        loaded.feature_importance()
    imp = loaded.feature_importance(df, label)
    assert _top2(imp) == SIGNAL


def test_wrong_columns_are_a_schema_mismatch(trees, data):
    X = data[0].iloc[:10].rename(columns={"a": "z"})
    with pytest.raises(SchemaMismatchError):
        trees.explain(X)
    with pytest.raises(SchemaMismatchError):
        trees.feature_importance(X, data[1].iloc[:10])
