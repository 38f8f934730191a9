"""One AutoML run from a frame to a fitted pipeline: the only module that knows every layer.

``run_automl`` reads as the run's steps: prepare (``prepare.py``), open or resume the run in the store
(``resume.py``), search (``loop.py``), finalise (``finalize.py``: ensemble weights, refits on the search's
executor, fallback), and record the leaderboard (``report.py``). It takes a ``RunSettings``, never the estimator.
"""
from __future__ import annotations

import copy
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forgeml.budget import Budget
from forgeml.data.schema import Schema
from forgeml.evaluate.evaluator import EvalContext, run_trial, shipped_plugins
from forgeml.execute import make_executor
from forgeml.execute.base import Executor
from forgeml.metrics import Metric
from forgeml.orchestrate.experience import remember
from forgeml.orchestrate.finalize import Final, cheapest, choose_reserve, ensemble_probe, finalize
from forgeml.orchestrate.loop import LoopOptions, SearchLoop
from forgeml.orchestrate.prepare import Prepared, prepare
from forgeml.orchestrate.progress import Progress
from forgeml.orchestrate.report import (
    build_leaderboard,
    describe,
    fallback_leaderboard,
    search_summary,
    skipped_note,
    with_skipped_families,
)
from forgeml.orchestrate.resume import OpenRun, open_run, trial_cap
from forgeml.orchestrate.settings import RunSettings
from forgeml.pipeline.fitted import FittedPipeline
from forgeml.store.rundir import clear_run_dir

UNLIMITED_S = 10 * 365 * 24 * 3600.0


@dataclass
class Outcome:
    """What ``AutoML.fit`` keeps from a run."""

    schema: Schema
    metric: Metric
    pipeline: FittedPipeline
    leaderboard: pd.DataFrame
    run_id: str
    n_trials: int
    seconds: float
    search_summary: str = ""
    candidates: list = field(default_factory=list)  # every ensemble method compared (ensemble.select.Candidate)
    kept: Any = None  # the Ensemble the pipeline was built from (one of the candidates', unless chosen again)
    y: Any = None  # the target as the models saw it (EvalContext.y), for the report's out-of-fold plots
    oof_rows: Any = None  # the rows (of ``y``) with out-of-fold predictions; the candidates were compared on these


def run_automl(settings: RunSettings, df: pd.DataFrame, target: str, run_dir: str,
               sample_weight: str | None = None) -> Outcome:
    """Search, ensemble and refit on ``df`` (``target`` is the column to predict), storing the run in ``run_dir``.

    ``sample_weight`` names the column of ``df`` holding the row weights (checked by ``AutoML.fit``), if any.
    """
    budget = Budget(settings.time_budget if settings.time_budget is not None else UNLIMITED_S)
    prep = prepare(settings, df, target, sample_weight)
    # everything that can still refuse the options comes before the store is touched: a refused run leaves none
    ctx = EvalContext(X=prep.X, y=prep.y, folds=prep.folds, schema_json=prep.schema.to_json(),
                      metric=prep.metric.name, run_dir=run_dir,
                      plugins=shipped_plugins(prep.metric, prep.families), sample_weight=prep.sample_weight)
    executor = build_executor(settings, prep.n_workers, prep.n_threads)
    if settings.overwrite:  # the data passed its checks: now the earlier run may go
        clear_run_dir(run_dir)
    run = open_run(settings, prep, run_dir, target, budget)
    t_start = time.time()
    with Progress(settings.verbose, settings.time_budget, prep.metric.name, settings.max_trials) as progress:
        try:
            loop, summary = search(settings, prep, run, ctx, executor, progress)
            progress.stage("choosing the ensemble and refitting on all rows")
            final = finalize(settings, run, ctx, executor, prep.metric, loop,
                             fallback=cheapest(prep.warm, prep.families))
        except BaseException:
            run.store.update_run(run.run_id, status="interrupted")
            raise
        finally:
            executor.shutdown()
    leaderboard, summary = record(run, final, prep, summary)
    if prep.experience is not None:
        from forgeml import __version__

        remember(prep.experience, run.state, prep.metric, dataset=f"{target} ({len(prep.X)} rows x {prep.X.shape[1]} "
                 "columns)", time_budget=settings.time_budget, version=__version__)
    return Outcome(schema=prep.schema, metric=prep.metric, pipeline=final.pipeline, leaderboard=leaderboard,
                   run_id=run.run_id, n_trials=len(run.state.results), seconds=time.time() - t_start,
                   search_summary=summary, candidates=final.candidates, kept=final.kept, y=ctx.y,
                   oof_rows=np.flatnonzero(ctx.oof_mask()))


