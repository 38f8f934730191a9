"""After the search: choose the ensemble on out-of-fold predictions, refit the members on all rows.

Refits run in this process once the search's workers have stopped, best member first, under what is left of
the budget, with the run's sample weights when it has them. The ensemble is chosen among members whose
estimated refits fit in that time, scoring the blends with the same weights. When a refit fails
or runs over its estimate, the weights are chosen again among the members that were refit, so the returned
ensemble is always one that was scored on out-of-fold predictions.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forgeml.budget import Budget
from forgeml.ensemble import ENSEMBLERS, resolve_ensembler
from forgeml.ensemble.select import SINGLE, Candidate, best, compare
from forgeml.metrics import Metric
from forgeml.orchestrate.loop import ENSEMBLE_CANDIDATES, SearchState, full_fit_estimate
from forgeml.space import Config
from forgeml.store import Store
from forgeml.trial import ErrorInfo, TrialResult, TrialSpec, TrialStatus


def choose_weights(state: SearchState, y: np.ndarray, mask: np.ndarray, metric: Metric, *, ensemble: Any,
                   max_members: int = ENSEMBLE_CANDIDATES, refit_budget: float | None = None, n_folds: int = 5,
                   only: set[int] | None = None, seed: int = 0,
                   sample_weight: np.ndarray | None = None) -> tuple[dict[int, float], float | None]:
    """Ensemble weights over the best ``max_members`` trials (restricted to ``only`` when given), fitted directly
    on the out-of-fold rows: the search's cheap probe of which members the final ensemble will want.

    ``ensemble`` is what ``AutoML(ensemble=...)`` holds; ``"auto"`` is probed with greedy selection, whose
    members cover what the other methods pick. With ``refit_budget``, the chosen members' estimated refit
    seconds stay within it (the first pick aside). ``sample_weight`` (all rows, aligned with ``y``; None for
    none) weighs the rows the blends are scored on; an ensembler is given it only when set.
    """
    done = [r for r in state.completed() if r.oof_path and (only is None or r.trial_id in only)]
    if not done:
        return {}, None
    ensembler = resolve_ensembler("greedy" if isinstance(ensemble, str) and ensemble == "auto" else ensemble)
    if ensembler is None or len(done) == 1:
        return {done[0].trial_id: 1.0}, done[0].score
    oof = _load_oof(done[:max_members], mask)
    if not oof:
        return {done[0].trial_id: 1.0}, done[0].score
    costs = {k: full_fit_estimate(state.results[k], n_folds) for k in oof}
    weighted = {} if sample_weight is None else {"sample_weight": np.asarray(sample_weight)[mask]}
    if getattr(ensembler, "uses_features", False):
        weighted["features"] = None
    ens = ensembler.fit(oof, y[mask], metric, seed=seed, costs=costs, max_cost=refit_budget, **weighted)
    return {k: float(v) for k, v in ens.weights.items()}, float(ens.score)


@dataclass
class Choice:
    """The ensemble the run keeps (``None`` when no full-fidelity trial has out-of-fold predictions), the name
    of its method, its nested out-of-fold score, and every candidate method's evidence."""

    ensemble: Any
    method: str
    score: float | None
    candidates: list[Candidate] = field(default_factory=list)
    warning: str | None = None

    @property
    def members(self) -> set[int]:
        if self.ensemble is None:
            return set()
        return set(self.ensemble.weights) | set(getattr(self.ensemble.combiner, "members", ()) or ())


def candidate_methods(spec: Any, weighted: bool = False) -> dict[str, Any]:
    """The ensemblers ``AutoML(ensemble=spec)`` compares with the best single pipeline: every registered one for
    ``"auto"`` (in a ``weighted`` run, those whose ``fit`` takes ``sample_weight``), none for ``None``/``False``,
    otherwise the one asked for."""
    if isinstance(spec, str) and spec == "auto":
        from forgeml.orchestrate.prepare import takes_weights

        built = {name: ENSEMBLERS[name]() for name in ENSEMBLERS}
        return {n: e for n, e in built.items() if not weighted or takes_weights(e)}
    ensembler = resolve_ensembler(spec)
    if ensembler is None:
        return {}
    return {getattr(ensembler, "name", "") or type(ensembler).__name__: ensembler}


