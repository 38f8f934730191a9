"""Executor plug-ins defined outside ``src/``: one that works, and broken ones that registration must refuse.

``ForkserverExecutor`` is what a user's plug-in looks like: a subclass of a shipped executor with its own
defaults (workers forked from a clean ``forkserver`` process, so the battery also covers that start method)
that keeps a log of what it ran, so a test can tell that ``AutoML(backend=PLUGIN)`` really went through it.
``register_plugins`` is called by ``tests/execute/conftest.py`` before collection, so the parametrized battery
covers the plug-in too.
"""
from __future__ import annotations

from typing import Any

from forgeml.execute import EXECUTORS, Executor, register_executor
from forgeml.execute.local import LocalExecutor
from forgeml.trial import TrialSpec

PLUGIN = "forkserver-plugin"


class ForkserverExecutor(LocalExecutor):
    """Local worker processes started from a forkserver; records the trial ids submitted to any instance."""

    name = PLUGIN
    submitted: list[int] = []  # shared by all instances: the log the end-to-end test reads

    def __init__(self, n_workers: int = 1, threads_per_worker: int = 1, memory_limit_mb: float | None = None,
                 **options: Any) -> None:
        super().__init__(n_workers=n_workers, threads_per_worker=threads_per_worker,
                         memory_limit_mb=memory_limit_mb, start_method="forkserver", **options)

    def submit(self, spec: TrialSpec) -> None:
        ForkserverExecutor.submitted.append(spec.trial_id)
        super().submit(spec)


def register_plugins() -> None:
    """Register the working plug-in once (conftest modules may be imported more than once)."""
    if PLUGIN not in EXECUTORS.names():  # (`in EXECUTORS` raises ConfigError on a miss)
        register_executor(PLUGIN, ForkserverExecutor)


# -- broken plug-ins: each breaks one rule ----------------------------------------------------------------------
class NotAnExecutor:
    """Has the methods, but is not an ``Executor``."""

    def start(self, fn, context): ...
    def submit(self, spec): ...
    def poll(self, timeout=0.1): return []
    def cancel(self, trial_id): ...
    def shutdown(self): ...


class HalfExecutor(Executor):
    """Forgets ``poll()``, ``cancel()`` and the ``running`` property."""

    capacity = 1

    def start(self, fn, context): ...
    def submit(self, spec): ...
    def shutdown(self): ...


class NoCommonOptions(LocalExecutor):
    """Renames ``n_workers``: the orchestrator could not build it."""

    def __init__(self, workers: int = 1) -> None:
        super().__init__(n_workers=workers)


class NeedsAnArgument(LocalExecutor):
    """Requires an argument the orchestrator never passes."""

    def __init__(self, cluster: str, n_workers: int = 1, threads_per_worker: int = 1,
                 memory_limit_mb: float | None = None) -> None:
        super().__init__(n_workers=n_workers)
        self.cluster = cluster
