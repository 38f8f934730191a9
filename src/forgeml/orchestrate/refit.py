"""After the weights are chosen: make each ensemble member deployable, inside the run's budget.

A member becomes either a pipeline refit on all rows, or its k fold models averaged (``BaggedPipeline``, when
its trial kept them: ``LoopOptions.keep_folds``). ``refit`` (``RunSettings.refit``) decides:

- ``"full"``: refit every member. The best member is always tried; a later one is skipped when its estimated
  refit (``full_fit_estimate``: the trial's mean fold fit time x 1.3) exceeds the time left less ``margin``.
  No fold models are kept, so a failed refit drops its member.
- ``"bag"``: use each member's fold models and refit nothing. A member without fold models (one trained below
  full fidelity, the best of a run in which only such trials finished) is refit as under ``"full"``, so the
  run still has a model.
- ``"auto"``: refit a member when its estimate fits in the time left, else use its fold models; a member whose
  refit fails, crashes (memory limit) or times out also falls back to its fold models, and so does one whose
  trial's models were stopped by its time limit (``extra["deadline_hit"]``: what was validated are those
  models, not its configuration trained in full). Without fold models, as under ``"full"``.

A member searched only on a row sample (a large table, where the search ran on samples and no trial reached
all rows) whose refit on all rows would not fit in the time left is refit on the largest share of the rows that
does (``sample_share``; the row then has ``extra["rows"]``), when that is clearly more than it trained on; if
that refit fails or times out, its kept fold models (trained on its sample) stand in, under any ``refit`` but
``"full"``.

Whatever ``refit`` says, a member's fold models are used only when writing them (and what is already kept) with
the saved model fits in the time left, at ``SAVE_BYTES_PER_S``: k fold models of a large forest can be over a
gigabyte (nox: 1.4 GB, 8 s to save, past the budget). Such a member is refit instead, or dropped.

Refits run on the search's executor, best member first, as many at once as it has workers (with fewer members
than workers, each gets the idle workers' threads), each with
``timeout = time left - margin`` (at least ``MIN_REFIT_S``) and the executor's memory limit, like trials; a
refit still running ``CANCEL_GRACE_S`` after its timeout is cancelled. Each member gets a ``kind="refit"`` row in
the store whose ``extra["how"]`` says what it became ("refit", "bagged" or "dropped"). A member with neither a
refit nor fold models is dropped, with the reason in ``Refits.dropped``; nothing here ends the run.
"""
from __future__ import annotations

import os
import pickle
import time
from dataclasses import dataclass, field, replace
from typing import Any

from forgeml.budget import Budget
from forgeml.evaluate.evaluator import EvalContext
from forgeml.evaluate.refit import schedule_to_json
from forgeml.execute.base import Executor
from forgeml.orchestrate.loop import SearchState, full_fit_estimate, sample_share
from forgeml.pipeline.bagged import BaggedPipeline
from forgeml.space import Config
from forgeml.store import Store
from forgeml.trial import ErrorInfo, TrialResult, TrialSpec, TrialStatus

MIN_REFIT_S = 1.0  # the shortest timeout a refit gets, even when less time is left
REFIT_MARGIN_S = 1.0  # kept back from the time left for loading the refits and saving the model
CANCEL_GRACE_S = 1.0  # how long past its timeout a refit may run before it is cancelled here
SAVE_BYTES_PER_S = 100e6  # a conservative pace for loading and saving models (measured: ~175 MB/s, 2 cores)
MIN_SAVE_S = 1.0  # saving this long is always allowed: small fold models stay the fallback at the deadline


@dataclass
class Refits:
    """What ``refit_members`` made: ``models[trial id]`` is the member's deployable pipeline, ``how[trial id]``
    is ``"refit"`` or ``"bagged"``, and ``dropped[trial id]`` says why a member has no model."""

    models: dict[int, Any] = field(default_factory=dict)
    how: dict[int, str] = field(default_factory=dict)
    dropped: dict[int, str] = field(default_factory=dict)


def refit_members(weights: dict[int, float], state: SearchState, ctx: EvalContext, store: Store, run_id: str,
                  budget: Budget, executor: Executor, *, seed: int, n_threads: int, n_folds: int,
                  refit: str = "auto", margin: float = REFIT_MARGIN_S) -> Refits:
    """Make every member in ``weights`` deployable on ``executor`` (already started with ``run_trial``) within
    ``budget``, as the module docstring describes; returns the members' models and how each was made."""
    return _Refitter(state, ctx, store, run_id, budget, executor, seed, n_threads, n_folds, refit, margin).run(
        sorted(weights, key=lambda k: -weights[k]))


