from __future__ import annotations

import numpy as np
import pytest
from pipeline_helpers import all_families, load

from forgeml.errors import ConfigError
from forgeml.pipeline import build_pipeline, default_configs, joint_space


@pytest.fixture
def families():
    return all_families()


@pytest.fixture(scope="module")
def penguins():
    return load("penguins", "species")  # multiclass, categoricals and missing values


def test_structure_and_nested_conditions(families, penguins):
    _, _, schema, ctx = penguins
    space = joint_space(families, schema, ctx)
    assert list(space)[0] == "family"
    assert space["family"].choices == ("linear", "tree", "boost", "knn")
    assert "tree.min_samples_leaf" in space and "boost.prep.impute" in space and "linear.prep.scale" in space
    assert not space.is_active("tree.min_samples_leaf", {"family": "linear", "tree.limit_leaves": True})
    assert space.is_active("tree.min_samples_leaf", {"family": "tree", "tree.limit_leaves": True})
    assert not space.is_active("tree.prep.indicators", {"family": "linear", "tree.prep.impute": "median"})
    assert space.is_active("tree.prep.indicators", {"family": "tree", "tree.prep.impute": "median"})


def test_space_json_round_trip(families, penguins):
    _, _, schema, ctx = penguins
    space = joint_space(families, schema, ctx)
    again = type(space).from_json(space.to_json())
    assert list(again) == list(space) and again.conditions == space.conditions


def test_sampled_configs_are_valid_and_reach_every_family(families, penguins):
    _, _, schema, ctx = penguins
    space = joint_space(families, schema, ctx)
    rng = np.random.default_rng(0)
    configs = [space.sample(rng) for _ in range(200)]
    for c in configs:
        space.validate(c)
        fam = c["family"]
        assert all(k == "family" or k.startswith(fam + ".") for k in c)
    assert {c["family"] for c in configs} == set(families)
    assert any("tree.min_samples_leaf" in c for c in configs)
    assert any(c.get("tree.prep.indicators") is not None for c in configs)


def test_sampled_configs_fit_and_predict(families, penguins):
    X, y, schema, ctx = penguins
    space = joint_space(families, schema, ctx)
    rng = np.random.default_rng(1)
    picked = {}
    while len(picked) < 2 * len(families):  # two per family
        c = space.sample(rng)
        key = (c["family"], sum(k[0] == c["family"] for k in picked))
        if key[1] < 2:
            picked[key] = c
    for c in picked.values():
        pipe = build_pipeline(c, schema, families, ctx)
        pipe.fit(X.iloc[:250], y[:250])
        proba = pipe.predict_proba(X.iloc[250:])
        assert proba.shape == (len(X) - 250, 3)
        assert np.allclose(proba.sum(axis=1), 1.0)


def test_default_configs_round_robin(families, penguins):
    _, _, schema, ctx = penguins
    space = joint_space(families, schema, ctx)
    configs = default_configs(families, schema, ctx)
    assert [c["family"] for c in configs] == ["linear", "tree", "boost", "knn", "tree"]
    for c in configs:
        space.validate(c)
    assert configs[1]["tree.max_depth"] == 4 and configs[4]["tree.min_samples_leaf"] == 10
    assert configs[0]["linear.prep.scale"] == "standard"
    assert configs[1]["tree.prep.cat_encoding"] == "native"


def test_no_families(penguins):
    _, _, schema, ctx = penguins
    with pytest.raises(ConfigError, match="no model families"):
        joint_space({}, schema, ctx)