def build_executor(settings: RunSettings, n_workers: int, n_threads: int) -> Executor:
    """The executor of the search's trials (its workers start in ``search``): any registered name, class or
    instance, given the common options; an executor's own options come from ``settings.backend_options``."""
    if isinstance(settings.backend, Executor):  # an instance keeps its own options; each fit gets a fresh copy
        return copy.deepcopy(settings.backend)
    own = {"local": {"wait_ready": False}, "ray": {"address": "auto"}}
    options = dict(own.get(settings.backend, {})) if isinstance(settings.backend, str) else {}
    options.update(settings.backend_options)
    return make_executor(settings.backend, n_workers=n_workers, threads_per_worker=n_threads,
                         memory_limit_mb=settings.memory_limit_mb, **options)


def search(settings: RunSettings, prep: Prepared, run: OpenRun, ctx: EvalContext, executor: Executor,
           progress: Progress) -> tuple[SearchLoop, str]:
    """Run trials until the search deadline, ``max_trials`` or the searcher runs dry; returns the loop and a
    one-line summary (also shown and stored)."""
    executor.start(run_trial, ctx)
    options = LoopOptions(seed=settings.seed, max_trials=trial_cap(settings.max_trials, run.state),
                          per_trial_timeout=settings.per_trial_timeout, n_threads=prep.n_threads,
                          raise_on_trial_error=settings.raise_on_trial_error, n_folds=len(prep.folds),
                          choose_reserve=choose_reserve(settings, run.budget.total_s),
                          keep_folds=settings.refit != "full", reserve_refits=settings.refit != "bag")
    loop = SearchLoop(searcher=prep.searcher, executor=executor, store=run.store, run_id=run.run_id,
                      budget=run.budget, options=options, progress=progress, state=run.state, describe=describe,
                      ensemble_probe=ensemble_probe(ctx, prep.metric, settings.ensemble, settings.seed))
    loop.run(run.elapsed_before)
    shutil.rmtree(os.path.join(ctx.run_dir, "state"), ignore_errors=True)  # PBT's per-fold models: done with
    summary = search_summary(prep.searcher, run.state)
    if prep.skipped:  # sample_weight: say which families were not searched
        summary = f"{summary}; {skipped_note(prep.skipped)}"
    if summary:
        progress.message(f"forgeml: {summary}")
        run.store.update_run(run.run_id, search_summary=summary)
    return loop, summary


def record(run: OpenRun, final: Final, prep: Prepared, summary: str) -> tuple[pd.DataFrame, str]:
    """The leaderboard, and the run marked complete in the store; returns the leaderboard and final summary."""
    metric = prep.metric
    if final.fallback is None:
        leaderboard = build_leaderboard(run.state, final.weights, final.score, metric, final.candidates,
                                        final.method, final.measured_s_per_row, kept=final.kept,
                                        sources=prep.experience.sources(run.state) if prep.experience else None)
    else:  # the fallback pipeline: listed, with no cross-validated score
        leaderboard = fallback_leaderboard(final.fallback, final.pipeline.descriptions[0], metric)
        summary = f"{summary}; no trial finished in time: fallback pipeline, not validated"
        run.store.update_run(run.run_id, search_summary=summary)
    leaderboard = with_skipped_families(leaderboard, prep.skipped, metric)  # rows naming them
    best = run.state.best()  # None when only the fallback pipeline was fit
    run.store.update_run(run.run_id, status="complete", best_trial_id=best.trial_id if best else None,
                         elapsed=run.elapsed_before + run.budget.elapsed(), ensemble_score=final.score)
    return leaderboard, summary
