"""Executors run ``TrialSpec``s in worker processes (``local``) or on a Ray cluster (``ray``)."""
from __future__ import annotations

from typing import Any

from forgeml.execute.base import Executor, TrialFn
from forgeml.registry import Registry

EXECUTORS: Registry[type[Executor]] = Registry("executor", {
    "local": "forgeml.execute.local:LocalExecutor",
    "ray": "forgeml.execute.ray:RayExecutor",
})


def make_executor(name: str, **options: Any) -> Executor:
    """Build the executor registered as ``name`` with its keyword ``options`` (unknown names list the valid)."""
    return EXECUTORS[name](**options)


__all__ = ["EXECUTORS", "Executor", "TrialFn", "make_executor"]
