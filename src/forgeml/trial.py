"""Values that cross process boundaries: what to run (``TrialSpec``) and what happened (``TrialResult``).

Failures are data: a crashed, failed or timed-out trial is a ``TrialResult`` with a status and an
``ErrorInfo``, never an exception that ends the run.
"""
from __future__ import annotations

import traceback as _tb
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class TrialStatus(str, Enum):
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    PRUNED = "pruned"

    @property
    def finished(self) -> bool:
        return self is not TrialStatus.RUNNING


@dataclass(frozen=True)
class ErrorInfo:
    type: str
    message: str
    traceback: str = ""

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorInfo:
        return cls(type(exc).__name__, str(exc)[:2000],
                   "".join(_tb.format_exception(type(exc), exc, exc.__traceback__))[-8000:])

    def short(self) -> str:
        first = self.message.strip().splitlines()[0] if self.message.strip() else ""
        return f"{self.type}: {first}"[:300]


@dataclass(frozen=True)
class TrialSpec:
    """One unit of work for an executor.

    ``kind`` is ``"cv"`` (cross-validate ``config``, keep out-of-fold predictions) or ``"refit"`` (a final fit
    on all rows, pickled to disk; see ``evaluate/refit.py``); executors run both. ``fidelity`` in
    (0, 1] is the share of the resource a multi-fidelity searcher grants (rows or boosting rounds); ``parent_id``
    names a trial whose state a PBT member starts from.
    """

    trial_id: int
    config: dict[str, Any]
    seed: int = 0
    fidelity: float = 1.0
    timeout: float | None = None
    kind: str = "cv"
    n_threads: int = 1
    parent_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialResult:
    """The outcome of a ``TrialSpec``.

    ``score`` is the metric in its natural direction (AUC up, RMSE down); ``loss`` is what searchers minimise
    (``-score`` for greater-is-better metrics). Timings are seconds.
    """

    trial_id: int
    status: TrialStatus
    score: float | None = None
    loss: float | None = None
    fold_scores: tuple[float, ...] = ()
    fit_time: float = 0.0
    predict_time: float = 0.0
    duration: float = 0.0
    fidelity: float = 1.0
    oof_path: str | None = None
    model_path: str | None = None
    error: ErrorInfo | None = None
    worker: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is TrialStatus.COMPLETE and self.loss is not None

    @property
    def cost(self) -> float:
        """Seconds the trial cost: its wall duration when recorded, else its fit time."""
        return float(self.duration) if self.duration and self.duration > 0 else float(self.fit_time or 0.0)

    @classmethod
    def failure(cls, spec: TrialSpec, status: TrialStatus, error: ErrorInfo, duration: float = 0.0,
                worker: str | None = None) -> TrialResult:
        return cls(trial_id=spec.trial_id, status=status, error=error, duration=duration,
                   fidelity=spec.fidelity, worker=worker)
