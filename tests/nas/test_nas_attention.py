"""The attention space: every black-box strategy searches it end to end on a table and on images, sampled
genotypes are valid by construction and build working networks, saved genotypes rebuild the same network, and
attention learns a feature interaction an additive model cannot."""
import json
import time

import numpy as np
import pandas as pd
import pytest
import torch
from nas_helpers import table

from forgeml.errors import ConfigError
from forgeml.nas import NAS_SPACES, NASearch
from forgeml.nas.base import Problem
from forgeml.nas.spaces.attention import AttentionSpace, SelfAttention, patch_sizes
from forgeml.nn.trainer import load_numpy_state, predict_batches, train_module


def _table(n=240, seed=0):
    return table(n, seed, n_features=5, colour=True, rule=lambda X: X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.5)


def _images(n=240, seed=0):
    """6x6 two-channel images: class 1 has a bright left half in the first channel."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    img = rng.normal(0, 1, size=(n, 2, 6, 6))
    img[y == 1, 0, :, :3] += 2.0
    return pd.DataFrame(img.reshape(n, 72), columns=[f"p{i}" for i in range(72)]), y


# one strategy per kind of data: every strategy runs every space in the batteries (test_nas_battery.py) and end to end
# in test_nas_core.py; here the attention space's tokens (columns, patches) are what is under test
@pytest.mark.parametrize("strategy, data", [("evolution", "table"), ("rl", "images")])
def test_blackbox_strategies_search_the_attention_space(strategy, data):
    X, y = _table() if data == "table" else _images()
    shape = None if data == "table" else (6, 6)
    start = time.time()
    m = NASearch(strategy=strategy, space="attention", time_budget=3, epochs=(2, 6), image_shape=shape,
                 seed=0).fit(X, y)
    assert time.time() - start < 3 * 1.05 + 10
    h = m.history_
    assert m.genotype_["space"] == "attention" and (h["status"] == "ok").sum() >= 2, h[["status", "error"]]
    assert ("patch" in m.genotype_) == (data == "images")
    proba = m.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(axis=1), 1)
    assert (m.predict(X) == y).mean() > 0.7  # a learnable rule, learned (chance is about 0.5)
    # the saved genotype, through JSON, rebuilds the same network: same shapes, and with the weights, same outputs
    genotype = json.loads(json.dumps(m.genotype_))
    net = NAS_SPACES[genotype.pop("space")]().build(genotype, m.problem_)
    assert [(k, tuple(v.shape)) for k, v in net.state_dict().items()] == \
        [(k, v.shape) for k, v in m.state_dict_.items()]
    Xv = m._features(X, fitting=False)
    out = predict_batches(load_numpy_state(net, m.state_dict_), Xv)
    assert np.allclose(out, predict_batches(m.network(), Xv), atol=1e-5)


PROBLEMS = [
    Problem(n_features=7, n_outputs=3, task="multiclass"),
    Problem(n_features=150, n_outputs=1, task="regression"),  # over max_tokens: compressed to 64 tokens
    Problem(n_features=64, n_outputs=10, task="multiclass", image_shape=(8, 8)),
    Problem(n_features=72, n_outputs=2, task="binary", image_shape=(6, 6)),
    Problem(n_features=3 * 28 * 28, n_outputs=4, task="multiclass", image_shape=(28, 28)),
]


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: f"{p.n_features}x{p.image_shape}")
def test_sampled_genotypes_are_valid_and_build(problem):
    space = AttentionSpace()
    ss = space.space(problem)
    x = torch.randn(3, problem.n_features)
    seen_ops = set()
    for seed in range(50):
        g = dict(ss.sample(np.random.default_rng(seed)))
        ss.validate(g)
        assert g["d_token"] % g["heads"] == 0
        if problem.image_shape is not None:
            assert all(side % g["patch"] == 0 for side in problem.image_shape)
        net = space.build(g, problem)
        assert isinstance(net.cells[0].parts[0], SelfAttention)  # every network attends
        assert len(net.cells) == g["depth"]
        seen_ops.update(space.cells(g))
        net.train()
        assert net(x).shape == (3, problem.n_outputs)
        net.eval()
        with torch.no_grad():
            assert torch.isfinite(net(x)).all()
    assert seen_ops == {"attention+ffn", "attention", "ffn"}


def test_patch_sizes_and_what_the_space_refuses():
    assert patch_sizes(8, 8) == (2, 4) and patch_sizes(28, 28) == (4, 7, 14) and patch_sizes(7, 7) == (1,)
    assert patch_sizes(31, 31) == ()  # only one-pixel patches divide it, and 961 tokens are too many
    space = AttentionSpace()
    assert space.space(PROBLEMS[2]).default()["patch"] == 2  # 16 patches of 8x8
    assert not space.applies_to(Problem(n_features=31 * 31, n_outputs=2, task="binary", image_shape=(31, 31)))
    with pytest.raises(ValueError, match="does not divide"):
        space.build({"d_token": 32, "heads": 3}, PROBLEMS[0])
    with pytest.raises(ValueError, match="does not divide"):
        space.build({"patch": 3}, PROBLEMS[2])
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 31 * 31)))
    with pytest.raises(ConfigError, match="'attention' cannot build"):
        NASearch(space="attention", image_shape=(31, 31), time_budget=5).fit(X, np.arange(20) % 2)


def test_attention_learns_an_interaction():
    """The label is the sign of x0 * x1: no single column says anything, so only tokens that attend to each
    other can learn it."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1200, 4)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    problem = Problem(n_features=4, n_outputs=2, task="binary", n_rows=900)
    space = AttentionSpace()
    g = dict(space.space(problem).default())
    net = space.build(g, problem)
    train_module(net, X[:900], y[:900], loss="cross_entropy", lr=g["lr"], weight_decay=g["weight_decay"],
                 batch_size=128, epochs=25, X_valid=X[900:], y_valid=y[900:], n_threads=2, seed=0)
    accuracy = (predict_batches(net, X[900:]).argmax(axis=1) == y[900:]).mean()
    assert accuracy > 0.85, accuracy
