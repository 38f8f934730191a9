"""Where a run's search starts: the best configurations of its nearest past datasets, then the defaults.

Past configurations are stored as plain joint configs (``family``, ``<family>.<param>``, ...). One is only
proposed if it is valid in this run's space: its family is searched here, its parameters exist and are in their
domains (a space that changed between versions, or a family not installed, simply drops it).

A dataset is recognised by ``fingerprint`` (its shape, column names and a hash of a sample of its rows). Runs on
the very same data are not used as neighbours: the same data, seed and ``max_trials`` give the same leaderboard
however often they are fitted, with or without a knowledge base.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forgeml.errors import ConfigError
from forgeml.meta.knowledge import KnowledgeBase, Neighbour
from forgeml.meta.metafeatures import MetaFeatures
from forgeml.space import Config, SearchSpace

DEFAULT, NEIGHBOUR, PORTFOLIO, OPTIMIZER = "default", "neighbour", "portfolio", "optimizer"


@dataclass
class WarmStart:
    """The configurations to try first, in order, and where each came from (by ``Config.id``)."""

    configs: list[Config]
    sources: dict[str, str] = field(default_factory=dict)
    neighbours: list[Neighbour] = field(default_factory=list)

    def source(self, config: Config) -> str:
        return self.sources.get(config.id, OPTIMIZER)


def fingerprint(X: pd.DataFrame, y: Any, max_rows: int = 5000) -> str:
    """A short digest of the data: shape, column names and up to ``max_rows`` evenly spaced rows with the target."""
    h = hashlib.sha256()
    h.update(repr((X.shape, [str(c) for c in X.columns])).encode())
    idx = np.unique(np.linspace(0, len(X) - 1, min(len(X), max_rows)).astype(int)) if len(X) else np.arange(0)
    sample = X.iloc[idx].copy()
    sample["__target__"] = np.asarray(y)[idx]
    sample.columns = [str(c) for c in sample.columns]
    h.update(pd.util.hash_pandas_object(sample.astype(str), index=False).to_numpy().tobytes())
    return h.hexdigest()[:24]


def admissible(space: SearchSpace, values: dict[str, Any]) -> Config | None:
    """``values`` as a valid config of ``space`` (missing parameters take their defaults), or None."""
    try:
        known = {k: _plain(v) for k, v in values.items() if k in space}
        return space.validate(space.complete(known))
    except (ConfigError, KeyError, TypeError, ValueError):
        return None


def warm_start(kb: KnowledgeBase | None, mf: MetaFeatures | None, metric: str, space: SearchSpace,
               defaults: Sequence[Config], *, fingerprint: str, k: int = 3, per_dataset: int = 2) -> WarmStart:
    """The neighbours' best configurations (nearest dataset first), then ``defaults``, without duplicates."""
    configs: list[Config] = []
    sources: dict[str, str] = {}
    neighbours: list[Neighbour] = []
    if kb is not None and mf is not None:
        neighbours = kb.neighbours(mf, metric, k=k, per_dataset=per_dataset, exclude=[fingerprint])
        for n in neighbours:
            for values in n.configs:
                cfg = admissible(space, values)
                if cfg is not None and cfg.id not in sources:
                    configs.append(cfg)
                    sources[cfg.id] = NEIGHBOUR
    for cfg in defaults:
        if cfg.id not in sources:
            configs.append(cfg)
            sources[cfg.id] = DEFAULT
    return WarmStart(configs, sources, neighbours)


def _plain(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v
