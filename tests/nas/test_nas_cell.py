"""The cell space and DARTS: every strategy end to end on tiny images and a tiny table, DARTS' architecture
weights and discretisation, genotypes that rebuild the same network, degenerate cells, and bad input."""
import json
import time

import numpy as np
import pandas as pd
import pytest
import torch
from nas_helpers import table

from forgeml.errors import ConfigError
from forgeml.nas import NAS_SPACES, NAS_STRATEGIES, NASearch
from forgeml.nas.base import Problem
from forgeml.nas.context import NASContext
from forgeml.nas.spaces.cell import DENSE_OPS, IMAGE_OPS, CellSpace, reduction_plan
from forgeml.nas.strategies.darts import DARTS

IMAGE = Problem(n_features=16, n_outputs=2, task="binary", image_shape=(4, 4), n_rows=200)
TABLE = Problem(n_features=6, n_outputs=2, task="binary", n_rows=240)


def _images(n=200, seed=0):
    """4x4 single-channel images: class 1 has a bright left half."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    img = rng.normal(0, 1, size=(n, 4, 4))
    img[y == 1, :, :2] += 2.0
    return pd.DataFrame(img.reshape(n, 16), columns=[f"p{i}" for i in range(16)]), y


def _table(n=240, seed=0):
    return table(n, seed, n_features=6, rule=lambda X: X[:, 0] + 0.5 * X[:, 1] > 0.3)


def _fit(strategy, X, y, budget, **kw):
    # DARTS trains one network at full fidelity: 6 epochs of 3 batches may leave a dilated-conv cell at chance.
    # It ends on counts, not the clock (its budget is only a ceiling): how many supernet epochs fit in a few
    # seconds changes the cell it finds, and some cells stall at chance from their first initial weights.
    epochs = (2, 20) if strategy == "darts" else (2, 6)
    if strategy == "darts":
        strategy, budget = DARTS(max_epochs=10, max_retrains=3), 60
    start = time.time()
    m = NASearch(strategy=strategy, space="cell", time_budget=budget, epochs=epochs, seed=0, **kw).fit(X, y)
    assert time.time() - start < budget * 1.05 + 5
    assert m.genotype_["space"] == "cell" and json.loads(json.dumps(m.genotype_)) == m.genotype_
    genotype = {k: v for k, v in m.genotype_.items() if k != "space"}
    CellSpace().space(m.problem_).validate(genotype)
    assert (m.history_["status"] == "ok").any()
    return m


# DARTS and one black-box strategy per kind of data (every strategy runs every space in test_nas_battery.py)
@pytest.mark.parametrize("strategy", ["evolution", "darts"])
def test_strategies_search_cells_for_images(strategy):
    X, y = _images()
    m = _fit(strategy, X, y, 5, image_shape=(4, 4))
    assert m.problem_.image_shape == (4, 4) and "reduce.n0.op0" in m.genotype_
    assert (m.predict(X) == y).mean() > 0.8
    if strategy == "darts":
        assert set(m.history_["source"]) <= {"darts", "darts:fewer_skips", "darts:wider", "darts:again"}
        assert (m.history_["source"] == "darts").sum() == 1 and m.history_["epochs"].iloc[0] >= 1
        assert (m.history_["status"] == "ok").sum() == 3  # max_retrains


@pytest.mark.parametrize("strategy", ["rl", "darts"])
def test_strategies_search_dense_cells_for_tables(strategy):
    X, y = _table()
    m = _fit(strategy, X, y, 3)
    assert "width" in m.genotype_ and not any(k.startswith("reduce.") for k in m.genotype_)
    assert (m.predict(X) == y).mean() > 0.75


def test_auto_space_is_the_cell_space_for_images():
    X, y = _images(120)
    m = NASearch(strategy="random", time_budget=3, image_shape="4x4", epochs=(1, 2)).fit(X, y)
    assert m.genotype_["space"] == "cell"


@pytest.mark.parametrize("problem", [IMAGE, TABLE], ids=["image", "table"])
def test_darts_moves_the_architecture_weights_and_discretises_to_a_valid_cell(problem):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(160, problem.n_features)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    space = CellSpace()
    ctx = NASContext(space, problem, X[:128], y[:128], X[128:], y[128:], deadline=time.time() + 6, seed=0,
                     n_threads=1, epochs=(1, 3))
    darts = DARTS(batch_size=32)
    darts.search(ctx)
    hist = darts.alpha_history
    assert len(hist) >= 2 and darts.steps_ >= 2
    assert set(hist[0]) == set(hist[-1]) == {"normal", "reduce"}
    assert not np.allclose(hist[0]["normal"], hist[-1]["normal"])
    n_edges = sum(2 + i for i in range(space.nodes))
    assert hist[-1]["normal"].shape == (n_edges, len(space.ops(problem)))
    genotype = dict(space.discretize(darts.alphas_, problem))
    space.space(problem).validate(genotype)
    assert "zero" not in {v for k, v in genotype.items() if ".op" in k}
    assert space.build(genotype, problem)(torch.from_numpy(X[:4])).shape == (4, 2)
    first = ctx.history[0]
    assert first.source == "darts" and first.ok and first.genotype == genotype and first.state_dict is not None


def _table_context(seconds):
    """A search context over a small table, with ``seconds`` until its deadline."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(160, TABLE.n_features)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    return NASContext(CellSpace(), TABLE, X[:128], y[:128], X[128:], y[128:], deadline=time.time() + seconds,
                      seed=0, n_threads=1, epochs=(1, 2))


