from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from forgeml.errors import ConfigError
from forgeml.features import Preprocessor
from forgeml.pipeline.pipe import ForgePipeline
from forgeml.pipeline.target import TARGET_TRANSFORMS, FittedTarget, fit_target

METHODS = [m for m in TARGET_TRANSFORMS if m != "none"]


def _lognormal(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x0", "x1", "x2"])
    return X, np.exp(X["x0"].to_numpy() + 0.5 * X["x1"].to_numpy() + 0.1 * rng.normal(size=n))


@pytest.mark.parametrize("method", METHODS)
def test_inverse_is_exact(method):
    _, y = _lognormal()
    t = fit_target(method, y)
    assert t.method == method
    assert np.max(np.abs(t.inverse(t.forward(y)) - y)) < 1e-9


@pytest.mark.parametrize("method,y", [("log1p", [-2.0, 0.0, 5.0]), ("sqrt", [-0.5, 1.0, 9.0]),
                                      ("box-cox", [0.0, 1.0, 9.0])])
def test_transform_outside_its_domain_falls_back_to_yeo_johnson(method, y):
    y = np.asarray(y)
    t = fit_target(method, y)
    assert t.method == "yeo-johnson"
    assert np.max(np.abs(t.inverse(t.forward(y)) - y)) < 1e-9


def test_non_finite_inverse_becomes_the_nearest_end_of_the_training_range():
    _, y = _lognormal()
    t = fit_target("log1p", y)
    out = t.inverse(np.array([1e6, -1e6]))
    assert out[0] == pytest.approx(y.max()) and out[1] == pytest.approx(-1.0)  # expm1(-1e6) is finite: -1
    b = fit_target("box-cox", y)
    far = -50.0 / b.lmbda if b.lmbda > 0 else 50.0 / -b.lmbda  # outside Box-Cox's range: NaN before clipping
    assert np.isfinite(b.inverse(np.array([far]))).all()


def test_pipeline_learns_on_the_transformed_scale_and_predicts_the_original():
    X, y = _lognormal()
    cols = tuple((c, "numeric") for c in X.columns)
    pipe = ForgePipeline([("prep", Preprocessor(cols)), ("model", LinearRegression())], target_transform="box-cox")
    pipe.fit(X, y)
    model = pipe.named_steps["model"]
    Xt = pipe.transformer.transform(X)
    assert abs(pipe.target_.lmbda) < 0.1  # log-normal: Box-Cox finds (nearly) the log
    np.testing.assert_allclose(model.coef_, LinearRegression().fit(Xt, pipe.target_.forward(y)).coef_)
    plain = ForgePipeline([("prep", Preprocessor(cols)), ("model", LinearRegression())]).fit(X, y)
    err = np.sqrt(np.mean((pipe.predict(X) - y) ** 2))
    assert err < 0.7 * np.sqrt(np.mean((plain.predict(X) - y) ** 2))
    with pytest.raises(ConfigError, match="target_transform"):
        ForgePipeline([("model", LinearRegression())], target_transform="cube").fit(X, y)


def test_continued_pipeline_keeps_learning_on_the_transformed_scale():
    from forgeml.evaluate.evaluator import continue_pipeline
    from forgeml.models.base import FitContext
    from forgeml.models.forest import RandomForestFamily
    from forgeml.space import Config

    X, y = _lognormal(300)
    y = y * 1000  # far from its log scale: a model mixing both scales is far off
    fam = RandomForestFamily()
    ctx = FitContext(task="regression", n_rows=len(X), n_features=3, n_classes=0, seed=0)
    hp = dict(fam.defaults(ctx)[0], n_estimators=5)
    cols = tuple((c, "numeric") for c in X.columns)
    before = ForgePipeline([("prep", Preprocessor(cols)), ("model", fam.build(hp, ctx))], target_transform="log1p")
    before.fit(X, y)
    config = Config({"family": "random_forest", **{f"random_forest.{k}": v for k, v in hp.items()}})
    after = continue_pipeline(before, config, 5, fam, ctx, X, y)
    assert after.target_transform == "log1p"
    trees = after.named_steps["model"].estimators_
    assert len(trees) == 10
    Xt = after.transformer.transform(X)
    assert np.max(trees[-1].predict(Xt.to_numpy())) < np.log1p(y.max()) + 1  # new trees learned log1p(y)
    rel = np.abs(after.predict(X) - before.predict(X)) / y
    assert np.median(rel) < 0.2


@pytest.mark.parametrize("method", METHODS)
def test_inverse_is_bounded_by_the_widened_training_range(method):
    _, y = _lognormal()
    t = fit_target(method, y)
    span = y.max() - y.min()
    out = t.inverse(np.array([700.0, 1e6, -50.0, -1e6, np.nan]))
    assert np.isfinite(out[:4]).all()
    assert (out[:4] >= y.min() - span - 1e-9).all() and (out[:4] <= y.max() + span + 1e-9).all()
    if method == "log1p":
        assert t.inverse(np.array([700.0]))[0] == pytest.approx(y.max() + span)  # expm1(700) ~ 1e304 before
    const = FittedTarget(t.method, t.lmbda, 3.0, 3.0, 0.0)  # a constant training target
    c = const.inverse(np.array([1e3, -1e3]))
    assert np.isfinite(c).all() and np.abs(c - 3.0).max() < 1e-3  # a zero span still gives a (narrow) range
