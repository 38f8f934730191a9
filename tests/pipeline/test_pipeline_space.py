from __future__ import annotations

import pandas as pd
import pytest

from forgeml.data import infer_schema
from forgeml.models.base import Capabilities
from forgeml.pipeline import prep_defaults, prep_space
from forgeml.pipeline.builder import SELECTION_KEYS
from forgeml.pipeline.space import ENGINEERING_OFF

TREE = Capabilities(handles_missing=True, native_categorical=True)
LINEAR = Capabilities(needs_scaling=True)
FOREST_NO_NAN = Capabilities(native_categorical=True)


@pytest.fixture
def mixed_schema():
    df = pd.DataFrame({"x": [1.0, None, 3.0, 4.0] * 5, "c": list("abca") * 5, "y": [0, 1] * 10})
    return infer_schema(df, "y")


def test_linear_family_space(mixed_schema):
    space = prep_space(LINEAR, mixed_schema, engineering=False)
    assert set(space) == {"impute", "indicators", "scale", "clip", "cat_encoding"}
    assert "none" not in space["impute"].choices
    assert "native" not in space["cat_encoding"].choices
    assert dict(space.default()) == {"impute": "median", "indicators": True, "scale": "standard",
                                     "clip": "none", "cat_encoding": "onehot"}


def test_tree_family_space(mixed_schema):
    space = prep_space(TREE, mixed_schema, engineering=False)
    assert "scale" not in space and "clip" not in space
    assert "none" in space["impute"].choices and "native" in space["cat_encoding"].choices
    assert dict(space.default()) == {"impute": "none", "cat_encoding": "native"}  # indicators inactive
    assert space.is_active("indicators", {"impute": "median"})


def test_native_needs_missing_support(mixed_schema):
    space = prep_space(FOREST_NO_NAN, mixed_schema, engineering=False)
    assert "native" not in space["cat_encoding"].choices
    assert space["cat_encoding"].get_default() == "ordinal"


def test_irrelevant_choices_are_omitted():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]})  # numeric, no missing, no categoricals
    schema = infer_schema(df, "y")
    assert set(prep_space(TREE, schema, engineering=False)) == set()
    assert set(prep_space(LINEAR, schema, engineering=False)) == {"scale", "clip"}


@pytest.mark.parametrize("cap", [TREE, LINEAR, FOREST_NO_NAN])
def test_space_defaults_agree_with_prep_defaults(cap, mixed_schema):
    full = prep_defaults(cap, mixed_schema)
    assert set(full) == {"impute", "indicators", "clip", "scale", "cat_encoding"} | set(ENGINEERING_OFF)
    for k, v in prep_space(cap, mixed_schema).default().items():
        if k in SELECTION_KEYS:  # not Preprocessor or generator arguments: their "off" is tested in the builder
            continue
        assert full[k] == v