def test_darts_ends_on_counts_when_given_them_whatever_the_time_left():
    ctx = _table_context(seconds=300)
    darts = DARTS(batch_size=32, max_epochs=3, max_retrains=2)
    darts.search(ctx)
    assert darts.epochs_ == 3 and len(darts.alpha_history) == 4 and darts.steps_ == 3 * (64 // 32)
    assert [c.source for c in ctx.history][:1] == ["darts"] and len(ctx.history) == 2
    assert ctx.time_left() > 200  # it did not wait for the clock
    with pytest.raises(ConfigError, match="max_retrains must be a whole number of at least 1"):
        DARTS(max_retrains=0).search(ctx)


def test_darts_spends_the_time_left_on_its_cell_from_other_initial_weights_and_keeps_the_best():
    ctx = _table_context(seconds=8)
    starts, evaluate = [], ctx.evaluate

    def timed(*args, **kwargs):  # the real evaluation, with the time each one started
        starts.append(ctx.time_left())
        return evaluate(*args, **kwargs)

    ctx.evaluate = timed
    DARTS(batch_size=32, search_share=0.25).search(ctx)
    first = ctx.history[0]
    again = [c for c in ctx.history if c.source == "darts:again"]
    assert first.source == "darts" and len(again) >= 1 and all(c.ok for c in again)
    assert all(c.genotype == first.genotype for c in again)
    # each from its own initial weights: no two trainings of the cell end with the same weights
    heads = {c.id: np.concatenate([v.ravel() for v in c.state_dict.values()]) for c in [first, *again]}
    assert not any(np.allclose(heads[a], heads[b]) for a in heads for b in heads if a < b)
    assert all(left > 0 for left in starts)  # no training starts after the deadline (each stops at it)
    assert ctx.best(trained=True).score == max(c.score for c in ctx.history if c.ok)


def test_a_candidates_initial_weights_come_from_its_seed_not_from_what_ran_before():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, TABLE.n_features)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    space = CellSpace()
    genotype = space.space(TABLE).default()
    runs = []
    for noise in (1, 2):
        torch.manual_seed(noise)  # what ran before (a supernet, another candidate) moved torch's global generator
        torch.rand(10 * noise)
        ctx = NASContext(space, TABLE, X[:90], y[:90], X[90:], y[90:], deadline=time.time() + 30, seed=3,
                         n_threads=1, epochs=(1, 2))
        runs.append(ctx.evaluate(genotype, 2, keep=True))
    assert runs[0].score == runs[1].score
    assert all(np.array_equal(runs[0].state_dict[k], runs[1].state_dict[k]) for k in runs[0].state_dict)


def test_discretize_keeps_the_two_strongest_edges_and_their_best_non_zero_ops():
    space = CellSpace(nodes=2)  # edges: node 0 <- {0, 1}; node 1 <- {0, 1, 2}
    ops = IMAGE_OPS
    a = np.zeros((5, len(ops)))
    a[:, ops.index("zero")] = 9.0  # the strongest op everywhere, yet never chosen
    a[0, ops.index("sep_conv_5x5")] = 3.0
    a[1, ops.index("identity")] = 2.0
    a[2, ops.index("max_pool_3x3")] = 1.0  # node 1: the weakest edge is dropped
    a[3, ops.index("dil_conv_3x3")] = 4.0
    a[4, ops.index("identity")] = 5.0
    alphas = {"normal": a, "reduce": a}
    g = space.discretize(alphas, IMAGE, channels=8)
    assert (g["normal.n0.in0"], g["normal.n0.op0"], g["normal.n0.in1"], g["normal.n0.op1"]) == (
        0, "sep_conv_5x5", 1, "identity")
    assert (g["normal.n1.in0"], g["normal.n1.op0"], g["normal.n1.in1"], g["normal.n1.op1"]) == (
        1, "dil_conv_3x3", 2, "identity")
    assert g["channels"] == 8 and g["lr"] == space.space(IMAGE)["lr"].get_default()
    capped = space.discretize(alphas, IMAGE, max_identity=1)
    assert [capped[f"normal.n{i}.op{j}"] for i in (0, 1) for j in (0, 1)].count("identity") == 1
    assert capped["normal.n1.op1"] == "identity" and capped["normal.n0.op1"] != "zero"