def choose_ensemble(state: SearchState, y: np.ndarray, mask: np.ndarray, metric: Metric, *, ensemble: Any,
                    classification: bool, features: Any = None, max_members: int = ENSEMBLE_CANDIDATES,
                    refit_budget: float | None = None, n_folds: int = 5, only: set[int] | None = None,
                    seed: int = 0, sample_weight: np.ndarray | None = None,
                    time_limit: float | None = None) -> Choice:
    """Compare the ensemble methods ``ensemble`` asks for on nested out-of-fold scores (``ensemble.select``) and
    keep the best (``"auto"``) or the one forced; ``None`` keeps the best single trial without comparing.

    A forced method that fails falls back to the best single pipeline, with ``Choice.warning`` saying why.
    ``features`` are the input rows behind ``y`` (all rows; the ones in ``mask`` are used).
    """
    done = [r for r in state.completed() if r.oof_path and (only is None or r.trial_id in only)]
    if not done:
        return Choice(None, SINGLE, None)
    methods = candidate_methods(ensemble, weighted=sample_weight is not None)
    oof = _load_oof(done[:max_members], mask)
    if not methods or len(oof) < 2:
        top = done[0] if not oof else next(r for r in done if r.trial_id in oof)
        from forgeml.ensemble.base import Ensemble

        return Choice(Ensemble({top.trial_id: 1.0}, top.score), SINGLE, top.score)
    costs = {k: full_fit_estimate(state.results[k], n_folds) for k in oof}
    rows = np.flatnonzero(mask)
    candidates = compare(methods, oof, y[mask], metric, classification=classification, seed=seed, costs=costs,
                         max_cost=refit_budget,
                         sample_weight=None if sample_weight is None else np.asarray(sample_weight)[mask],
                         features=None if features is None else features.iloc[rows], n_folds=n_folds,
                         time_limit=time_limit)
    by_name = {c.name: c for c in candidates}
    if isinstance(ensemble, str) and ensemble == "auto":
        chosen = best(candidates, metric)
    else:
        chosen = next((c for c in candidates if c.name != SINGLE), None)
    warning = None
    if chosen is None or not chosen.ok:
        reason = "it was not evaluated" if chosen is None else (chosen.error or "its score is not finite")
        warning = (f"the {'ensemble' if chosen is None else chosen.name} ensemble could not be built ({reason}); "
                   "returning the best single pipeline")
        chosen = by_name.get(SINGLE)
    if chosen is None or not chosen.ok:  # even the single best failed to cross-fit: take the best trial
        from forgeml.ensemble.base import Ensemble

        top = next(r for r in done if r.trial_id in oof)
        return Choice(Ensemble({top.trial_id: 1.0}, top.score), SINGLE, top.score, candidates, warning)
    return Choice(chosen.ensemble, chosen.name, chosen.nested_score, candidates, warning)


def _load_oof(results: list[TrialResult], mask: np.ndarray) -> dict[int, np.ndarray]:
    oof = {}
    for r in results:
        try:
            oof[r.trial_id] = np.load(r.oof_path)[mask]
        except (OSError, ValueError):
            continue
    return oof


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
        estimate = full_fit_estimate(res, n_folds)
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
            schedule = lineage(src, state)
            pipe, fit_time = refit_in_process(config, ctx, seed, n_threads, schedule=schedule)
        except Exception as exc:  # a member that cannot be refit is dropped, the others stay
            store.finish_trial(run_id, TrialResult.failure(spec, TrialStatus.FAILED, ErrorInfo.from_exception(exc),
                                                           time.time() - t0))
            continue
        models[src] = pipe
        store.finish_trial(run_id, TrialResult(trial_id=tid, status=TrialStatus.COMPLETE, fit_time=fit_time,
                                               duration=time.time() - t0,
                                               extra={"source_trial": src, "schedule_steps": len(schedule)}))
    return models


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


def refit_in_process(config, ctx, seed: int, n_threads: int, schedule: list[tuple[Config, int]] | None = None):
    """Fit one configuration on all rows; returns the fitted pipeline and its fit seconds.

    With a PBT ``schedule`` of several steps, the refit replays it: the first step's settings for its
    iterations, then each later step's settings for the iterations it added, continuing the same model, as
    the validated model was trained.
    """
    from forgeml.evaluate.evaluator import build
    from forgeml.pipeline.builder import fit_pipeline

    spec = TrialSpec(trial_id=-1, config=dict(config), seed=seed, n_threads=n_threads,
                     timeout=None, kind="refit")
    t0 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if schedule and len(schedule) > 1:
            pipe = _replay(schedule, ctx, spec)
            if pipe is not None:
                return pipe, time.time() - t0
        pipe = build(config, ctx, len(ctx.y), spec)
        fit_pipeline(pipe, ctx.X, ctx.y, ctx.sample_weight)
    return pipe, time.time() - t0


def _replay(schedule: list[tuple[Config, int]], ctx, spec: TrialSpec):
    from forgeml.evaluate.evaluator import build, continue_pipeline, fit_context, iterative_family
    from forgeml.pipeline.builder import fit_pipeline

    first, done = schedule[0]
    fctx = fit_context(ctx, len(ctx.y), spec)
    family, key = iterative_family(first, ctx, spec)
    if key is None:
        return None
    pipe = build(Config({**first, key: done}), ctx, len(ctx.y), spec)
    fit_pipeline(pipe, ctx.X, ctx.y, ctx.sample_weight)
    for config, iterations in schedule[1:]:
        if iterations <= done:
            continue
        pipe = continue_pipeline(pipe, config, iterations - done, family, fctx, ctx.X, ctx.y, ctx.sample_weight)
        if pipe is None:
            return None  # the family cannot continue: refit the final configuration afresh
        done = iterations
    return pipe