def lineage(trial_id: int, state: SearchState) -> list[tuple[Config, int]]:
    """``(config, iterations)`` along the chain of trials that ``trial_id`` was trained by continuing (PBT),
    oldest first; one entry when it was trained afresh, none when it was not trained in iterations."""
    steps: list[tuple[Config, int]] = []
    tid: int | None = trial_id
    while tid is not None and tid in state.results and tid in state.proposals:
        res = state.results[tid]
        if "iterations" not in res.extra:
            break
        steps.append((state.proposals[tid].config, int(res.extra["iterations"])))
        tid = res.extra.get("continued_from")
    return steps[::-1]


def _size(path: str | None) -> int:
    try:
        return os.path.getsize(path) if path else 0
    except OSError:
        return 0


def load_folds(result: TrialResult, n_classes: int) -> BaggedPipeline | None:
    """The trial's kept fold models as one ``BaggedPipeline``, or None when it kept none (or they are gone)."""
    path = result.extra.get("folds_path")
    if not path or not os.path.exists(path):
        return None
    try:
        with open(path, "rb") as f:
            pipes = pickle.load(f)
        return BaggedPipeline(pipes, n_classes) if pipes else None
    except Exception:  # noqa: BLE001 - a truncated or unreadable file: no fold models
        return None


class _Refitter:
    def __init__(self, state: SearchState, ctx: EvalContext, store: Store, run_id: str, budget: Budget,
                 executor: Executor, seed: int, n_threads: int, n_folds: int, refit: str, margin: float) -> None:
        self.state, self.ctx, self.store, self.run_id, self.budget = state, ctx, store, run_id, budget
        self.executor, self.seed, self.n_threads, self.n_folds = executor, seed, n_threads, n_folds
        self.refit, self.margin = refit, margin
        self.out = Refits()
        self.kept_bytes = 0  # the size on disk of the models kept so far: what saving the model will write
        self.refused = ""  # why the last member's fold models were not used (too big to save in time)
        self.running: dict[int, tuple[int, TrialSpec, float]] = {}  # refit trial id -> (member, spec, stop at)
        self.cancelled: set[int] = set()

    def run(self, order: list[int]) -> Refits:
        # fewer members than workers: each refit gets the idle workers' threads too (a lone refit on 2 cores)
        workers = max(self.executor.capacity, 1)
        shared = self.n_threads * workers // max(min(len(order), workers), 1)
        self.n_threads = max(self.n_threads, min(shared, os.cpu_count() or 1))
        queue = list(order)
        while queue or self.running:
            while queue and len(self.running) < max(self.executor.capacity, 1):
                src = queue.pop(0)
                self._start(src, first=src == order[0])
            if not self.running:
                continue
            for res in self.executor.poll(timeout=0.2):
                if res.trial_id in self.running:
                    self._finish(res)
            self._cancel_overdue()
        return self.out

    # -- one member -----------------------------------------------------------------------------------------
    def _start(self, src: int, first: bool) -> None:
        res = self.state.results[src]
        spec = self._spec(src)
        if self.refit == "bag" and self._bag(src, spec, "refit='bag': the fold models are used", None):
            return
        if self.refit == "auto" and res.extra.get("deadline_hit") and self._bag(
                src, spec, "its models were stopped by the time limit: the validated fold models are used", None):
            return
        left = self.budget.remaining() - self.margin
        estimate = full_fit_estimate(res, self.n_folds)
        share = sample_share(res, estimate, left)
        if share is not None:  # a large table's trial on a row sample: refit on the most rows that fit
            spec.extra["row_share"] = share
        elif estimate > left:
            why = f"its refit would take about {estimate:.1f} s and {max(left, 0.0):.1f} s are left"
            if self.refit == "auto" and self._bag(src, spec, why, None):
                return
            if not first:  # the best member is tried all the same: without it there may be no model
                why += self.refused
                self._record(spec, src, "dropped", status=TrialStatus.PRUNED, error=ErrorInfo("Skipped", why))
                self.out.dropped[src] = f"refit skipped: {why}"
                return
        timeout = max(left, MIN_REFIT_S)
        spec = replace(spec, timeout=timeout)
        self.store.add_trial(self.run_id, spec)
        self.executor.submit(spec)
        self.running[spec.trial_id] = (src, spec, time.time() + timeout + CANCEL_GRACE_S)

    def _spec(self, src: int) -> TrialSpec:
        tid = self.state.next_id
        self.state.next_id += 1
        schedule = lineage(src, self.state)
        extra = {"source_trial": src, "schedule": schedule_to_json(schedule)}
        return TrialSpec(trial_id=tid, config=dict(self.state.proposals[src].config), seed=self.seed, kind="refit",
                         n_threads=self.n_threads, extra=extra)

    def _finish(self, res: TrialResult) -> None:
        src, spec, _ = self.running.pop(res.trial_id)
        if res.trial_id in self.cancelled:
            res = replace(res, status=TrialStatus.TIMEOUT, error=ErrorInfo(
                "TimeoutError", f"the refit ran past its time limit of {spec.timeout:g} s (the run's deadline) "
                "and was cancelled"))
        if res.status is TrialStatus.COMPLETE:
            try:
                with open(res.model_path, "rb") as f:
                    model = pickle.load(f)
            except Exception as exc:  # noqa: BLE001 - an unreadable refit is a failed one
                res = TrialResult.failure(spec, TrialStatus.FAILED, ErrorInfo.from_exception(exc), res.duration,
                                          res.worker)
            else:
                self.out.models[src], self.out.how[src] = model, "refit"
                self.kept_bytes += _size(res.model_path)
                self._finished(res, spec, src, "refit")
                return
        why = f"refit {_what(res.status)}"
        if self.refit != "full" and self._bag(src, spec, why, res):
            return
        why += self.refused
        self.out.dropped[src] = why
        self._finished(res, spec, src, "dropped")

    def _bag(self, src: int, spec: TrialSpec, why: str, failed: TrialResult | None) -> bool:
        """Use ``src``'s fold models when it kept them and they can be saved in the time left; records the member's
        row (the failed refit's, if any)."""
        self.refused = ""
        size = _size(self.state.results[src].extra.get("folds_path"))
        left = self.budget.remaining() - self.margin
        if size and (self.kept_bytes + size) / SAVE_BYTES_PER_S > max(left, MIN_SAVE_S):
            self.refused = (f"; its fold models ({size / 1e6:.0f} MB) could not be saved in the "
                            f"{max(left, 0.0):.1f} s left")
            return False
        bagged = load_folds(self.state.results[src], self.ctx.n_classes)
        if bagged is None:
            return False
        self.out.models[src], self.out.how[src] = bagged, "bagged"
        self.kept_bytes += size
        if failed is not None:
            self._finished(failed, spec, src, "bagged")
        else:
            self._record(spec, src, "bagged", status=TrialStatus.PRUNED, error=ErrorInfo("Skipped", why),
                         n_folds=bagged.n_folds)
        return True

    # -- the store ------------------------------------------------------------------------------------------
    def _record(self, spec: TrialSpec, src: int, how: str, *, status: TrialStatus, error: ErrorInfo,
                **extra: Any) -> None:
        """A row for a member whose refit did not run."""
        self.store.add_trial(self.run_id, spec)
        self._finished(TrialResult.failure(spec, status, error), spec, src, how, **extra)

    def _finished(self, res: TrialResult, spec: TrialSpec, src: int, how: str, **more: Any) -> None:
        extra = {**res.extra, "source_trial": src, "how": how, "schedule_steps": len(spec.extra["schedule"]),
                 **more}
        self.store.finish_trial(self.run_id, replace(res, extra=extra))

    def _cancel_overdue(self) -> None:
        """Cancel refits the executor did not stop at their timeout (one queued behind a restarting worker)."""
        now = time.time()
        for tid, (_, spec, stop_at) in list(self.running.items()):
            if now < stop_at:
                continue
            if tid not in self.cancelled:
                self.cancelled.add(tid)
                self.executor.cancel(tid)
            elif now > stop_at + CANCEL_GRACE_S:  # the executor did not report it back: give up on it
                self._finish(TrialResult.failure(spec, TrialStatus.TIMEOUT, ErrorInfo("TimeoutError", ""),
                                                 now - stop_at + (spec.timeout or 0.0)))


def _what(status: TrialStatus) -> str:
    return {TrialStatus.TIMEOUT: "timed out", TrialStatus.CRASHED: "crashed (e.g. the memory limit)",
            TrialStatus.PRUNED: "was cancelled"}.get(status, "failed")
