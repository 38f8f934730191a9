"""Stacking beyond the shared battery: a meta-learner that wins where members are complementary, ignores noise,
and stays deterministic with three layers and passed-through features."""
from functools import cache

import numpy as np
import pandas as pd
import pytest

from forgeml.ensemble import ENSEMBLERS
from forgeml.ensemble.stacking import StackingEnsembler
from forgeml.errors import ConfigError
from forgeml.metrics import METRICS

LL = METRICS["log_loss"]


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


@cache
def _halves(n, seed):
    """Two members, each sharp on one half of x1 and confidently random on the other; and the raw rows."""
    rng = np.random.default_rng(seed)
    x1 = rng.uniform(-1, 1, n)
    z = rng.normal(size=n)
    y = (rng.uniform(size=n) < _sigmoid(3 * z)).astype(int)
    right = _sigmoid(3 * z)
    a = np.where(x1 > 0, right, _sigmoid(3 * rng.normal(size=n)))
    b = np.where(x1 <= 0, right, _sigmoid(3 * rng.normal(size=n)))
    preds = {1: np.column_stack([1 - a, a]), 2: np.column_stack([1 - b, b])}
    features = pd.DataFrame({"x1": x1, "noise": rng.normal(size=n), "kind": rng.choice(["u", "v"], n)})
    return preds, y, features


def test_stacking_with_features_beats_the_best_member_on_held_out_rows():
    oof, y, features = _halves(3000, 0)
    new, y_new, features_new = _halves(2000, 1)
    ens = StackingEnsembler(passthrough=True).fit(oof, y, LL, features=features)
    assert ens.combiner is not None and "lightgbm" in ens.combiner.describe()
    stacked = LL.score(y_new, ens.combine(new, features_new))
    best = min(oof, key=lambda k: LL.score(y, oof[k]))
    single = LL.score(y_new, new[best])
    convex = ENSEMBLERS["super_learner"]().fit(oof, y, LL)
    assert stacked < single - 0.15, (stacked, single)
    assert stacked < LL.score(y_new, convex.combine(new)) - 0.05
    assert set(ens.weights) == {1, 2} and min(ens.weights.values()) > 0.2


def test_stacking_without_features_never_loses_to_the_best_member_on_held_out_rows():
    oof, y, _ = _halves(3000, 0)
    new, y_new, _ = _halves(2000, 1)
    ens = StackingEnsembler().fit(oof, y, LL)
    best = min(oof, key=lambda k: LL.score(y, oof[k]))
    assert LL.score(y_new, ens.combine(new)) < LL.score(y_new, new[best])


@cache
def _with_noise(task, n=1500, seed=0):
    rng = np.random.default_rng(seed)
    if task == "regression":
        y = rng.normal(size=n) * 3
        return {1: y + rng.normal(size=n), 2: y + rng.normal(scale=1.5, size=n), 3: rng.normal(size=n) * 3}, y
    y = rng.integers(0, 3, n)

    def member(signal, noise):
        logits = np.eye(3)[y] * signal + rng.normal(scale=noise, size=(n, 3))
        e = np.exp(logits)
        return e / e.sum(1, keepdims=True)

    return {1: member(2.0, 1.0), 2: member(1.5, 1.0), 3: member(0.0, 1.0)}, y


@pytest.mark.parametrize("task, metric", [("multiclass", "log_loss"), ("regression", "rmse")])
@pytest.mark.parametrize("meta", ["linear", "logistic", "lightgbm"])
def test_a_pure_noise_member_gets_almost_no_weight(task, metric, meta):
    oof, y = _with_noise(task)
    ens = StackingEnsembler(meta=meta).fit(oof, y, METRICS[metric])
    assert ens.weights.get(3, 0.0) < 0.05, ens.weights
    assert {1, 2} <= set(ens.weights)


