"""One wall clock for the whole run.

``Budget`` turns ``time_budget`` into an absolute deadline measured with ``time.time()`` (so it means the same
thing in worker processes) and keeps a reserve for the final ensemble and refit.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Budget:
    """A wall-clock budget of ``total_s`` seconds starting at ``start`` (epoch seconds)."""

    total_s: float
    start: float = field(default_factory=time.time)

    @property
    def deadline(self) -> float:
        return self.start + self.total_s

    def elapsed(self) -> float:
        return time.time() - self.start

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.time())

    def expired(self) -> bool:
        return time.time() >= self.deadline

    def fraction_used(self) -> float:
        return min(1.0, self.elapsed() / self.total_s) if self.total_s > 0 else 1.0
