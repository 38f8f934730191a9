"""Conformance batteries for NAS plug-ins (run over ``NAS_SPACES`` and ``NAS_STRATEGIES`` by our tests).

``check_nas_space(space)`` builds many sampled genotypes for a tabular problem (and an image problem when the
space applies to one) and checks each network's output shape, that a JSON round trip of a genotype rebuilds the
same parameter shapes, and that the default genotype is valid. ``check_nas_strategy(strategy, space)`` runs a
search on a tiny, learnable problem under a short deadline and checks it keeps the deadline, trains valid
genotypes through the context, ends with a fully trained network, and survives a space whose networks all fail.
Both raise ``AssertionError`` naming the check, and return the names of the checks they ran.
"""
from __future__ import annotations

import copy
import json
import time
from typing import Any

import numpy as np

from forgeml.nas.base import NASSpace, NASStrategy, Problem
from forgeml.nas.context import NASContext

TABLE = Problem(n_features=6, n_outputs=3, task="multiclass", n_rows=240)
IMAGE = Problem(n_features=2 * 8 * 8, n_outputs=2, task="binary", image_shape=(8, 8), n_rows=240)


def _forward(net: Any, problem: Problem, rows: int = 5) -> np.ndarray:
    import torch

    net.eval()
    with torch.no_grad():
        return net(torch.randn(rows, problem.n_features)).numpy()


def check_nas_space(space: NASSpace, *, samples: int = 12, seed: int = 0) -> list[str]:
    ran = []
    problems = [TABLE] + ([IMAGE] if space.applies_to(IMAGE) else [])
    for problem in problems:
        where = f"{space.name!r} on a {'image' if problem.image_shape else 'table'} problem"
        sp = space.space(problem)
        default = sp.default()
        sp.validate(default)  # raises a ConfigError for an invalid default
        rng = np.random.default_rng(seed)
        for genotype in [default] + [sp.sample(rng) for _ in range(samples)]:
            net = space.build(dict(genotype), problem)
            out = _forward(net, problem)
            assert out.shape == (5, problem.n_outputs), (
                f"{where}: genotype {dict(genotype)} gives outputs of shape {out.shape}, not (5, {problem.n_outputs})")
            assert np.all(np.isfinite(out)), f"{where}: genotype {dict(genotype)} gives non-finite outputs"
            again = space.build(json.loads(json.dumps(dict(genotype))), problem)
            shapes = [tuple(v.shape) for v in net.state_dict().values()]
            assert shapes == [tuple(v.shape) for v in again.state_dict().values()], (
                f"{where}: a JSON round trip of {dict(genotype)} builds another network")
        ran.append(f"builds:{'image' if problem.image_shape else 'table'}")
    return ran


def _data(problem: Problem, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, problem.n_features)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 1).astype(np.int64) * (problem.n_outputs > 2)
    return X, y


class _Failing(NASSpace):
    """A space whose every network raises while training."""

    name = "failing"

    def __init__(self, inner: NASSpace) -> None:
        self.inner = inner

    def space(self, problem: Problem):
        return self.inner.space(problem)

    def build(self, genotype: Any, problem: Problem) -> Any:
        raise RuntimeError("this network cannot be built (a battery check)")

    def __getattr__(self, name: str) -> Any:  # supernet & co: the inner space's, so one-shot strategies run too
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.inner, name)


def check_nas_strategy(strategy: NASStrategy, space: NASSpace, *, seconds: float = 4.0, seed: int = 0) -> list[str]:
    ran = []
    problem = TABLE
    X, y = _data(problem, 240, seed)
    ctx = NASContext(space, problem, X[:180], y[:180], X[180:], y[180:], deadline=time.time() + seconds, seed=seed,
                     epochs=(2, 6))
    start = time.time()
    copy.deepcopy(strategy).search(ctx)
    took = time.time() - start
    name = getattr(strategy, "name", type(strategy).__name__)
    assert took <= seconds * 1.5 + 3, f"strategy {name!r} ran {took:.1f}s past a {seconds:.0f}s deadline"
    ran.append("deadline")
    assert ctx.history, f"strategy {name!r} trained no candidate through the context"
    sp = ctx.space
    for cand in ctx.history:
        sp.validate(cand.genotype)
    ran.append("valid genotypes")
    best = ctx.best(trained=True)
    assert best is not None, f"strategy {name!r} ended without a fully trained network (keep=True) in {seconds}s"
    assert best.score > 0.5, f"strategy {name!r}: its best network scores {best.score:.3f} on a learnable problem"
    ran.append("trained winner")
    broken = NASContext(_Failing(space), problem, X[:180], y[:180], X[180:], y[180:],
                        deadline=time.time() + seconds / 2, seed=seed, epochs=(2, 6))
    copy.deepcopy(strategy).search(broken)  # must not raise
    assert broken.history and all(c.status == "failed" for c in broken.history), (
        f"strategy {name!r}: with every network failing, the failures must be recorded")
    ran.append("survives failures")
    return ran
