"""Neural architecture search: spaces of networks (``NAS_SPACES``), strategies that search them
(``NAS_STRATEGIES``) and ``NASearch``, the scikit-learn style entry point.

A new space is one file in ``spaces/`` plus one line here; a new strategy one file in ``strategies/`` plus one
line here. ``forgeml.testing.check_nas_strategy`` runs any strategy end to end on a tiny problem.
"""
from __future__ import annotations

from typing import Any

from forgeml.errors import ConfigError
from forgeml.nas.base import NASSpace, NASStrategy
from forgeml.registry import Registry, instance_named


def _check(kind: type) -> Any:
    def check(name: str, obj: Any) -> None:
        inst = instance_named(f"the NAS {kind.__name__[3:].lower()} {name!r}", obj, name)
        if not isinstance(inst, kind):
            raise ConfigError(f"the NAS plug-in {name!r} must subclass forgeml.nas.base.{kind.__name__}")
    return check


NAS_SPACES: Registry[type[NASSpace]] = Registry("NAS space", {
    "macro": "forgeml.nas.spaces.macro:MacroSpace",
    "cell": "forgeml.nas.spaces.cell:CellSpace",
    "attention": "forgeml.nas.spaces.attention:AttentionSpace",
}, check=_check(NASSpace), group="forgeml.nas_spaces")

NAS_STRATEGIES: Registry[type[NASStrategy]] = Registry("NAS strategy", {
    "random": "forgeml.nas.strategies.random:RandomNAS",
    "evolution": "forgeml.nas.strategies.evolution:EvolutionNAS",
    "rl": "forgeml.nas.strategies.rl:ReinforceNAS",
    "darts": "forgeml.nas.strategies.darts:DARTS",
}, check=_check(NASStrategy), group="forgeml.nas_strategies")


def __getattr__(name: str) -> Any:
    if name == "NASearch":  # lazily: the estimator pulls in pandas and scikit-learn
        from forgeml.nas.search import NASearch

        return NASearch
    raise AttributeError(f"module 'forgeml.nas' has no attribute {name!r}")


__all__ = ["NAS_SPACES", "NAS_STRATEGIES", "NASSpace", "NASStrategy", "NASearch"]
