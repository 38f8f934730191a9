"""The search loop: ask → submit → poll → record → tell, within the budget.

The orchestrator is the only writer of the store. Two modes:
- time-driven (default): proposals are submitted as workers free up and told in completion order;
- deterministic (``max_trials`` set): proposals go out in batches of ``capacity`` and are told in trial-id
  order, so the same seed and ``max_trials`` give the same trials whatever the timing.
"""
from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from forgeml.budget import Budget
from forgeml.errors import SearchWarning, TrialError
from forgeml.execute.base import Executor
from forgeml.orchestrate.progress import Progress
from forgeml.search.base import Proposal, Searcher
from forgeml.store import Store
from forgeml.trial import ErrorInfo, TrialResult, TrialSpec, TrialStatus

ENSEMBLE_CANDIDATES = 20  # the best trials greedy ensemble selection chooses among


def full_fit_estimate(result: TrialResult, n_folds: int) -> float:
    """Seconds one fit on all rows should take, from a CV trial's fit time: per fold, scaled to full fidelity
    (the share of rows or, for a continued PBT trial, of iterations it actually trained), plus 30%."""
    share = result.extra.get("trained_share", result.fidelity)
    return result.fit_time / max(result.extra.get("n_folds", n_folds), 1) * 1.3 / max(share, 0.05)


SAMPLE_USE = 0.75  # the share of the time left a refit on a row sample is sized to (boosting stops at a deadline)
MIN_SAMPLE_GAIN = 1.5  # a refit on a row sample must see this many times the rows its trial trained on


def sample_share(result: TrialResult, estimate: float, left: float) -> float | None:
    """The share of all rows to refit a low-fidelity trial on when all rows would not fit in ``left`` seconds:
    as many as fit in ``SAMPLE_USE`` of them, if that is at least ``MIN_SAMPLE_GAIN`` times the share the trial
    trained on (else its kept fold models are as good); None when all rows fit, or for a trial at full fidelity
    or at a share of iterations (PBT)."""
    if result.fidelity >= 0.999 or "trained_share" in result.extra or estimate <= left:
        return None
    share = SAMPLE_USE * max(left, 0.0) / max(estimate, 1e-9)
    return round(share, 4) if share >= MIN_SAMPLE_GAIN * result.fidelity else None



def kept_folds(result: TrialResult) -> bool:
    """Whether the trial's fold models are on disk (kept, and not pruned since)."""
    path = result.extra.get("folds_path")
    return bool(path) and os.path.exists(path)


@dataclass
class SearchState:
    """What the loop learned: every finished result and the proposals behind them."""

    results: dict[int, TrialResult] = field(default_factory=dict)
    proposals: dict[int, Proposal] = field(default_factory=dict)
    next_id: int = 0

    def completed(self, full_fidelity: bool = True) -> list[TrialResult]:
        out = [r for r in self.results.values() if r.ok and (r.fidelity >= 0.999 or not full_fidelity)]
        return sorted(out, key=lambda r: (r.loss, r.trial_id))

    def best(self) -> TrialResult | None:
        done = self.completed(False)
        return min(done, key=lambda r: (-r.fidelity, r.loss)) if done else None

    def ranked(self) -> list[TrialResult]:
        """Every completed trial, highest fidelity first, then by loss: the order fold models are kept and the
        run falls back in when no trial reached full fidelity."""
        return sorted(self.completed(False), key=lambda r: (-r.fidelity, r.loss, r.trial_id))


@dataclass
class LoopOptions:
    """``keep_folds``: trials keep their fold models on disk (k-fold bagging, ``refit`` "auto" or "bag"); only
    those of the best ``keep_folds_top`` trials (highest fidelity, then loss) are kept, the others are deleted as
    the ranking changes, so the disk they take stays bounded. Low-fidelity trials on row samples keep theirs too:
    on a large table searched on samples, the best one's models are what the run returns when no refit fits in
    the time left. (Trials at a share of iterations, PBT, keep only their full-fidelity ones.)"""

    seed: int
    max_trials: int | None
    per_trial_timeout: float | None
    n_threads: int
    raise_on_trial_error: bool = False
    n_folds: int = 5
    choose_reserve: float = 0.0  # seconds kept for comparing ensemble methods after the search
    keep_folds: bool = False
    keep_folds_top: int = ENSEMBLE_CANDIDATES
    reserve_refits: bool = True  # False when the members will not be refit (refit="bag"): keep back 2 s only


