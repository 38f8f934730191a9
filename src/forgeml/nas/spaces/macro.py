"""The macro space: a stack of dense blocks whose depth, widths, activation, normalisation, dropout and residual
connections are searched together with the learning rate, its schedule, weight decay and batch size.

Works on any problem (image pixels are used flat). Its default is the hand-designed baseline: two 128-wide ReLU
layers, as the MLP family's default.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forgeml.nas.base import NASSpace, Problem
from forgeml.space import Categorical, Float, Int, SearchSpace

WIDTHS = (32, 64, 128, 256, 512)


def training_space(problem: Problem) -> dict[str, Any]:
    """The training choices every space searches: learning rate, schedule, weight decay, batch size."""
    batch = 32 if problem.n_rows < 2_000 else 64 if problem.n_rows < 10_000 else 256
    return {
        "lr": Float(3e-4, 1e-2, log=True, default=2e-3),
        "schedule": Categorical(("cosine", "constant")),
        "weight_decay": Float(1e-6, 1e-2, log=True, default=1e-4),
        "batch_size": Categorical((32, 64, 128, 256, 512), default=batch),
    }


class MacroSpace(NASSpace):
    name = "macro"

    def space(self, problem: Problem) -> SearchSpace:
        return SearchSpace({
            "n_layers": Int(1, 5, default=2),
            "width": Categorical(WIDTHS, default=128),
            "shape": Categorical(("constant", "funnel")),  # funnel: each layer half as wide as the one before
            "activation": Categorical(("relu", "silu", "gelu")),
            "norm": Categorical(("none", "batch", "layer")),
            "dropout": Categorical((0.0, 0.1, 0.2, 0.3), default=0.1),
            "residual": Categorical((False, True)),
            **training_space(problem),
        })

    def widths(self, genotype: Mapping[str, Any]) -> list[int]:
        w, out = int(genotype["width"]), []
        for _ in range(int(genotype["n_layers"])):
            out.append(w)
            if genotype.get("shape") == "funnel":
                w = max(16, w // 2)
        return out

    def build(self, genotype: Mapping[str, Any], problem: Problem) -> Any:
        from torch import nn

        from forgeml.nas.layers import DenseBlock

        layers, n_in = [], problem.n_features
        for w in self.widths(genotype):
            layers.append(DenseBlock(n_in, w, act=str(genotype.get("activation", "relu")),
                                     norm=str(genotype.get("norm", "none")),
                                     dropout=float(genotype.get("dropout", 0.0)),
                                     residual=bool(genotype.get("residual", False))))
            n_in = w
        layers.append(nn.Linear(n_in, problem.n_outputs))
        return nn.Sequential(*layers)
