"""Ensemblers: weights over trials' out-of-fold predictions."""
from forgeml.registry import Registry

ENSEMBLERS = Registry("ensembler", {"greedy": "forgeml.ensemble.greedy:GreedyEnsembler"})

__all__ = ["ENSEMBLERS"]
