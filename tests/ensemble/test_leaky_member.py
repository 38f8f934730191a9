"""A deliberately overfitting member (1-nearest-neighbour on an ID column) must not get a near-perfect weight from
any combiner: out of fold its predictions are noise, whatever it scores on the rows it was fitted on."""
from functools import cache

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from forgeml.ensemble import ENSEMBLERS
from forgeml.metrics import METRICS

COMBINERS = ["greedy", "super_learner", "voting", "stacking", "blending"]


@cache
def _members(task, seed=0, n=400):
    """Out-of-fold predictions of two honest models and of a leaky 1-NN on the row ID, plus its in-sample ones."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    ids = np.arange(n, dtype=float)[:, None]
    signal = x @ np.array([1.5, -1.0, 0.5, 0.0])
    cv = KFold(5, shuffle=True, random_state=seed)
    if task == "binary":
        y = (signal + rng.normal(size=n) > 0).astype(int)
        honest = [LogisticRegression(C=c) for c in (1.0, 0.01)]
        leaky, method = KNeighborsClassifier(1), "predict_proba"
    else:
        y = signal + rng.normal(size=n)
        honest = [Ridge(alpha=a) for a in (1.0, 300.0)]
        leaky, method = KNeighborsRegressor(1), "predict"
    oof = {i + 1: cross_val_predict(m, x[:, :3 - i], y, cv=cv, method=method) for i, m in enumerate(honest)}
    oof[99] = cross_val_predict(leaky, ids, y, cv=cv, method=method)
    in_sample = dict(oof)
    in_sample[99] = getattr(leaky.fit(ids, y), method)(ids)
    return oof, in_sample, y


@pytest.mark.parametrize("task, metric", [("binary", "log_loss"), ("binary", "roc_auc"), ("binary", "accuracy"),
                                          ("regression", "rmse"), ("regression", "r2")])
@pytest.mark.parametrize("name", COMBINERS)
def test_leaky_member_gets_little_weight(name, task, metric):
    oof, in_sample, y = _members(task)
    m = METRICS[metric]
    # the trap is real: on the rows it was fitted on, the leaky member is perfect and takes (nearly) all the weight
    assert m.score(y, in_sample[99]) == pytest.approx(0.0 if metric in ("log_loss", "rmse") else 1.0, abs=1e-6)
    assert ENSEMBLERS[name]().fit(in_sample, y, m).weights.get(99, 0.0) > 0.9
    ens = ENSEMBLERS[name]().fit(oof, y, m, seed=0)
    assert ens.weights.get(99, 0.0) < 0.1, f"{name} gave the leaky member {ens.weights}"
    assert set(ens.weights) & {1, 2}
