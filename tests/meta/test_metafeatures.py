"""Meta-features describe a dataset by scale-free numbers: similar data gets near values, different data far."""
import numpy as np
import pandas as pd

from forgeml.data.infer import infer_schema
from forgeml.meta.metafeatures import LANDMARKS, NAMES, compute, distance


def _frame(n=600, seed=0, noise=0.3, cats=True):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.lognormal(size=n), "c": rng.normal(size=n)})
    if cats:
        df["city"] = rng.choice(["x", "y", "z"], n)
    df.loc[rng.random(n) < 0.1, "c"] = np.nan
    df["y"] = np.where(df["a"] + rng.normal(scale=noise, size=n) > 0, "yes", "no")
    return df


def _mf(df, **kw):
    schema = infer_schema(df, "y")
    y = pd.Categorical(df["y"], categories=list(schema.classes)).codes if schema.task != "regression" else df["y"]
    return compute(df.drop(columns="y"), y, schema, **kw)


def test_simple_values_describe_the_table():
    mf = _mf(_frame())
    v = mf.values
    assert set(NAMES) <= set(v) and mf.task == "binary"
    assert np.isclose(v["log_rows"], np.log10(600)) and np.isclose(v["share_categorical"], 0.25)
    assert np.isclose(v["share_missing_columns"], 0.25) and 0.01 < v["share_missing_cells"] < 0.05
    assert 0.95 < v["class_entropy"] <= 1.0 and 0.8 < v["class_imbalance"] <= 1.0
    assert v["mean_abs_skew"] > 1.0  # the log-normal column
    assert np.isnan(v["target_skew"])  # classification


def test_landmarkers_see_how_learnable_the_target_is():
    easy, hard = _mf(_frame(noise=0.05)), _mf(_frame(noise=5.0))
    assert easy.values["lm_stump"] > 0.9 and hard.values["lm_stump"] < 0.65
    assert all(np.isfinite(easy.values[n]) for n in LANDMARKS)


def test_the_work_is_bounded_by_size_so_the_values_never_depend_on_the_clock():
    from forgeml.meta.metafeatures import MAX_COLUMNS, _matrix

    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(300, 250)), columns=[f"c{i}" for i in range(250)])
    wide["y"] = np.where(wide["c0"] > 0, "a", "b")
    a, b = _mf(wide), _mf(wide)
    np.testing.assert_array_equal(a.vector(), b.vector())  # same data, same values (NaN where not applicable)
    assert all(np.isfinite(a.values[n]) for n in LANDMARKS)  # always all three landmarkers
    schema = infer_schema(wide, "y")
    assert _matrix(wide.drop(columns="y"), schema, 0).shape == (300, MAX_COLUMNS)


def test_regression_and_distance():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    df["y"] = np.exp(df["a"] + rng.normal(scale=0.1, size=300))
    reg = _mf(df)
    assert reg.task == "regression" and reg.values["target_skew"] > 1 and np.isnan(reg.values["class_entropy"])
    a, b, far = _mf(_frame(seed=0)).vector(), _mf(_frame(seed=1)).vector(), reg.vector()
    scale = np.ones(len(NAMES))
    assert distance(a, b, scale) < distance(a, far, scale)
    assert distance(a, np.full(len(NAMES), np.nan), scale) == float("inf")