@pytest.mark.parametrize("kw", [{"layers": 3}, {"passthrough": True}, {"layers": 3, "passthrough": True}])
def test_three_layers_and_passthrough_work_and_are_deterministic(kw):
    oof, y, features = _halves(1500, 2)
    new, _, features_new = _halves(300, 3)
    first = StackingEnsembler(**kw).fit(oof, y, LL, seed=5, features=features)
    again = StackingEnsembler(**kw).fit(oof, y, LL, seed=5, features=features)
    assert first.combiner is not None and first == again
    out = first.combine(new, features_new)
    assert np.array_equal(out, again.combine(new, features_new))
    assert out.shape == (300, 2) and np.allclose(out.sum(1), 1)
    assert first.score == pytest.approx(LL.score(y, first.combine(oof, features)))
    assert first.combiner.cv_score < min(LL.score(y, p) for p in oof.values())  # chosen on the nested score


def test_three_layers_blend_several_meta_learners_when_that_scores_best():
    oof, y, features = _halves(1500, 2)
    ens = StackingEnsembler(layers=3, passthrough=True, meta=("lightgbm", "logistic")).fit(oof, y, LL,
                                                                                        features=features)
    layer2 = StackingEnsembler(passthrough=True, meta=("lightgbm", "logistic")).fit(oof, y, LL, features=features)
    # the third layer is one of the candidates: chosen only when its own cross-fitted score is the best
    assert ens.combiner.cv_score <= layer2.combiner.cv_score + 1e-12


def test_a_fold_that_lacks_a_class_still_gives_probabilities_over_every_class():
    rng = np.random.default_rng(0)
    n = 200
    y = rng.integers(0, 2, n)
    y[:3] = 2  # three rows of class 2 for five folds: two folds train without one of them, some without any
    oof = {}
    for key, noise in ((1, 1.0), (2, 1.5), (3, 2.0)):
        logits = np.eye(3)[y] * 2 + rng.normal(scale=noise, size=(n, 3))
        e = np.exp(logits)
        oof[key] = e / e.sum(1, keepdims=True)
    for meta in ("linear", "logistic", "lightgbm"):
        ens = StackingEnsembler(meta=meta).fit(oof, y, LL)
        out = ens.combine(oof)
        assert out.shape == (n, 3) and np.isfinite(out).all() and np.allclose(out.sum(1), 1)
        assert np.isfinite(ens.score)


def test_sample_weight_is_used_in_the_fit_and_the_score():
    oof, y = _with_noise("multiclass", n=600)
    w = np.where(np.arange(600) % 3 == 0, 5.0, 1.0)
    ens = StackingEnsembler().fit(oof, y, LL, sample_weight=w)
    assert ens.score == pytest.approx(LL.score(y, ens.combine(oof), sample_weight=w))
    plain = StackingEnsembler().fit(oof, y, LL)
    assert ens.weights != plain.weights


def test_small_data_gives_the_best_member():
    oof, y = _with_noise("regression", n=9)
    ens = StackingEnsembler(n_folds=5).fit(oof, y, METRICS["rmse"])
    best = min(oof, key=lambda k: METRICS["rmse"].score(y, oof[k]))
    assert ens.weights == {best: 1.0} and ens.combiner is None


def test_costs_bound_the_members():
    oof, y = _with_noise("multiclass", n=600)
    ens = StackingEnsembler().fit(oof, y, LL, costs={1: 1.0, 2: 5.0, 3: 1.0}, max_cost=2.5)
    assert 2 not in ens.weights


@pytest.mark.parametrize("kw, match", [({"layers": 4}, "layers must be 2 or 3"), ({"meta": "knn"}, "meta must be"),
                                       ({"n_folds": 1}, "n_folds must be an integer >= 2")])
def test_bad_settings_are_config_errors(kw, match):
    oof, y = _with_noise("regression", n=50)
    with pytest.raises(ConfigError, match=match):
        StackingEnsembler(**kw).fit(oof, y, METRICS["rmse"])


def test_uses_features_follows_passthrough():
    assert StackingEnsembler(passthrough=True).uses_features and not StackingEnsembler().uses_features


def test_features_must_be_aligned_with_y():
    oof, y, features = _halves(300, 0)
    with pytest.raises(ValueError, match="features has 299 rows but y has 300"):
        StackingEnsembler(passthrough=True).fit(oof, y, LL, features=features.iloc[1:])
