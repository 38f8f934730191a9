"""Example NAS plug-ins: a space of one-hidden-layer networks and a strategy that trains every candidate in full."""
from __future__ import annotations

import numpy as np

from forgeml.nas.base import NASSpace, NASStrategy
from forgeml.space import Categorical, Float, SearchSpace


class ShallowSpace(NASSpace):
    """One hidden layer: its width and activation, and the learning rate."""

    name = "shallow"

    def space(self, problem):
        return SearchSpace({"width": Categorical((16, 64, 256), default=64),
                            "activation": Categorical(("relu", "tanh")),
                            "lr": Float(1e-3, 1e-2, log=True, default=3e-3)})

    def build(self, genotype, problem):
        from torch import nn

        act = nn.ReLU() if genotype["activation"] == "relu" else nn.Tanh()
        return nn.Sequential(nn.Linear(problem.n_features, genotype["width"]), act,
                             nn.Linear(genotype["width"], problem.n_outputs))


class FullTrainingRandom(NASStrategy):
    """The default genotype, then random ones, each trained at full fidelity and kept, until time runs out."""

    name = "full_random"

    def search(self, ctx):
        rng = np.random.default_rng(ctx.seed)
        genotype = ctx.space.default()
        while ctx.time_left() > 0:
            ctx.evaluate(genotype, ctx.high_epochs, source=self.name, keep=True)
            genotype = ctx.space.sample(rng)
