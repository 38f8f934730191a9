"""``FittedPipeline`` with a non-linear combiner (stacking, hard voting): predicts from the members' predictions
and the raw rows, pickles, and pipelines pickled before combiners existed still load."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from forgeml.data.infer import infer_schema
from forgeml.ensemble.stacking import StackingEnsembler
from forgeml.ensemble.voting import HardVote
from forgeml.metrics import METRICS
from forgeml.orchestrate.prepare import encode_target
from forgeml.pipeline.fitted import FittedPipeline, predict_matrix


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(["u", "v"], n)})
    df["y"] = np.where(np.where(df.a > 0, df.b, -df.b) + 0.3 * rng.normal(size=n) > 0, "yes", "no")
    return df


def _members(df, schema, extra=()):
    X, y = df.drop(columns=["y"]), encode_target(df, schema)
    models = [_column_picker(m) for m in (Pipeline([("prep", StandardScaler()), ("model", LogisticRegression())]),
                                          DecisionTreeClassifier(max_depth=3, random_state=0), *extra)]
    oof = {11 + i: cross_val_predict(m, X, y, cv=5, method="predict_proba") for i, m in enumerate(models)}
    fitted = [m.fit(X, y) for m in models]
    return fitted, oof, y


def _column_picker(pipe):
    # the members read the numeric columns only, as a real pipeline's preprocessing would select its inputs
    from sklearn.compose import ColumnTransformer

    return Pipeline([("cols", ColumnTransformer([("keep", "passthrough", ["a", "b"])])), ("rest", pipe)])


@pytest.mark.parametrize("passthrough", [False, True])
def test_a_stacked_pipeline_predicts_pickles_and_says_what_it_is(passthrough):
    df = _data()
    schema = infer_schema(df, "y")
    members, oof, y = _members(df, schema)
    X = df.drop(columns=["y"])
    ens = StackingEnsembler(passthrough=passthrough, meta="lightgbm").fit(oof, y, METRICS["log_loss"],
                                                                         features=X)
    assert ens.combiner is not None
    ids = list(ens.weights)
    chosen = [members[i - 11] for i in ids]
    pipe = FittedPipeline(schema, chosen, [ens.weights[i] for i in ids], ["linear()", "tree()"][:len(ids)],
                          combiner=ens.combiner, member_ids=ids)
    new = _data(100, seed=1).drop(columns=["y"])
    proba = pipe.predict_proba(new)
    expected = ens.combine({i: predict_matrix(m, new, 2) for i, m in zip(ids, chosen)}, new)
    np.testing.assert_allclose(proba, expected / expected.sum(1, keepdims=True))
    assert proba.shape == (100, 2) and np.allclose(proba.sum(1), 1)
    assert set(pipe.predict(new)) <= {"yes", "no"}
    back = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(back.predict_proba(new), proba)
    assert f"over {len(ids)} members" in repr(pipe) and "stacking(lightgbm" in repr(pipe)


def test_a_hard_vote_pipeline_predicts_the_majority():
    df = _data()
    schema = infer_schema(df, "y")
    trio, _, _ = _members(df, schema, extra=[LogisticRegression(C=0.01)])
    X = df.drop(columns=["y"])
    pipe = FittedPipeline(schema, trio, [1 / 3] * 3, combiner=HardVote((1, 2, 3)), member_ids=[1, 2, 3])
    labels = np.column_stack([m.predict(X) for m in trio])
    majority = (labels.sum(1) >= 2).astype(int)
    np.testing.assert_array_equal(pipe.predict(X), np.asarray(schema.classes)[majority])
    assert repr(pipe) == "FittedPipeline(binary: voting(hard) over 3 members)"


def test_a_pipeline_pickled_before_combiners_existed_loads_and_predicts():
    df = _data()
    schema = infer_schema(df, "y")
    members, _, _ = _members(df, schema)
    X = df.drop(columns=["y"])
    pipe = FittedPipeline(schema, members, [0.5, 0.5])
    old = pickle.loads(pickle.dumps(pipe))
    del old.__dict__["combiner"], old.__dict__["member_ids"]  # what an older pickle holds
    old = pickle.loads(pickle.dumps(old))
    assert old.combiner is None and old.member_ids is None
    np.testing.assert_array_equal(old.predict_proba(X), pipe.predict_proba(X))
    assert "0.50×" in repr(old)


def test_a_combiner_needs_member_ids():
    df = _data(50)
    schema = infer_schema(df, "y")
    with pytest.raises(ValueError, match="needs member_ids"):
        FittedPipeline(schema, [object()], [1.0], combiner=HardVote((1,)))
