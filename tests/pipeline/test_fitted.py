"""``FittedPipeline`` lives in ``forgeml.pipeline.fitted``; pickles that name its old module still load."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from forgeml.data.infer import infer_schema
from forgeml.orchestrate.prepare import encode_target
from forgeml.pipeline.fitted import FittedPipeline


def fitted() -> tuple[FittedPipeline, pd.DataFrame]:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    df["y"] = np.where(df.a + df.b > 0, "yes", "no")
    schema = infer_schema(df, "y")
    X = df.drop(columns=["y"])
    member = Pipeline([("prep", StandardScaler()), ("model", LogisticRegression())]).fit(X, encode_target(df, schema))
    return FittedPipeline(schema, [member], [1.0], ["linear()"]), X


def test_a_pickle_naming_forgeml_api_predictor_loads_as_the_moved_class():
    pipe, X = fitted()
    data = pickle.dumps(pipe, protocol=2)  # protocol 2 names classes as text: "c<module>\n<name>\n"
    new = b"cforgeml.pipeline.fitted\nFittedPipeline\n"
    assert data.count(new) == 1
    old = data.replace(new, b"cforgeml.api.predictor\nFittedPipeline\n")  # as written before the move
    loaded = pickle.loads(old)
    assert type(loaded) is FittedPipeline
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    assert set(loaded.predict(X)) == {"yes", "no"}


def test_the_old_import_path_is_the_same_class():
    from forgeml.api.predictor import FittedPipeline as Old

    assert Old is FittedPipeline and FittedPipeline.__module__ == "forgeml.pipeline.fitted"