def test_supernet_separates_architecture_and_weight_parameters():
    space = CellSpace()
    for problem in (IMAGE, TABLE):
        net = space.supernet(problem, channels=8)
        arch, weights = net.arch_parameters(), net.weight_parameters()
        assert {id(p) for p in arch}.isdisjoint(id(p) for p in weights)
        assert len(arch) + len(weights) == len(list(net.parameters()))
        out = net(torch.randn(8, problem.n_features))
        assert out.shape == (8, 2)
        out.sum().backward()
        assert net.alpha_normal.grad is not None and net.alpha_normal.grad.abs().sum() > 0
        if problem.image_shape is not None:
            assert net.alpha_reduce.grad.abs().sum() > 0


@pytest.mark.parametrize("problem", [IMAGE, TABLE], ids=["image", "table"])
def test_saved_genotype_rebuilds_the_same_network(problem):
    space = CellSpace()
    genotype = dict(space.space(problem).sample(np.random.default_rng(3)))
    net = space.build(genotype, problem).eval()
    saved = json.loads(json.dumps(genotype))
    again = space.build(saved, problem).eval()
    shapes = [(k, v.shape) for k, v in net.state_dict().items()]
    assert shapes == [(k, v.shape) for k, v in again.state_dict().items()]
    again.load_state_dict(net.state_dict())
    x = torch.randn(5, problem.n_features)
    with torch.no_grad():
        assert torch.equal(net(x), again(x))
    fresh = space.build(saved, problem).eval()
    with torch.no_grad():
        assert not torch.equal(fresh(x), net(x))  # different weights: the equality above is no accident


@pytest.mark.parametrize("problem", [IMAGE, TABLE, Problem(n_features=147, n_outputs=3, task="multiclass",
                                                              image_shape=(7, 7), n_rows=10)],
                         ids=["image", "table", "odd_rgb"])
@pytest.mark.parametrize("only", ["zero", "identity"])
def test_degenerate_cells_still_build_run_and_backpropagate(problem, only):
    space = CellSpace()
    genotype = {k: (only if ".op" in k else v) for k, v in space.space(problem).default().items()}
    genotype["cells"] = 4 if problem.image_shape else 2
    net = space.build(genotype, problem)
    out = net(torch.randn(6, problem.n_features))
    assert out.shape == (6, problem.n_outputs) and torch.isfinite(out).all()
    out.sum().backward()
    assert net.head.bias.grad is not None and torch.isfinite(net.head.bias.grad).all()
    if only == "zero":
        assert torch.allclose(out, net.head.bias.expand_as(out))  # nothing reaches the head but its bias


def test_every_op_builds_and_reductions_halve_odd_sides():
    assert reduction_plan(IMAGE, 3) == [False, True, False]
    assert reduction_plan(Problem(784, 10, "multiclass", (28, 28)), 5) == [False, True, False, True, False]
    assert reduction_plan(TABLE, 2) == [False, False]
    problem = Problem(n_features=35, n_outputs=3, task="multiclass", image_shape=(5, 7))
    space = CellSpace(nodes=2)
    for ops, prob in ((IMAGE_OPS, problem), (DENSE_OPS, TABLE)):
        for op in ops:
            genotype = {k: (op if ".op" in k else v) for k, v in space.space(prob).default().items()}
            out = space.build(genotype, prob)(torch.randn(3, prob.n_features))
            assert out.shape == (3, prob.n_outputs)


def test_bad_input():
    X, y = _images(60)
    with pytest.raises(ConfigError, match="darts.*continuous relaxation.*cell"):
        NASearch(strategy="darts", space="macro", time_budget=3, image_shape=(4, 4)).fit(X, y)
    space = CellSpace()
    genotype = dict(space.space(IMAGE).default())
    with pytest.raises(ValueError, match="node 1 .* inputs 0..2, not 3"):
        space.build({**genotype, "normal.n1.in0": 3}, IMAGE)
    with pytest.raises(ValueError, match="unknown image operation 'conv_7x7'"):
        space.build({**genotype, "normal.n0.op0": "conv_7x7"}, IMAGE)
    with pytest.raises(ValueError, match="no normal cell"):
        space.build({"channels": 8, "cells": 2}, IMAGE)
    assert "cell" in NAS_SPACES and NAS_STRATEGIES["darts"].needs_supernet
