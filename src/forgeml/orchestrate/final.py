"""After the search: choose ensemble weights on out-of-fold predictions, refit the members on all rows.

Refits run in this process once the search's workers have stopped, best member first, under what is left of
the budget. Members whose refit fails or would not fit in the time left are dropped and the weights
renormalised.
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from forgeml.budget import Budget
from forgeml.ensemble.greedy import GreedyEnsembler
from forgeml.metrics import Metric
from forgeml.orchestrate.loop import SearchState
from forgeml.store import Store
from forgeml.trial import ErrorInfo, TrialResult, TrialSpec, TrialStatus


def choose_weights(state: SearchState, y: np.ndarray, mask: np.ndarray, metric: Metric, *, max_members: int,
                   ensemble: bool) -> tuple[dict[int, float], float | None]:
    done = [r for r in state.completed() if r.oof_path]
    if not done:
        return {}, None
    if not ensemble or len(done) == 1:
        return {done[0].trial_id: 1.0}, done[0].score
    oof = {}
    for r in done[:max_members]:
        try:
            oof[r.trial_id] = np.load(r.oof_path)[mask]
        except (OSError, ValueError):
            continue
    if not oof:
        return {done[0].trial_id: 1.0}, done[0].score
    ens = GreedyEnsembler().fit(oof, y[mask], metric)
    return {k: float(v) for k, v in ens.weights.items()}, float(ens.score)


def refit_members(weights: dict[int, float], state: SearchState, ctx, store: Store, run_id: str, budget: Budget,
                  *, seed: int, n_threads: int, n_folds: int) -> dict[int, object]:
    """Refit members on all rows in this process, best first, while the budget allows.

    The search's workers are gone by now, so the refits get every core; each member's refit time is estimated
    from its cross-validation fits, and a member that would not finish in time is skipped. The best member is
    always refit (its time was reserved during the search). Each refit is recorded in the store.
    """
    order = sorted(weights, key=lambda k: -weights[k])
    models: dict[int, object] = {}
    for i, src in enumerate(order):
        res = state.results[src]
        estimate = res.fit_time / max(n_folds, 1) * 1.3 / max(res.fidelity, 0.05)
        if i > 0 and estimate > budget.remaining():
            continue
        tid = state.next_id
        state.next_id += 1
        config = state.proposals[src].config
        spec = TrialSpec(trial_id=tid, config=dict(config), seed=seed, kind="refit", n_threads=n_threads,
                         timeout=max(budget.remaining(), 1.0), extra={"source_trial": src})
        store.add_trial(run_id, spec)
        t0 = time.time()
        try:
            pipe, fit_time = refit_in_process(config, ctx, seed, n_threads)
        except Exception as exc:  # a member that cannot be refit is dropped, the others stay
            store.finish_trial(run_id, TrialResult.failure(spec, TrialStatus.FAILED, ErrorInfo.from_exception(exc),
                                                           time.time() - t0))
            continue
        models[src] = pipe
        store.finish_trial(run_id, TrialResult(trial_id=tid, status=TrialStatus.COMPLETE, fit_time=fit_time,
                                               duration=time.time() - t0, extra={"source_trial": src}))
    return models


def refit_in_process(config, ctx, seed: int, n_threads: int):
    """Fit one configuration on all rows; returns the fitted pipeline and its fit seconds."""
    from forgeml.evaluate.evaluator import build

    spec = TrialSpec(trial_id=-1, config=dict(config), seed=seed, n_threads=n_threads,
                     timeout=None, kind="refit")
    pipe = build(config, ctx, len(ctx.y), spec)
    t0 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(ctx.X, ctx.y)
    return pipe, time.time() - t0
