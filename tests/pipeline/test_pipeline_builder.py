from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pipeline_helpers import all_families, load
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from forgeml.data import align_for_predict
from forgeml.errors import ConfigError
from forgeml.features import Preprocessor
from forgeml.pipeline import build_pipeline, default_configs, split_config
from forgeml.space import Config


@pytest.fixture
def families():
    return all_families()


def test_split_config():
    cfg = Config({"family": "tree", "tree.max_depth": 3, "tree.prep.impute": "none", "linear.C": 1.0})
    assert split_config(cfg, "tree") == ({"max_depth": 3}, {"impute": "none"})


def test_builds_prep_then_model(families):
    _, _, schema, ctx = load("hdma", "deny", n=300)
    pipe = build_pipeline({"family": "linear", "linear.C": 0.5, "linear.prep.scale": "robust"},
                          schema, families, ctx)
    assert isinstance(pipe, Pipeline) and [n for n, _ in pipe.steps] == ["prep", "model"]
    prep, model = pipe.named_steps["prep"], pipe.named_steps["model"]
    assert isinstance(prep, Preprocessor) and prep.scale == "robust" and prep.impute == "median"
    assert model.C == 0.5
    assert clone(pipe).get_params()["prep__scale"] == "robust"


def test_unknown_family_and_prep_key(families):
    _, _, schema, ctx = load("hdma", "deny", n=200)
    with pytest.raises(ConfigError, match="'svm'.*available: linear, tree"):
        build_pipeline({"family": "svm"}, schema, families, ctx)
    with pytest.raises(ConfigError, match="unknown preprocessing choices"):
        build_pipeline({"family": "linear", "linear.C": 1.0, "linear.prep.pca": True}, schema, families, ctx)


@pytest.mark.parametrize("name,target", [("seattle_weather", "weather"), ("bundesliga", "HomeGoals"),
                                         ("males", "married")])
def test_default_configs_fit_real_data(families, name, target):
    X, y, schema, ctx = load(name, target, n=400)
    for cfg in default_configs(families, schema, ctx)[:4]:
        pipe = build_pipeline(cfg, schema, families, ctx).fit(X.iloc[:300], y[:300])
        pred = pipe.predict(X.iloc[300:])
        assert len(pred) == 100 and np.isfinite(pred).all()
        if schema.task == "regression":
            assert pred.dtype.kind == "f"
        else:
            assert set(np.unique(pred)) <= set(range(len(schema.classes)))


def test_predict_on_aligned_raw_frame_with_surprises(families):
    X, y, schema, ctx = load("penguins", "species")
    pipe = build_pipeline({"family": "boost", "boost.max_iter": 10, "boost.learning_rate": 0.1,
                           "boost.prep.impute": "none", "boost.prep.cat_encoding": "native"}, schema, families, ctx)
    pipe.fit(X, y)
    raw = X.iloc[:4].copy().astype(object)
    raw["island"] = ["Atlantis", None, "Dream", "Biscoe"]  # unseen and missing categories
    raw["bill_length_mm"] = ["39.1", "40", None, "41.5"]  # numbers sent as strings
    raw = raw.assign(extra_col=1)[list(reversed(raw.columns)) + ["extra_col"]]
    with pytest.warns(UserWarning, match="extra_col"):
        aligned = align_for_predict(schema, raw)
    proba = pipe.predict_proba(aligned)
    assert proba.shape == (4, 3) and np.allclose(proba.sum(axis=1), 1)
    assert isinstance(pipe.named_steps["prep"].transform(aligned)["island"].dtype, pd.CategoricalDtype)
