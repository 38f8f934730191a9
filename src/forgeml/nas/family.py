"""``NASFamily``: the network a NAS run found, as a model family of ``AutoML`` (``AutoML(nas=True)``).

The architecture is fixed (the genotype); the search around it tunes only what the architecture search could
not see at full size: the number of epochs and the learning rate. Passed to the run as an object, so it is
shipped to worker processes with its genotype like any plug-in family.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forgeml.models._common import torch_cpu_threads
from forgeml.models.base import Capabilities, FitContext, ModelFamily
from forgeml.space import Float, Int, SearchSpace


class NASFamily(ModelFamily):
    name = "nas"
    capabilities = Capabilities(needs_scaling=True, iterative_param="epochs", cost=5.0, library="torch")

    def __init__(self, genotype: Mapping[str, Any] | None = None, epochs: int = 50) -> None:
        self.genotype = dict(genotype or {"space": "macro"})
        self.epochs = int(epochs)

    def _params(self) -> dict[str, Any]:
        return {k: v for k, v in self.genotype.items() if k != "space"}

    def space(self, ctx: FitContext) -> SearchSpace:
        lr = float(self.genotype.get("lr", 2e-3))
        return SearchSpace({
            "epochs": Int(5, 300, log=True, default=max(5, min(300, self.epochs))),
            "lr": Float(lr / 4, min(lr * 4, 0.05), log=True, default=lr),
        })

    def build(self, params: Mapping[str, Any], ctx: FitContext) -> Any:
        from forgeml.nas.estimator import NASNetClassifier, NASNetRegressor

        cls = NASNetRegressor if ctx.task == "regression" else NASNetClassifier
        genotype = self._params()
        return cls(genotype=genotype, space=str(self.genotype.get("space", "macro")), lr=float(params["lr"]),
                   weight_decay=float(genotype.get("weight_decay", 1e-4)),
                   batch_size=int(genotype.get("batch_size", 64)), epochs=int(params["epochs"]), patience=10,
                   valid_fraction=0.1, n_threads=torch_cpu_threads(ctx), random_state=ctx.seed, device="auto",
                   deadline=ctx.deadline)
