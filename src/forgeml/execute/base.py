"""The ``Executor`` protocol: run ``TrialSpec``s somewhere and hand back ``TrialResult``s.

An executor is built with a top-level function ``fn(spec, context) -> TrialResult`` and a picklable
``context`` that is shipped to each worker once. It never imports search or models. A worker that dies,
is killed, exceeds its memory limit or its trial's timeout becomes a ``CRASHED``/``TIMEOUT`` result, never an
exception in the caller's loop.

Every executor's constructor accepts the ``COMMON_OPTIONS`` keywords (it may ignore one it cannot use, saying so
in its docstring), and every other argument has a default, so the orchestrator builds any registered executor
the same way: ``make_executor(name, n_workers=..., threads_per_worker=..., memory_limit_mb=..., **own)``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from forgeml.trial import TrialResult, TrialSpec

TrialFn = Callable[[TrialSpec, Any], TrialResult]

#: Constructor keywords every executor accepts: parallel trials, native threads per trial, memory cap per worker.
COMMON_OPTIONS = ("n_workers", "threads_per_worker", "memory_limit_mb")


class Executor(ABC):
    name: str = ""

    @property
    @abstractmethod
    def capacity(self) -> int:
        """How many trials may run at once."""

    @abstractmethod
    def start(self, fn: TrialFn, context: Any) -> None:
        """Start workers (idempotent)."""

    @abstractmethod
    def submit(self, spec: TrialSpec) -> None:
        """Queue a trial; it starts when a worker is free."""

    @abstractmethod
    def poll(self, timeout: float = 0.1) -> list[TrialResult]:
        """Results finished since the last poll, waiting up to ``timeout`` seconds for at least one."""

    @abstractmethod
    def cancel(self, trial_id: int) -> None:
        """Stop a queued or running trial; it is reported as ``PRUNED``."""

    @abstractmethod
    def shutdown(self) -> None:
        """Stop all workers and free resources."""

    @property
    @abstractmethod
    def running(self) -> set[int]:
        """Trial ids submitted and not yet returned by ``poll``."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
