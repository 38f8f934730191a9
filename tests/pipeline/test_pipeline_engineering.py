"""The feature-engineering choices in the search space, and the pipelines built from them."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pipeline_helpers import all_families

from forgeml.data import infer_schema
from forgeml.data.schema import Schema
from forgeml.features.generate import FeatureGenerator
from forgeml.models.base import Capabilities, FitContext
from forgeml.pipeline import build_pipeline, default_configs, joint_space, prep_space
from forgeml.pipeline.space import ENGINEERING_OFF, engineered_prep

TREE = Capabilities(handles_missing=True, native_categorical=True)
LINEAR = Capabilities(needs_scaling=True)


def _data(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": np.exp(2 * rng.normal(size=n)), "b": rng.normal(size=n),
                         "city": rng.choice(list("xyz"), n),
                         "d": pd.date_range("2021-01-01", periods=n, freq="D"),
                         "y": np.exp(rng.normal(size=n))})


def test_engineering_choices_follow_the_schema_and_default_off():
    schema = infer_schema(_data(), "y", task="regression")
    assert schema.extra["skewed_numeric"] == ["a"] and schema.extra["target_min"] > 0
    lin = prep_space(LINEAR, schema)
    assert {"generate", "generate_k", "skew", "count_encoding", "group_stats", "cyclic_dates",
            "target_transform"} <= set(lin)
    assert set(lin["target_transform"].choices) == {"none", "log1p", "sqrt", "yeo-johnson", "box-cox"}
    assert "skew" not in prep_space(TREE, schema)  # trees are invariant to monotone transforms
    for cap in (LINEAR, TREE):
        default = prep_space(cap, schema).default()
        assert {k: v for k, v in default.items() if k in ENGINEERING_OFF} == \
            {k: v for k, v in ENGINEERING_OFF.items() if k in default}
        assert set(prep_space(cap, schema, engineering=False)) & set(ENGINEERING_OFF) == set()


def test_choices_are_left_out_where_they_cannot_matter():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=100), "y": rng.integers(0, 2, 100)})
    schema = infer_schema(df, "y")
    # one symmetric numeric column, classification: nothing to generate, transform or encode (selection stays)
    assert set(prep_space(LINEAR, schema)) == {"scale", "clip", "select", "select_keep"}
    old = Schema(columns=schema.columns, target="y", task="regression")  # saved before Schema.extra facts
    assert "target_transform" not in prep_space(LINEAR, old) and "skew" not in prep_space(LINEAR, old)


def test_build_pipeline_adds_generate_step_and_target_transform():
    df = _data()
    schema = infer_schema(df, "y", task="regression")
    ctx = FitContext(task="regression", n_rows=len(df), n_features=4, n_classes=0, seed=0)
    families = all_families()
    cfg = {"family": "linear", "linear.C": 1.0, "linear.prep.generate": "arithmetic", "linear.prep.generate_k": 4,
           "linear.prep.skew": "yeo-johnson", "linear.prep.target_transform": "log1p",
           "linear.prep.count_encoding": True}
    pipe = build_pipeline(cfg, schema, families, ctx)
    assert [n for n, _ in pipe.steps] == ["prep", "generate", "model"]
    assert isinstance(pipe.named_steps["generate"], FeatureGenerator) and pipe.named_steps["generate"].k == 4
    assert pipe.target_transform == "log1p" and pipe.named_steps["prep"].skew == "yeo-johnson"
    X, y = df.drop(columns="y"), df["y"].to_numpy()
    pipe.fit(X.iloc[:150], y[:150])
    pred = pipe.predict(X.iloc[150:])
    assert np.isfinite(pred).all() and pred.min() > -1  # the inverse of log1p
    plain = build_pipeline({"family": "linear", "linear.C": 1.0}, schema, families, ctx)
    assert [n for n, _ in plain.steps] == ["prep", "model"] and plain.target_transform == "none"


def test_default_configs_add_one_engineered_warm_start_only_when_the_data_is_skewed():
    families = {k: v for k, v in all_families().items() if k in ("linear", "tree")}
    ctx = FitContext(task="regression", n_rows=200, n_features=4, n_classes=0, seed=0)
    skewed = infer_schema(_data(), "y", task="regression")
    off = default_configs(families, skewed, ctx, engineering=False)
    on = default_configs(families, skewed, ctx)
    assert len(on) == len(off) + 2  # one per family
    extra = [c for c in on if c.get("linear.prep.target_transform", c.get("tree.prep.target_transform")) != "none"]
    assert len(extra) == 2 and extra[0]["linear.prep.target_transform"] == "box-cox"
    assert extra[0]["linear.prep.skew"] == "yeo-johnson"
    space = joint_space(families, skewed, ctx)
    for c in on:
        space.validate(c)
    rng = np.random.default_rng(0)
    symmetric = _data().assign(y=rng.normal(size=200), a=rng.normal(size=200))
    schema = infer_schema(symmetric, "y", task="regression")
    assert engineered_prep(LINEAR, schema) == {}
    assert len(default_configs(families, schema, ctx)) == len(default_configs(families, schema, ctx, False))


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_schema_extra_is_json_serialisable(task):
    df = _data().assign(y=lambda d: (d.b > 0).astype(int) if task == "binary" else d.y)
    schema = infer_schema(df, "y", task=task)
    assert Schema.from_json(schema.to_json()).extra == schema.extra
