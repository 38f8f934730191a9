"""The step after the search: from the trials to one deployable ``FittedPipeline``.

The ensemble chosen on nested out-of-fold scores (``final.py``), the members made deployable on the run's executor
within the budget (``refit.py``: refit on all rows, or their fold models), and when no trial finished only
because time ran out, the cheapest default pipeline fit without validation.
"""
from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forgeml.ensemble.base import Ensemble
from forgeml.ensemble.select import SINGLE, Candidate
from forgeml.errors import NoModelFittedError, SearchWarning
from forgeml.evaluate.evaluator import EvalContext
from forgeml.evaluate.refit import refit_in_process
from forgeml.execute.base import Executor
from forgeml.metrics import Metric
from forgeml.models.base import ModelFamily
from forgeml.orchestrate.final import Choice, choose_ensemble, choose_weights
from forgeml.orchestrate.infer import batch, estimated_s_per_row, measured_s_per_row
from forgeml.orchestrate.loop import SearchLoop, SearchState
from forgeml.orchestrate.refit import Refits, load_folds, refit_members
from forgeml.orchestrate.report import describe
from forgeml.orchestrate.resume import OpenRun
from forgeml.orchestrate.settings import RunSettings
from forgeml.pipeline.fitted import FittedPipeline
from forgeml.space import Config
from forgeml.trial import ErrorInfo, TrialResult, TrialSpec, TrialStatus


@dataclass
class Final:
    """The run's model, the normalised weights of its members (by trial id) and the ensemble's CV score.

    ``fallback`` is the leaderboard row of the unvalidated fallback pipeline, when that is what was returned.
    """

    pipeline: FittedPipeline
    weights: dict[int, float]
    score: float | None
    fallback: dict[str, Any] | None = None
    method: str = SINGLE  # the ensemble method kept ("single" for one pipeline)
    candidates: list[Candidate] = field(default_factory=list)  # every method compared, with its evidence
    measured_s_per_row: float | None = None  # predict seconds per row on a 10,000-row batch (with infer_limit)
    how: dict[int, str] = field(default_factory=dict)  # per member: "refit" on all rows, or "bagged" fold models


def ensemble_probe(ctx: EvalContext, metric: Metric, ensemble: bool, seed: int,
                   max_rows: int = 2000) -> Callable[[SearchState], set[int]]:
    """What the final ensemble would choose now, on at most ``max_rows`` out-of-fold rows: the search loop
    keeps back the time to refit those members."""
    mask = ctx.oof_mask()
    rows = np.flatnonzero(mask)
    if len(rows) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_rows, replace=False))
    sub = np.zeros(len(mask), dtype=bool)
    sub[rows] = True

    def probe(state: SearchState) -> set[int]:
        weights, _ = choose_weights(state, ctx.y, sub, metric, ensemble=ensemble, sample_weight=ctx.sample_weight,
                                    seed=seed)
        return set(weights)

    return probe


def finalize(settings: RunSettings, run: OpenRun, ctx: EvalContext, executor: Executor, metric: Metric,
             loop: SearchLoop, fallback: Config | None) -> Final:
    """Weights and refits when a trial completed; otherwise the ``fallback`` configuration when only time ran
    out, or ``NoModelFittedError`` naming the most common error."""
    state = run.state
    if not state.completed(full_fidelity=False):
        broken = any(r.status in (TrialStatus.FAILED, TrialStatus.CRASHED) for r in state.results.values())
        out_of_time = settings.time_budget is not None and settings.per_trial_timeout is None and not broken
        if fallback is not None and out_of_time:  # the budget is too short for this machine now
            executor.shutdown()
            return fit_fallback(settings, fallback, ctx, run)
        common = loop.errors.most_common(1)
        why = f" Most common error: {common[0][0]} ({common[0][1]}×)." if common else ""
        raise NoModelFittedError(
            f"no trial completed within the budget ({len(state.results)} tried).{why} Give a larger time_budget, "
            "or look at the errors with .trials() / `forgeml trials DIR`.")
    # the refits run on the search's workers, under the deadline and memory limit (run_automl shuts them down)
    return ensemble_and_refit(settings, run, ctx, metric, executor, n_threads=loop.opt.n_threads)


