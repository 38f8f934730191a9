"""Fit one configuration on all rows: the final refit of an ensemble member, run by a worker like a trial.

``run_refit(spec, ctx)`` is what ``run_trial`` does with a ``kind="refit"`` spec: it fits ``spec.config`` on every
row (with the run's sample weights), replaying the PBT schedule in ``spec.extra["schedule"]`` when there is one,
and pickles the fitted pipeline to ``run_dir/refit/trial_<source>.pkl``. Running it in a worker puts the refit
under the run's deadline (``spec.timeout``) and memory limit, as every trial is. ``refit_in_process`` is the same
fit in the caller's process, for the fallback pipeline of a run in which no trial finished.

``spec.extra["row_share"]`` (below 1) fits on that share of the rows instead, drawn as the search draws its
row samples (at random, keeping a row of every class): the refit of a large table's best trial when all rows do
not fit in the time left (``orchestrate/refit.py``).
"""
from __future__ import annotations

import os
import pickle
import time
import warnings
from typing import Any

import numpy as np

from forgeml._io import atomic_write
from forgeml.evaluate.evaluator import EvalContext, build, continue_pipeline, fit_context, iterative_family, sample_rows
from forgeml.pipeline.builder import fit_pipeline
from forgeml.space import Config
from forgeml.trial import TrialResult, TrialSpec, TrialStatus

Schedule = list[tuple[Config, int]]


def refit_path(run_dir: str, source: int) -> str:
    """Where the refit of trial ``source`` is pickled."""
    return os.path.join(run_dir, "refit", f"trial_{source}.pkl")


def schedule_to_json(schedule: Schedule) -> list[list[Any]]:
    """A PBT schedule as ``spec.extra["schedule"]`` carries it: ``[[config dict, iterations], ...]``."""
    return [[dict(config), int(iterations)] for config, iterations in schedule]


def schedule_from_json(steps: Any) -> Schedule:
    return [(Config(config), int(iterations)) for config, iterations in (steps or ())]


def run_refit(spec: TrialSpec, ctx: EvalContext) -> TrialResult:
    """Fit ``spec.config`` on all rows and pickle it; a ``COMPLETE`` result naming the file (raises on failure:
    ``run_trial`` turns that into a failed result)."""
    source = int(spec.extra.get("source_trial", spec.trial_id))
    schedule = schedule_from_json(spec.extra.get("schedule"))
    share = float(spec.extra.get("row_share") or 1.0)
    rows = None if share >= 0.999 else sample_rows(np.arange(len(ctx.y)), ctx.y, share, spec.seed, ctx.n_classes > 0)
    pipe, fit_time = refit_in_process(Config(spec.config), ctx, spec.seed, spec.n_threads, schedule=schedule,
                                      timeout=spec.timeout, rows=rows, deadline=spec.extra.get("fit_deadline"))
    path = refit_path(ctx.run_dir, source)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, lambda f: pickle.dump(pipe, f, pickle.HIGHEST_PROTOCOL))
    extra = {"source_trial": source, "model_path": path, "schedule_steps": len(schedule)}
    if rows is not None:
        extra["rows"] = len(rows)
    return TrialResult(trial_id=spec.trial_id, status=TrialStatus.COMPLETE, fit_time=fit_time, model_path=path,
                       extra=extra)


def refit_in_process(config: Config, ctx: EvalContext, seed: int, n_threads: int, schedule: Schedule | None = None,
                     timeout: float | None = None, rows: np.ndarray | None = None,
                     deadline: float | None = None) -> tuple[Any, float]:
    """Fit one configuration on all rows (or on the positions ``rows``) in this process; returns the fitted
    pipeline and its fit seconds.

    With a PBT ``schedule`` of several steps, the refit replays it: the first step's settings for its
    iterations, then each later step's settings for the iterations it added, continuing the same model, as
    the validated model was trained. ``timeout`` (or the epoch-seconds ``deadline``, when given) only tells
    families that honour a deadline when to stop early; the executor running a refit enforces the time limit.
    """
    spec = TrialSpec(trial_id=-1, config=dict(config), seed=seed, n_threads=n_threads, timeout=timeout, kind="refit",
                     extra={} if deadline is None else {"fit_deadline": deadline})
    t0 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if schedule and len(schedule) > 1 and rows is None:  # (a PBT trial is never refit on a row sample)
            pipe = _replay(schedule, ctx, spec)
            if pipe is not None:
                return pipe, time.time() - t0
        if rows is None:
            pipe = build(config, ctx, len(ctx.y), spec)
            fit_pipeline(pipe, ctx.X, ctx.y, ctx.sample_weight)
        else:
            pipe = build(config, ctx, len(rows), spec)
            fit_pipeline(pipe, ctx.X.iloc[rows], ctx.y[rows], ctx.weights(rows))
    return pipe, time.time() - t0


def _replay(schedule: Schedule, ctx: EvalContext, spec: TrialSpec) -> Any | None:
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
