"""The two NAS protocols and what they share.

A ``NASSpace`` is a declarative ``SearchSpace`` of architecture (and training) choices plus ``build``, which turns
one point of it, a *genotype*, into a PyTorch module. Genotypes are plain JSON mappings of user-facing values, so
the black-box strategies (random, evolution, the RL controller) are ordinary ``Searcher``s over the space, and a
saved genotype rebuilds the same network. A ``NASStrategy`` spends the search time: it asks the ``NASContext`` to
train and score genotypes at a fidelity (epochs), and the context records every candidate in its history.

Every network takes the flat float input the tabular trainer feeds (``(batch, n_features)``); image networks
reshape it to ``(batch, channels, h, w)`` themselves, so one trainer (``forgeml.nn.trainer``) serves all.
"""
from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the registries import this module; listing them must not import numpy
    import numpy as np

    from forgeml.space import SearchSpace

#: Training choices every space shares (the macro space searches more of them).
TRAIN_DEFAULTS = {"lr": 2e-3, "weight_decay": 1e-4, "batch_size": 64, "schedule": "cosine"}


@dataclass(frozen=True)
class Problem:
    """What a network is built for: flat inputs of ``n_features`` floats, ``n_outputs`` logits (or 1 value).

    ``image_shape`` is ``(h, w)`` for image data (``channels = n_features // (h * w)``), else ``None``.
    """

    n_features: int
    n_outputs: int
    task: str
    image_shape: tuple[int, int] | None = None
    n_rows: int = 0

    @property
    def channels(self) -> int:
        if self.image_shape is None:
            return 0
        return self.n_features // (self.image_shape[0] * self.image_shape[1])

    @property
    def loss(self) -> str:
        return "mse" if self.task == "regression" else "cross_entropy"


class NASSpace(ABC):
    """A search space of networks. ``__init__`` takes only options; ``space`` and ``build`` do the work."""

    name: str = ""
    #: Its networks see an image's pixels in place (convolutions, patches), so training on images moved by a pixel
    #: helps them; flat networks learn nothing from it (on digits it cost a flat MLP 0.6 points of accuracy).
    spatial: bool = False

    def applies_to(self, problem: Problem) -> bool:
        """Whether this space can build networks for ``problem`` (image spaces need an ``image_shape``)."""
        return True

    @abstractmethod
    def space(self, problem: Problem) -> SearchSpace:
        """The genotype's parameters; ``space(problem).default()`` is a sound hand-designed network."""

    @abstractmethod
    def build(self, genotype: Mapping[str, Any], problem: Problem) -> Any:
        """A fresh ``torch.nn.Module`` for ``genotype`` (flat float input, ``problem.n_outputs`` outputs)."""

    def describe(self, genotype: Mapping[str, Any]) -> str:
        """The architecture in a few readable lines (printed by ``forgeml nas``, saved with the model)."""
        arch = ", ".join(f"{k}={_short(v)}" for k, v in genotype.items() if k not in TRAIN_DEFAULTS and k != "space")
        train = ", ".join(f"{k}={_short(v)}" for k, v in self.training(genotype).items())
        return f"{self.name} network: {arch}\n  training: {train}"

    def training(self, genotype: Mapping[str, Any]) -> dict[str, Any]:
        """The genotype's training choices (``lr``, ``weight_decay``, ``batch_size``, ``schedule``), defaults filled
        in."""
        return {k: genotype.get(k, v) for k, v in TRAIN_DEFAULTS.items()}


@dataclass
class Candidate:
    """One trained network: its genotype, fidelity (epochs) and validation score (higher is better).

    ``status`` is ``"ok"`` or ``"failed"`` (an exception, running out of memory, a diverged, NaN loss), with
    ``error`` saying which. ``source`` names what proposed it (``"random"``, ``"mutation"``, ``"darts"``, ...).
    """

    id: int
    genotype: dict[str, Any]
    epochs: int
    score: float | None
    status: str = "ok"
    error: str | None = None
    seconds: float = 0.0
    best_epoch: int = 0
    n_params: int = 0
    source: str = ""
    state_dict: dict[str, np.ndarray] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.score is not None and math.isfinite(self.score)

    def record(self) -> dict[str, Any]:
        """A JSON-able row for ``NASearch.history_`` (the weights left out)."""
        row = asdict(self)
        row.pop("state_dict")
        row["genotype"] = json.dumps(self.genotype, sort_keys=True, default=str)
        return row


class NASStrategy(ABC):
    """A way to spend NAS time. ``search`` trains candidates through ``ctx`` until ``ctx.time_left()`` runs out
    (or the strategy is done); the context keeps the history and picks the winner."""

    name: str = ""
    #: Spaces the strategy cannot search (DARTS needs a space with a continuous relaxation).
    needs_supernet: bool = False

    @abstractmethod
    def search(self, ctx: Any) -> None:
        """Train and score candidates with ``ctx.evaluate``; return when done or out of time."""


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)