def ensemble_and_refit(settings: RunSettings, run: OpenRun, ctx: EvalContext, metric: Metric, executor: Executor,
                       n_threads: int = 1) -> Final:
    """Choose the ensemble on nested out-of-fold scores, make its members deployable (``refit_members``: refit on
    all rows on ``executor`` within the budget, or their fold models per ``settings.refit``), and choose again
    among the members that have a model when one was dropped, with a ``SearchWarning`` saying which and why, so
    the score still describes the model. When no member has a model, the best trial's fold models stand in, if it
    kept them. With ``infer_limit``, keep the best candidate whose predict time per row holds (``infer.py``).

    Under ``refit="full"`` the members' estimated refit seconds must fit in the time left; under "auto" or "bag"
    any member may be chosen, and those that cannot be refit in time are bagged.
    """
    state, mask, budget = run.state, ctx.oof_mask(), run.budget
    # the comparison of methods may take a bounded share of what is left; the refits get the rest
    compare_s = min(max(budget.remaining() - 1.0, 0.0) * 0.3, max(3.0, 0.05 * budget.total_s))
    if settings.ensemble is None or settings.ensemble is False:
        compare_s = 0.0
    refit_budget = max(budget.remaining() - compare_s - 1.0, 0.0) if settings.refit == "full" else None
    choose = functools.partial(choose_ensemble, state, ctx.y, mask, metric, classification=ctx.n_classes > 0,
                               features=ctx.X, n_folds=len(ctx.folds), seed=settings.seed,
                               sample_weight=ctx.sample_weight)
    choice = choose(ensemble=settings.ensemble, refit_budget=refit_budget, time_limit=compare_s)
    if choice.ensemble is None:  # only low-fidelity trials finished (PBT, halving on a short budget): the best
        best = state.best()
        choice = Choice(Ensemble({best.trial_id: 1.0}, best.score), SINGLE, best.score)
    limit = settings.infer_limit
    if limit is not None:
        choice = _within_estimate(choice, state, limit, metric)
    members = choice.members
    made = refit_members({k: choice.ensemble.weights.get(k, 0.0) for k in members}, state, ctx, run.store,
                         run.run_id, budget, executor, seed=settings.seed, n_threads=n_threads,
                         n_folds=len(ctx.folds), refit=settings.refit)
    models = made.models
    if not models:
        kept, score = _best_folds(made, state, ctx)
        choice = Choice(Ensemble(kept, score), SINGLE, score, choice.candidates)
        members = choice.members
    if made.dropped:
        _warn_dropped(made, members)
    if set(models) != members:
        dropped = sorted(members - set(models))
        again = choose(ensemble=choice.method if choice.method != SINGLE else None, only=set(models),
                       time_limit=max(budget.remaining() * 0.3, 0.5))
        candidates = choice.candidates
        if again.ensemble is not None and again.members <= set(models):
            choice = again
        else:  # the refit members have no out-of-fold predictions: keep their weights, unscored
            kept = {k: w for k, w in choice.ensemble.weights.items() if k in models} or {next(iter(models)): 1.0}
            choice = Choice(Ensemble(kept, float("nan")), "weighted", None)
        choice.candidates = candidates
        if not made.dropped:
            choice.warning = (f"{len(dropped)} ensemble member(s) have no model (trial "
                              f"{', '.join(map(str, dropped))}); the ensemble was chosen again among the others")
    pipeline = _pipeline(choice, models, ctx, state)
    measured = None
    if limit is not None:
        pipeline, choice, measured = _hold_infer_limit(pipeline, choice, models, ctx, state, limit, metric,
                                                       settings.seed)
    if choice.warning:
        warnings.warn(choice.warning, SearchWarning, stacklevel=5)
    return Final(pipeline, dict(zip(pipeline.member_ids or (), pipeline.weights)), choice.score,
                 method=choice.method, candidates=choice.candidates, measured_s_per_row=measured, how=dict(made.how))


def _best_folds(made: Refits, state: SearchState, ctx: EvalContext) -> tuple[dict[int, float], float | None]:
    """No member has a model: the best trial's fold models, if it kept them (``made`` gains them), else
    ``NoModelFittedError``."""
    best = next(iter(state.completed()), None)
    bagged = load_folds(best, ctx.n_classes) if best is not None else None
    if bagged is None:
        why = "; ".join(f"trial {k}: {w}" for k, w in made.dropped.items())
        raise NoModelFittedError(f"no pipeline could be refit on all rows ({why}); see .trials() for the errors, or "
                                 "give a larger time_budget")
    made.models[best.trial_id], made.how[best.trial_id] = bagged, "bagged"
    return {best.trial_id: 1.0}, best.score


def _warn_dropped(made: Refits, members: set[int]) -> None:
    kept = ", ".join(f"trial {k} ({made.how[k]})" for k in made.models)
    lost = "; ".join(f"trial {k}: {why}" for k, why in made.dropped.items())
    # stacklevel: _warn_dropped < ensemble_and_refit < finalize < run_automl < AutoML.fit < the user's call
    warnings.warn(f"the ensemble lost {len(made.dropped)} of its {len(members)} members ({lost}); it is made of "
                  f"{kept}, chosen again among them. Give a larger time_budget (or memory_limit_mb) to "
                  "keep them all.", SearchWarning, stacklevel=6)


def _pipeline(choice: Choice, models: dict[int, object], ctx: EvalContext, state: SearchState) -> FittedPipeline:
    ens = choice.ensemble
    weights = {k: ens.weights.get(k, 0.0) for k in choice.members}
    order = sorted(weights, key=lambda k: (-weights[k], k))
    total = sum(weights.values()) or 1.0
    return FittedPipeline(ctx.schema, [models[k] for k in order], [weights[k] / total for k in order],
                          [describe(state.proposals[k].config) for k in order], combiner=ens.combiner,
                          member_ids=order)


def _per_1k(state: SearchState) -> dict[int, float]:
    return {k: float(r.extra.get("predict_s_per_1k_rows", 0.0)) for k, r in state.results.items()}


