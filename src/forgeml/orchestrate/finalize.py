"""The step after the search: from the trials to one deployable ``FittedPipeline``.

Ensemble weights on out-of-fold predictions (``final.py``), the members made deployable on the run's executor
within the budget (``refit.py``: refit on all rows, or their fold models), and when no trial finished only
because time ran out, the cheapest default pipeline fit without validation.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from forgeml.errors import NoModelFittedError, SearchWarning
from forgeml.evaluate.evaluator import EvalContext
from forgeml.evaluate.refit import refit_in_process
from forgeml.execute.base import Executor
from forgeml.metrics import Metric
from forgeml.models.base import ModelFamily
from forgeml.orchestrate.final import choose_weights
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
    """Choose the weights, make the members deployable (``refit_members``: refit on all rows on ``executor``
    within the budget, or their fold models per ``settings.refit``), and choose again among the members that
    have a model when one was dropped, with a ``SearchWarning`` saying which and why, so the score still
    describes the model. When no member has a model, the best trial's fold models stand in, if it kept them.

    The members' estimated refit seconds must fit in the time left less 1 s, unless members can fall back to
    their fold models (``refit`` "auto" or "bag"): then any member may be chosen, and those that cannot be
    refit in time are bagged.
    """
    state, mask = run.state, ctx.oof_mask()
    # what the refits may take: the time left, less a margin for choosing the weights and saving the model
    refit_budget = max(run.budget.remaining() - 1.0, 0.0) if settings.refit == "full" else None
    weights, ens_score = choose_weights(state, ctx.y, mask, metric, ensemble=settings.ensemble, seed=settings.seed,
                                        refit_budget=refit_budget, n_folds=len(ctx.folds),
                                        sample_weight=ctx.sample_weight)
    if not weights:  # only low-fidelity trials finished (PBT, halving on a short budget): take the best of them
        best = state.best()
        weights, ens_score = {best.trial_id: 1.0}, best.score
    made = refit_members(weights, state, ctx, run.store, run.run_id, run.budget, executor, seed=settings.seed,
                         n_threads=n_threads, n_folds=len(ctx.folds), refit=settings.refit)
    models = made.models
    if not models:
        weights, ens_score = _best_folds(made, state, ctx)
    if made.dropped:
        _warn_dropped(made, weights)
    if set(models) != set(weights):
        again, score = choose_weights(state, ctx.y, mask, metric, ensemble=settings.ensemble, seed=settings.seed,
                                      only=set(models),
                                      sample_weight=ctx.sample_weight)
        if again:
            weights, ens_score = again, score
        else:  # the refit members have no out-of-fold predictions: keep their weights, unscored
            weights, ens_score = {k: w for k, w in weights.items() if k in models}, None
    total = sum(weights.values())
    order = sorted(weights, key=lambda k: -weights[k])
    pipeline = FittedPipeline(ctx.schema, [models[k] for k in order], [weights[k] / total for k in order],
                              [describe(state.proposals[k].config) for k in order])
    return Final(pipeline, {k: weights[k] / total for k in order}, ens_score)


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


def _warn_dropped(made: Refits, weights: dict[int, float]) -> None:
    kept = ", ".join(f"trial {k} ({made.how[k]})" for k in made.models)
    lost = "; ".join(f"trial {k}: {why}" for k, why in made.dropped.items())
    # stacklevel: _warn_dropped < ensemble_and_refit < finalize < run_automl < AutoML.fit < the user's call
    warnings.warn(f"the ensemble lost {len(made.dropped)} of its {len(weights)} members ({lost}); it is made of "
                  f"{kept}, its weights chosen again among them. Give a larger time_budget (or memory_limit_mb) to "
                  "keep them all.", SearchWarning, stacklevel=6)


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
