"""A PyTorch multilayer perceptron (``forgeml.nn``): a smooth learner that diversifies tree ensembles.

The hidden layers are ``n_layers`` blocks of constant ``width``; ``epochs`` is the iterative parameter, with early
stopping on a 10% validation split doing the fine selection. NAS strategies may reuse ``MLPFamily.space``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forgeml.models._common import torch_cpu_threads
from forgeml.models.base import Capabilities, FitContext, ModelFamily
from forgeml.space import Categorical, Float, Int, SearchSpace

BATCH_SIZES = (32, 64, 128, 256, 512, 1024)


def _batch_default(ctx: FitContext) -> int:
    """Small batches learn more per epoch on small data; large ones keep an epoch cheap on big data."""
    return 32 if ctx.n_rows < 2_000 else 128 if ctx.n_rows < 10_000 else 256 if ctx.n_rows < 50_000 else 512


class MLPFamily(ModelFamily):
    name = "mlp"
    capabilities = Capabilities(needs_scaling=True, iterative_param="epochs", cost=5.0, library="torch")

    def space(self, ctx: FitContext) -> SearchSpace:
        return SearchSpace({
            # the network's shape: PBT continues a member's weights, so it never changes these
            "n_layers": Int(1, 4, default=2, fixed_in_training=True),
            "width": Int(32, 512, log=True, default=128, fixed_in_training=True),
            "activation": Categorical(("relu", "silu"), fixed_in_training=True),
            "dropout": Float(0.0, 0.5, default=0.1),
            "lr": Float(1e-4, 1e-2, log=True, default=1e-3),
            "weight_decay": Float(1e-6, 1e-2, log=True, default=1e-5),
            "batch_size": Categorical(BATCH_SIZES, default=_batch_default(ctx)),
            "epochs": Int(5, 300, log=True, default=50),
        })

    def defaults(self, ctx: FitContext) -> list[dict[str, Any]]:
        base = dict(self.space(ctx).default())
        return [
            {**base, "epochs": 20 if ctx.n_rows >= 20_000 else 50, "lr": 2e-3},  # cheap: few epochs on big data
            {**base, "n_layers": 3, "width": 256, "dropout": 0.2, "epochs": 100},
            {**base, "n_layers": 2, "width": 256, "dropout": 0.3, "weight_decay": 1e-4, "activation": "silu",
             "epochs": 100},
        ]

    def build(self, params: Mapping[str, Any], ctx: FitContext) -> Any:
        from forgeml.nn.estimator import TorchMLPClassifier, TorchMLPRegressor

        cls = TorchMLPRegressor if ctx.task == "regression" else TorchMLPClassifier
        return cls(
            hidden_sizes=(int(params["width"]),) * int(params["n_layers"]), dropout=float(params["dropout"]),
            activation=params["activation"], lr=float(params["lr"]), weight_decay=float(params["weight_decay"]),
            batch_size=int(params["batch_size"]), epochs=int(params["epochs"]), patience=10, valid_fraction=0.1,
            n_threads=torch_cpu_threads(ctx), random_state=ctx.seed, device="auto", deadline=ctx.deadline,
        )

    def continue_from(self, fitted: Any, params: Mapping[str, Any], ctx: FitContext) -> Any | None:
        est = self.build(params, ctx)
        if tuple(est.hidden_sizes) != tuple(fitted.hidden_sizes) or est.activation != fitted.activation:
            return None  # another architecture: the weights do not fit it
        est._init_state = fitted.state_dict_  # training goes on from these weights
        return est