def _ranked(choice: Choice, metric: Metric) -> list[Candidate]:
    ok = [c for c in choice.candidates if c.ok]
    return sorted(ok, key=lambda c: metric.loss(c.nested_score))


def _as_choice(c: Candidate, choice: Choice, warning: str | None = None) -> Choice:
    return Choice(c.ensemble, c.name, c.nested_score, choice.candidates, warning or choice.warning)


def _members_of(ens: Any) -> set[int]:
    return set(ens.weights) | set(getattr(ens.combiner, "members", ()) or ())


def _within_estimate(choice: Choice, state: SearchState, limit: float, metric: Metric) -> Choice:
    """The best candidate whose estimated predict time per row is within ``limit`` (the kept one when none is)."""
    per_1k = _per_1k(state)
    if estimated_s_per_row(choice.members, per_1k) <= limit:
        return choice
    for c in _ranked(choice, metric):
        if estimated_s_per_row(_members_of(c.ensemble), per_1k) <= limit:
            return _as_choice(c, choice)
    return choice


def _hold_infer_limit(pipeline: FittedPipeline, choice: Choice, models: dict[int, object], ctx: EvalContext,
                      state: SearchState, limit: float, metric: Metric, seed: int
                      ) -> tuple[FittedPipeline, Choice, float]:
    """The kept model timed on a 10,000-row batch; when over ``limit``, the next best candidate whose members are
    fitted, then the fastest single fitted pipeline (with a warning when even that is over)."""
    rows = batch(ctx.X, seed=seed)
    took = measured_s_per_row(pipeline, rows)
    if took <= limit:
        return pipeline, choice, took
    tried = {choice.method}
    for c in _ranked(choice, metric):
        if c.name in tried or not _members_of(c.ensemble) <= set(models):
            continue
        tried.add(c.name)
        alt = _as_choice(c, choice)
        alt_pipe = _pipeline(alt, models, ctx, state)
        alt_took = measured_s_per_row(alt_pipe, rows)
        if alt_took <= limit:
            return alt_pipe, alt, alt_took
    single = {}
    for k in models:
        res = state.results[k]
        one = Choice(Ensemble({k: 1.0}, res.score), SINGLE, res.score, choice.candidates)
        p = _pipeline(one, models, ctx, state)
        single[k] = (measured_s_per_row(p, rows), p, one)
    fastest = min(single, key=lambda k: (single[k][0], state.results[k].loss))
    took, pipe, one = single[fastest]
    if took > limit:
        name = describe(state.proposals[fastest].config)
        one.warning = (f"no pipeline predicts within infer_limit={limit:g} s per row (the fastest took {took:.3g} s "
                       f"per row on {len(rows)} rows); returning the fastest, {name}")
    else:  # the best one within the limit
        within = [k for k in single if single[k][0] <= limit]
        best_k = min(within, key=lambda k: state.results[k].loss)
        took, pipe, one = single[best_k]
    return pipe, one, took


def cheapest(warm: list[Config], families: dict[str, ModelFamily]) -> Config | None:
    """The warm-start configuration of the cheapest family (by its declared relative cost), first of those."""
    if not warm:
        return None
    return min(enumerate(warm), key=lambda iw: (families[iw[1]["family"]].capabilities.cost, iw[0]))[1]


def fit_fallback(settings: RunSettings, config: Config, ctx: EvalContext, run: OpenRun) -> Final:
    """The cheapest default fit on all rows, unvalidated: what a budget too short for any trial still returns.

    A trial that failed means something is wrong with the data or a family, and the run says so instead; a
    budget in which every trial merely ran out of time still keeps its promise of a fitted model.
    """
    # stacklevel: fit_fallback < finalize < run_automl < AutoML.fit < the user's call
    warnings.warn(f"no trial finished within the {settings.time_budget:g} s budget; returning the cheapest default "
                  f"pipeline ({describe(config)}) fit on all rows without validation. Give a larger time_budget for "
                  "a searched, cross-validated model.", SearchWarning, stacklevel=5)
    store, run_id = run.store, run.run_id
    spec = TrialSpec(trial_id=store.next_trial_id(run_id), config=dict(config), seed=settings.seed, kind="refit",
                     extra={"fallback": True})
    store.add_trial(run_id, spec)
    try:
        pipe, fit_time = refit_in_process(config, ctx, settings.seed, os.cpu_count() or 1)
    except Exception as exc:
        store.finish_trial(run_id, TrialResult.failure(spec, TrialStatus.FAILED, ErrorInfo.from_exception(exc), 0.0))
        raise NoModelFittedError(f"no trial finished within the budget, and the fallback pipeline failed: "
                                 f"{type(exc).__name__}: {exc}"[:400] + "; give a larger time_budget") from exc
    store.finish_trial(run_id, TrialResult(trial_id=spec.trial_id, status=TrialStatus.COMPLETE, fit_time=fit_time,
                                           duration=fit_time, extra={"fallback": True}))
    row = {"trial_id": spec.trial_id, "family": config["family"], "fit_time": fit_time}
    return Final(FittedPipeline(ctx.schema, [pipe], [1.0], [describe(config)]), {}, None, fallback=row)
