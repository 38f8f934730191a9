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
from forgeml.orchestrate.final import Choice, choose_ensemble, choose_weights, predict_costs
from forgeml.orchestrate.infer import hold_infer_limit, within_estimate
from forgeml.orchestrate.loop import SearchLoop, SearchState, full_fit_estimate, kept_folds
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
    kept: Any = None  # the Ensemble the pipeline was built from (one of the candidates', unless chosen again)


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


def choose_reserve(settings: RunSettings, total_s: float) -> float:
    """Seconds the search leaves for comparing ensemble methods, and the most the comparison may take."""
    if settings.ensemble is None or settings.ensemble is False or settings.time_budget is None:
        return 0.0
    return max(3.0, 0.05 * total_s)


def ensemble_and_refit(settings: RunSettings, run: OpenRun, ctx: EvalContext, metric: Metric, executor: Executor,
                       n_threads: int = 1) -> Final:
    """Choose the ensemble on nested out-of-fold scores, make its members deployable (``refit_members``: refit on
    all rows on ``executor`` within the budget, or their fold models per ``settings.refit``), and choose again
    among the members that have a model when one was dropped, with a ``SearchWarning`` saying which and why, so
    the score still describes the model. When no member has a model, the best trial's fold models stand in, if it
    kept them. With ``infer_limit``, keep the best candidate whose predict time per row holds (``infer.py``).

    Under ``refit="full"`` the members' estimated refit seconds must fit in the time left; under "auto" or "bag"
    any member may be chosen, and those that cannot be refit in time are bagged. The comparison of methods takes
    at most ``choose_reserve`` seconds; with ``max_trials`` it is not cut short by the clock, so the same seed and
    ``max_trials`` compare (and keep) the same methods on any machine.
    """
    state, mask, budget = run.state, ctx.oof_mask(), run.budget
    compare_s = min(choose_reserve(settings, budget.total_s), max(budget.remaining() - 1.0, 0.0) * 0.5)
    time_limit = None if settings.max_trials is not None else compare_s
    refit_budget = max(budget.remaining() - compare_s - 1.0, 0.0) if settings.refit == "full" else None
    choose = functools.partial(choose_ensemble, state, ctx.y, mask, metric, classification=ctx.n_classes > 0,
                               features=ctx.X, seed=settings.seed, sample_weight=ctx.sample_weight,
                               prune_costs=_prune_costs(settings, state), prune_slack=settings.ensemble_prune)
    choice = choose(ensemble=settings.ensemble, refit_budget=refit_budget, time_limit=time_limit)
    if choice.ensemble is None:  # only low-fidelity trials finished (PBT, halving, a large table): the best
        best = refittable_best(state, budget.remaining(), len(ctx.folds))
        choice = Choice(Ensemble({best.trial_id: 1.0}, best.score), SINGLE, best.score)
    limit = settings.infer_limit
    bagged = settings.refit == "bag"
    if limit is not None:
        choice = within_estimate(choice, state, limit, metric, folds=len(ctx.folds) if bagged else 1)
    members = choice.members
    made = refit_members({k: choice.ensemble.weights.get(k, 0.0) for k in members}, state, ctx, run.store,
                         run.run_id, budget, executor, seed=settings.seed, n_threads=n_threads,
                         n_folds=len(ctx.folds), refit=settings.refit)
    models = made.models
    if made.dropped:
        _warn_dropped(made, members)
    if not models:
        kept, score = _best_folds(made, state, ctx)
        choice = Choice(Ensemble(kept, score), SINGLE, score, choice.candidates)
    elif not choice.members <= set(models):
        choice = _choose_again(choice, choose, models, state, budget, time_limit is None)
    pipeline = _pipeline(choice, models, ctx, state)
    measured = None
    if limit is not None:
        pipeline, choice, measured = hold_infer_limit(pipeline, choice, models, ctx, state, limit, metric, budget,
                                                      settings.seed, _pipeline)
    if choice.warning:
        warnings.warn(choice.warning, SearchWarning, stacklevel=5)
    return Final(pipeline, dict(zip(pipeline.member_ids or (), pipeline.weights)), choice.score,
                 method=choice.method, candidates=choice.candidates, measured_s_per_row=measured,
                 how=dict(made.how), kept=choice.ensemble)


def _prune_costs(settings: RunSettings, state: SearchState) -> dict[int, float] | None:
    """What ``ensemble_prune`` prunes ensembles by (``ensemble/prune.py``): the members' measured predict seconds,
    or none under ``max_trials`` (reproducible); None when it is off."""
    if not settings.ensemble_prune:
        return None
    return predict_costs(state, measured=settings.max_trials is None)


def refittable_best(state: SearchState, seconds: float, n_folds: int) -> TrialResult:
    """The best low-fidelity trial (highest fidelity, then loss) that kept its fold models (they stand in when
    its refit cannot finish: ``refit.py``) or whose estimated refit on all rows fits in ``seconds``; when none
    does, the quickest to refit. Without fold models a refit that cannot finish leaves no model at all: on 750,000
    rows, a CatBoost trial run on a ninth of them (9 s) was chosen, and its refit on all rows ran out of time."""
    ranked = state.ranked()
    fits = [r for r in ranked if kept_folds(r) or full_fit_estimate(r, n_folds) <= seconds]
    if fits:
        return fits[0]
    return min(ranked, key=lambda r: (full_fit_estimate(r, n_folds), r.trial_id))


def _choose_again(choice: Choice, choose: Callable[..., Choice], models: dict[int, object], state: SearchState,
                  budget: Any, unhurried: bool) -> Choice:
    """The method of ``choice`` (the same object) fitted again among the members that have a model; the best of
    them alone when that fails or less than 2 s is left."""
    method = choice.methods.get(choice.method)
    again = None
    if method is not None and (unhurried or budget.remaining() > 2.0):
        again = choose(ensemble=choice.method, only=set(models), methods={choice.method: method},
                       time_limit=None if unhurried else max(budget.remaining() - 1.0, 0.0) * 0.5)
        if again.ensemble is None or not again.members <= set(models) or again.method != choice.method:
            again = None
    if again is None:
        top = min((state.results[k] for k in models), key=lambda r: (r.loss, r.trial_id))
        again = Choice(Ensemble({top.trial_id: 1.0}, top.score), SINGLE, top.score)
    again.candidates = choice.candidates
    return again


def _best_folds(made: Refits, state: SearchState, ctx: EvalContext) -> tuple[dict[int, float], float | None]:
    """No member has a model: the best trial's fold models (at the highest fidelity reached), if it kept them
    (``made`` gains them), else ``NoModelFittedError``."""
    best, bagged = None, None
    for best in state.ranked():  # the best that kept them (a PBT trial below full rounds did not)
        bagged = load_folds(best, ctx.n_classes)
        if bagged is not None:
            break
    if bagged is None or best is None:
        why = "; ".join(f"trial {k}: {w}" for k, w in made.dropped.items())
        raise NoModelFittedError(f"no pipeline could be refit on all rows ({why}); see .trials() for the errors, or "
                                 "give a larger time_budget")
    made.models[best.trial_id], made.how[best.trial_id] = bagged, "bagged"
    return {best.trial_id: 1.0}, best.score


def _warn_dropped(made: Refits, members: set[int]) -> None:
    kept = ", ".join(f"trial {k} ({made.how[k]})" for k in made.models) or "none"
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