class SearchLoop:
    """Runs the search phase until the search deadline, ``max_trials``, or the searcher runs dry."""

    def __init__(self, *, searcher: Searcher, executor: Executor, store: Store, run_id: str, budget: Budget,
                 options: LoopOptions, progress: Progress, state: SearchState, describe,
                 ensemble_probe: Callable[[SearchState], set[int]] | None = None) -> None:
        self.searcher, self.executor, self.store, self.run_id = searcher, executor, store, run_id
        self.budget, self.opt, self.progress, self.state = budget, options, progress, state
        self.describe = describe
        self.errors: Counter[str] = Counter()
        self._warned_systematic = False
        self._elapsed_before = 0.0
        self.notices: list[str] = []
        self._pruned: set[int] = set()  # trials whose fold models were deleted
        # the members the final ensemble would take now; refreshed as better trials arrive, at a bounded cost
        self.ensemble_probe = ensemble_probe
        self._members: set[int] = set()
        self._probed: tuple[int, ...] = ()
        self._next_probe = 0.0
        unit = getattr(searcher, "fidelity_unit", "rows")
        # trained states are kept per run, so a later run in the same directory never continues this one's
        self._spec_extra = {} if unit == "rows" else {"fidelity_unit": unit, "state_key": run_id}

    # -- budget -------------------------------------------------------------------------------------------
    def final_reserve(self) -> float:
        """Seconds to keep for ensembling and refitting, from the cost of the trials that would be refit.

        Those are the members the ensemble would choose now (``ensemble_probe``), or without a probe the best
        five full-fidelity trials; before any full-fidelity trial exists, only the best low-fidelity one,
        which the run falls back to. Scaling every low-fidelity trial up to full cost would reserve far more
        than the refits take and leave the workers idle at the end of a halving run. Reserving for the best
        five alone missed the slower, diverse members (an SVM, an MLP) that greedy selection likes to add.
        When the members will be their fold models (``reserve_refits`` False), 2 s to load and combine them.
        """
        if not self.opt.reserve_refits:
            return 2.0 + self.opt.choose_reserve
        ranked = self.state.completed(full_fidelity=True)
        if ranked and self.ensemble_probe is not None:
            members = self._probe(ranked)
            done = [r for r in ranked if r.trial_id in members or r is ranked[0]]
        else:
            done = ranked[:5]
        cap = 0.35 * self.budget.total_s
        if not done:
            best = self.state.best()
            if best is None:
                return 2.0
            return self._low_fidelity_reserve(best, cap)
        est = [full_fit_estimate(r, self.opt.n_folds) for r in done]
        need = 2.0 + self.opt.choose_reserve + 1.3 * 0.7 * sum(est)  # refits run one after another, every core
        return min(need, cap)

    def _low_fidelity_reserve(self, best: TrialResult, cap: float) -> float:
        """Only trials on row samples so far (a large table): keep time to refit the best on all rows, or on
        as large a sample as ``cap`` allows (``sample_share``); when not even the smallest sample worth refitting
        fits, and its fold models are kept to stand in, search on instead of keeping time no refit can use."""
        est = full_fit_estimate(best, self.opt.n_folds)
        base = 2.0 + self.opt.choose_reserve
        need = base + 1.3 * 0.7 * est
        if need <= cap or not kept_folds(best):
            return min(need, cap)
        smallest = est * MIN_SAMPLE_GAIN * best.fidelity / SAMPLE_USE
        return cap if base + 1.0 + smallest <= cap else base  # 1.0: the refits' margin (refit.REFIT_MARGIN_S)

    def _probe(self, ranked: list[TrialResult]) -> set[int]:
        """The probe's members, recomputed only when the candidates changed and not more often than keeps its
        cost under a tenth of this (otherwise idle) process's time."""
        key = tuple(r.trial_id for r in ranked[:ENSEMBLE_CANDIDATES])
        start = time.monotonic()
        if key != self._probed and start >= self._next_probe:
            try:
                self._members = set(self.ensemble_probe(self.state))
            except Exception:  # noqa: BLE001 - a failed probe only makes the reserve a guess
                self._members = {r.trial_id for r in ranked[:5]}
            self._probed = key
            end = time.monotonic()
            self._next_probe = end + max(1.0, 10 * (end - start))
        return self._members

    def search_left(self) -> float:
        return self.budget.remaining() - self.final_reserve()

    # -- loop ---------------------------------------------------------------------------------------------
    def _trials_started(self) -> int:
        return len(self.state.proposals)

    def _can_start(self) -> bool:
        if self.opt.max_trials is not None and self._trials_started() >= self.opt.max_trials:
            return False
        return self.search_left() > 0.5

    def _submit(self, proposal: Proposal, trial_id: int) -> None:
        left = self.search_left()
        timeout = left if self.opt.per_trial_timeout is None else min(left, self.opt.per_trial_timeout)
        extra = dict(self._spec_extra)
        rows = self._spec_extra.get("fidelity_unit") is None  # fidelity is a share of rows: samples keep theirs
        if self.opt.keep_folds and (proposal.fidelity >= 0.999 or rows):
            extra = {**extra, "keep_folds": True}
        spec = TrialSpec(trial_id=trial_id, config=dict(proposal.config), seed=self.opt.seed,
                         fidelity=proposal.fidelity, timeout=max(timeout, 1.0), n_threads=self.opt.n_threads,
                         parent_id=proposal.parent_id, extra=extra)
        self.state.proposals[trial_id] = proposal
        self.store.add_trial(self.run_id, spec)
        self.executor.submit(spec)

    def _ask(self) -> tuple[int, Proposal] | None:
        tid = self.state.next_id
        self.searcher.set_budget_hint(max(self.search_left(), 0.0))
        prop = self.searcher.ask(tid)
        if prop is None:
            return None
        self.state.next_id += 1
        return tid, prop

    def _record(self, result: TrialResult, tell: bool = True) -> None:
        self.state.results[result.trial_id] = result
        self.store.finish_trial(self.run_id, result)
        self.store.update_run(self.run_id, elapsed=self._elapsed_before + self.budget.elapsed())
        if tell:
            self.searcher.tell(result.trial_id, result)
            self._show_notice()
        best = self.state.best()
        is_best = best is not None and best.trial_id == result.trial_id
        prop = self.state.proposals.get(result.trial_id)
        failed = result.status in (TrialStatus.FAILED, TrialStatus.TIMEOUT, TrialStatus.CRASHED)
        self.progress.trial(not failed, best.score if best else None, is_best,
                            self.describe(prop.config) if (is_best and prop) else self.progress.best_desc)
        if failed:
            self._on_failure(result)
        if result.extra.get("folds_path"):
            self.prune_folds()

    def prune_folds(self) -> None:
        """Delete the fold models of trials no longer among the best ``keep_folds_top`` (see ``LoopOptions``)."""
        top = {r.trial_id for r in self.state.ranked()[:self.opt.keep_folds_top]}
        for tid, res in self.state.results.items():
            path = res.extra.get("folds_path")
            if path and tid not in top and tid not in self._pruned:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
                self._pruned.add(tid)

    def _show_notice(self) -> None:
        note = self.searcher.notice()
        if note and note not in self.notices:
            self.notices.append(note)
            self.progress.message(f"forgeml: {note}")
            warnings.warn(note, SearchWarning, stacklevel=2)

    def _on_failure(self, result: TrialResult) -> None:
        err = result.error.short() if result.error else result.status.value
        self.errors[err] += 1
        if self.opt.raise_on_trial_error and result.status is not TrialStatus.PRUNED:
            raise TrialError(f"trial {result.trial_id} {result.status.value}: {err}")
        n = len(self.state.results)
        if not self._warned_systematic and n >= 3 and not self.state.completed(False):
            self._warned_systematic = True
            common, _ = self.errors.most_common(1)[0]
            self.progress.message(f"forgeml: the first {n} trials all failed; most common error: {common}")

    def run(self, elapsed_before: float = 0.0) -> SearchState:
        self._elapsed_before = elapsed_before
        if self.opt.max_trials is not None:
            self._run_batched()
        else:
            self._run_async()
        self._drain()
        return self.state

    def _run_async(self) -> None:
        exhausted = False
        while True:
            while not exhausted and len(self.executor.running) < self.executor.capacity and self._can_start():
                nxt = self._ask()
                if nxt is None:
                    exhausted = not self.executor.running
                    break
                self._submit(nxt[1], nxt[0])
            if not self.executor.running and (exhausted or not self._can_start()):
                return
            if self.search_left() <= 0:
                return
            for res in self.executor.poll(timeout=min(0.2, max(self.search_left(), 0.01))):
                self._record(res)
                exhausted = False

    def _run_batched(self) -> None:
        while self._can_start():
            batch = []
            while len(batch) < self.executor.capacity and self._can_start():
                nxt = self._ask()
                if nxt is None:
                    break
                self._submit(nxt[1], nxt[0])
                batch.append(nxt[0])
            if not batch:
                return
            got: dict[int, TrialResult] = {}
            while len(got) < len(batch):
                for res in self.executor.poll(timeout=0.2):
                    got[res.trial_id] = res
                if self.budget.remaining() - self.final_reserve() <= 0 and len(got) < len(batch):
                    break
            for tid in sorted(got):
                self._record(got[tid])
            if len(got) < len(batch):
                return

    def _drain(self) -> None:
        """Trials still running at the search deadline are recorded as pruned and cancelled, so the workers are
        free for the final refits (``orchestrate/refit.py``), which run on the same executor."""
        for res in self.executor.poll(timeout=0.0):
            self._record(res)
        left = sorted(self.executor.running)
        for tid in left:
            prop = self.state.proposals.get(tid)  # its fidelity, so the store says what was stopped
            spec = TrialSpec(trial_id=tid, config={}, fidelity=prop.fidelity if prop is not None else 1.0)
            self._record(TrialResult.failure(spec, TrialStatus.PRUNED,
                                             ErrorInfo("Pruned", "stopped at the end of the search budget")),
                         tell=False)
            self.executor.cancel(tid)
        if left:
            self.executor.poll(timeout=0.0)  # the cancellations' own results: already recorded above
