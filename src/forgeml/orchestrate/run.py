"""One AutoML run from a validated frame to a fitted pipeline: the only module that knows every layer."""
from __future__ import annotations

import os
import shutil
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forgeml.api.predictor import FittedPipeline
from forgeml.budget import Budget
from forgeml.data.schema import Schema
from forgeml.data.weights import pop_sample_weight
from forgeml.errors import ConfigError, NoModelFittedError, SearchWarning
from forgeml.evaluate.evaluator import EvalContext, run_trial
from forgeml.metrics import Metric, accepts_sample_weight, get_metric
from forgeml.orchestrate.final import choose_weights, refit_members
from forgeml.orchestrate.loop import LoopOptions, SearchLoop, SearchState
from forgeml.orchestrate.progress import Progress
from forgeml.search.base import Proposal
from forgeml.space import Config
from forgeml.store import Store
from forgeml.trial import ErrorInfo, TrialResult, TrialSpec, TrialStatus

UNLIMITED_S = 10 * 365 * 24 * 3600.0
LARGE_ROWS = 100_000  # measured: multi-fidelity rungs lost to full-fidelity trials on diamonds (54k rows)


@dataclass
class Outcome:
    schema: Schema
    metric: Metric
    pipeline: FittedPipeline
    leaderboard: pd.DataFrame
    run_id: str
    n_trials: int
    seconds: float
    search_summary: str = ""


def describe(config: Config) -> str:
    """A short, readable name for a configuration: family(key=value, ...)."""
    fam = config["family"]
    params = {k: v for k, v in config.sub(fam).items() if not k.startswith("prep.")}
    show = ", ".join(f"{k}={_fmt(v)}" for k, v in list(params.items())[:4])
    return f"{fam}({show})"


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _resolve_task(requested: str, restriction: str | None, y: pd.Series) -> str | None:
    """The task to fit: the user's explicit choice, else the estimator's restriction, else ``None`` (infer)."""
    if requested in ("binary", "multiclass", "regression"):
        want = requested
    elif requested == "classification" or restriction == "classification":
        want = "binary" if y.nunique() == 2 else "multiclass"
    elif restriction == "regression":
        want = "regression"
    else:
        return None
    if restriction == "classification" and want == "regression":
        raise ConfigError("AutoClassifier cannot fit a regression task; use AutoRegressor")
    if restriction == "regression" and want != "regression":
        raise ConfigError(f"AutoRegressor cannot fit a {want} task; use AutoClassifier")
    return want


def _encode_target(df: pd.DataFrame, schema: Schema) -> np.ndarray:
    y = df[schema.target]
    if schema.task == "regression":
        return pd.to_numeric(y, errors="raise").to_numpy(dtype=float)
    index = {c: i for i, c in enumerate(schema.classes)}
    return y.map(index).to_numpy(dtype=np.int64)


def run_automl(est: Any, df: pd.DataFrame, target: str, run_dir: str, sample_weight: str | None = None) -> Outcome:
    """``sample_weight``: the name of the column of ``df`` holding the row weights (checked by ``AutoML.fit``)."""
    from forgeml.data.infer import infer_schema
    from forgeml.data.splits import make_folds
    from forgeml.data.validate import align_for_predict, validate_training
    from forgeml.execute import make_executor
    from forgeml.models import get_families
    from forgeml.models.base import FitContext
    from forgeml.pipeline.joint import default_configs, joint_space
    from forgeml.search import make_searcher

    budget = Budget(est.time_budget if est.time_budget is not None else UNLIMITED_S)
    df = validate_training(df, target, inf_as_nan=est.inf_as_nan)
    df, row_weights = pop_sample_weight(df, sample_weight, target)  # sample_weight: the rows' weights, not a feature
    task = _resolve_task(est.task, est._task_restriction, df[target])
    schema = infer_schema(df, target, task=task)
    metric = get_metric(est.metric, schema.task)
    if row_weights is not None and not accepts_sample_weight(metric.fn):  # sample_weight: refuse, never ignore
        raise ConfigError(f"metric {metric.name!r} takes no sample_weight; use a metric that does, or fit without "
                          "sample_weight")
    X = align_for_predict(schema, df.drop(columns=[target]))
    y = _encode_target(df, schema)

    cores = os.cpu_count() or 1
    n_workers = cores if est.n_jobs == -1 else min(est.n_jobs, max(cores, 1) * 4)
    n_threads = max(1, cores // n_workers)
    folds = make_folds(y, schema.task, n_rows=len(X), n_cols=X.shape[1], seed=est.seed, n_folds=est.n_folds)
    fctx = FitContext(task=schema.task, n_rows=int(len(X) * (1 - 1 / max(len(folds), 2))),
                      n_features=len(schema.modelled), n_classes=len(schema.classes), seed=est.seed,
                      n_threads=n_threads)
    search_options = dict(est.search_options or {})
    if est.search == "auto" and len(X) >= LARGE_ROWS:
        search_options.setdefault("multi_fidelity", True)  # cheap row-subsample rungs first on large data
    searcher = make_searcher(est.search, **search_options)
    families = get_families(est.families, fctx)
    if not families:
        raise ConfigError(f"no model family applies to this {schema.task} task with the families {est.families}")
    skipped: list[str] = []
    if row_weights is not None:  # sample_weight: only families that honour it
        families, skipped = weighted_families(families, est.families)
    if searcher.fidelity_unit == "iterations":  # e.g. pbt: only families trained in rounds or epochs
        dropped = [n for n, f in families.items() if not f.capabilities.iterative_param]
        families = {n: f for n, f in families.items() if f.capabilities.iterative_param}
        if dropped and families and est.families is not None:  # the user named them: say why they are unused
            warnings.warn(f"search={est.search!r} trains models in rounds or epochs; not searching "
                          f"{', '.join(dropped)}, which {'is' if len(dropped) == 1 else 'are'} not trained that way",
                          SearchWarning, stacklevel=3)
        if not families:
            raise ConfigError(f"search={est.search!r} trains models in rounds or epochs, and none of the families "
                              f"{est.families} is trained that way; add e.g. 'lightgbm' or 'mlp', or pick "
                              "another search")
    space = joint_space(families, schema, fctx)
    warm = default_configs(families, schema, fctx)

    store = Store.open(run_dir)
    state = SearchState()
    elapsed_before = 0.0
    run_id = store.latest_run() if est.resume else None
    meta = {"task": schema.task, "metric": metric.name, "target": target, "seed": est.seed,
            "time_budget": est.time_budget, "max_trials": est.max_trials, "search": est.search,
            "n_rows": len(X), "n_features": X.shape[1]}
    if run_id is not None:
        old = store.get_run(run_id)
        elapsed_before = float(old.get("elapsed") or 0.0)
        if est.time_budget is not None:
            budget = Budget(max(est.time_budget - elapsed_before, 1.0))
        store.mark_running_as(run_id, "crashed")
        store.update_run(run_id, status="running")
    else:
        run_id = store.start_run(meta)

    searcher.setup(space, seed=est.seed, warm_start=warm, max_trials=est.max_trials)
    if run_id is not None and est.resume:
        specs = {sp.trial_id: sp for sp in store.trial_specs(run_id)}
        for res in store.trial_results(run_id):
            spec = specs.get(res.trial_id)
            if spec is None or spec.kind != "cv" or "family" not in spec.config or not res.status.finished:
                continue
            prop = Proposal(space.complete(spec.config), fidelity=res.fidelity, parent_id=spec.parent_id)
            state.proposals[res.trial_id] = prop
            state.results[res.trial_id] = res
            searcher.replay(res.trial_id, prop, res)
        state.next_id = store.next_trial_id(run_id)

    ctx = EvalContext(X=X, y=y, folds=folds, schema_json=schema.to_json(), metric=metric.name, run_dir=run_dir,
                      sample_weight=row_weights)
    executor_opts: dict[str, Any] = {"n_workers": n_workers, "memory_limit_mb": est.memory_limit_mb}
    if est.backend == "local":
        executor_opts.update(threads_per_worker=n_threads, wait_ready=False)
    elif est.backend == "ray":
        executor_opts = {"address": est.ray_address or "auto", "n_workers": n_workers,
                         "memory_limit_mb": est.memory_limit_mb}
    executor = make_executor(est.backend, **executor_opts)
    max_trials = est.max_trials
    if max_trials is not None and est.resume:
        max_trials = max(0, max_trials - len(state.proposals))
    options = LoopOptions(seed=est.seed, max_trials=None if max_trials is None else max_trials + len(state.proposals),
                          per_trial_timeout=est.per_trial_timeout, n_threads=n_threads,
                          raise_on_trial_error=est.raise_on_trial_error, n_folds=len(folds))
    t_start = time.time()
    with Progress(est.verbose, est.time_budget, metric.name) as progress:
        try:
            executor.start(run_trial, ctx)
            loop = SearchLoop(searcher=searcher, executor=executor, store=store, run_id=run_id, budget=budget,
                              options=options, progress=progress, state=state, describe=describe,
                              ensemble_probe=ensemble_probe(ctx, metric, est.ensemble, est.seed))
            loop.run(elapsed_before)
            shutil.rmtree(os.path.join(run_dir, "state"), ignore_errors=True)  # PBT's per-fold models: done with
            summary = search_summary(searcher, state)
            if skipped:  # sample_weight: say which families were not searched
                summary = f"{summary}; {skipped_note(skipped)}"
            if summary:
                progress.message(f"forgeml: {summary}")
                store.update_run(run_id, search_summary=summary)
            pipeline, weights, ens_score, fb = _finalize(est, state, ctx, executor, store, run_id, budget, metric,
                                                         loop, fallback=_cheapest(warm, families))
        except BaseException:
            store.update_run(run_id, status="interrupted")
            raise
        finally:
            executor.shutdown()
    leaderboard = build_leaderboard(state, weights, ens_score, metric)
    if fb is not None:  # the fallback pipeline: listed, with no cross-validated score
        leaderboard = pd.DataFrame([{"trial_id": fb["trial_id"], "pipeline": pipeline.descriptions[0],
                                     "family": fb["family"], f"cv_{metric.name}": float("nan"), "fidelity": 1.0,
                                     "fit_time": fb["fit_time"], "predict_s_per_1k": float("nan"),
                                     "ensemble_weight": 1.0}])
        summary = f"{summary}; no trial finished in time: fallback pipeline, not validated"
        store.update_run(run_id, search_summary=summary)
    leaderboard = with_skipped_families(leaderboard, skipped, metric)  # sample_weight: rows naming them
    best = state.best()  # None when only the fallback pipeline was fit
    store.update_run(run_id, status="complete", best_trial_id=best.trial_id if best else None,
                     elapsed=elapsed_before + budget.elapsed(), ensemble_score=ens_score)
    return Outcome(schema=schema, metric=metric, pipeline=pipeline, leaderboard=leaderboard, run_id=run_id,
                   n_trials=len(state.results), seconds=time.time() - t_start, search_summary=summary)


def ensemble_probe(ctx: EvalContext, metric: Metric, ensemble: bool, seed: int, max_rows: int = 2000):
    """What the final ensemble would choose now, on at most ``max_rows`` out-of-fold rows: the search loop
    keeps back the time to refit those members."""
    mask = ctx.oof_mask()
    rows = np.flatnonzero(mask)
    if len(rows) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_rows, replace=False))
    sub = np.zeros(len(mask), dtype=bool)
    sub[rows] = True

    def probe(state: SearchState) -> set[int]:
        weights, _ = choose_weights(state, ctx.y, sub, metric, ensemble=ensemble, sample_weight=ctx.sample_weight)
        return set(weights)

    return probe


def weighted_families(families: dict, requested: list[str] | None) -> tuple[dict, list[str]]:
    """The families that honour ``sample_weight``, and the names of those left out (with a ``SearchWarning``)."""
    from forgeml.models import split_by_sample_weight

    kept, skipped = split_by_sample_weight(families)
    if not kept:
        raise ConfigError(f"none of the families {requested or list(families)} can use sample_weight; add one that "
                          "can (e.g. 'lightgbm' or 'linear'), or fit without sample_weight")
    if skipped:
        warnings.warn(f"{skipped_note(skipped)}; they would ignore the weights", SearchWarning, stacklevel=4)
    return kept, skipped


def skipped_note(skipped: list[str]) -> str:
    return f"not searched: {', '.join(skipped)} (cannot use sample_weight)"


def with_skipped_families(frame: pd.DataFrame, skipped: list[str], metric: Metric) -> pd.DataFrame:
    """The leaderboard with one row per family left out of a weighted run, at the bottom, unscored."""
    if not skipped:
        return frame
    rows = pd.DataFrame([{"trial_id": pd.NA, "pipeline": f"{name}: not searched (cannot use sample_weight)",
                          "family": name, f"cv_{metric.name}": float("nan"), "fidelity": float("nan"),
                          "fit_time": float("nan"), "predict_s_per_1k": float("nan"), "ensemble_weight": 0.0}
                         for name in skipped], columns=frame.columns)
    out = pd.concat([frame.astype({"trial_id": "Int64"}), rows.astype({"trial_id": "Int64"})], ignore_index=True)
    out.attrs["not_searched"] = {name: "cannot use sample_weight" for name in skipped}
    return out


def search_summary(searcher, state: SearchState) -> str:
    """One line on how far the search got (grid coverage when the strategy reports it)."""
    parts = [f"{len(state.completed(False))} of {len(state.results)} trials completed"]
    coverage = getattr(searcher, "coverage", None)
    if callable(coverage):
        parts.append(f"grid: {coverage()}")
    return "; ".join(parts)


def _finalize(est, state: SearchState, ctx: EvalContext, executor, store, run_id, budget, metric, loop,
              fallback=None):
    if not state.completed(full_fidelity=False):
        broken = any(r.status in (TrialStatus.FAILED, TrialStatus.CRASHED) for r in state.results.values())
        out_of_time = est.time_budget is not None and est.per_trial_timeout is None and not broken
        if fallback is not None and out_of_time:  # the budget is too short for this machine now
            executor.shutdown()
            return _fallback(est, fallback, ctx, store, run_id)
        common = loop.errors.most_common(1)
        why = f" Most common error: {common[0][0]} ({common[0][1]}×)." if common else ""
        raise NoModelFittedError(
            f"no trial completed within the budget ({len(state.results)} tried).{why} Give a larger time_budget, "
            "or look at the errors with .trials() / `forgeml trials DIR`.")
    executor.shutdown()  # free every core for the refits
    mask = ctx.oof_mask()
    # what the refits may take: the time left, less a margin for choosing the weights and saving the model
    refit_budget = max(budget.remaining() - 1.0, 0.0)
    weights, ens_score = choose_weights(state, ctx.y, mask, metric, ensemble=est.ensemble,
                                        refit_budget=refit_budget, n_folds=len(ctx.folds),
                                        sample_weight=ctx.sample_weight)
    if not weights:  # only low-fidelity trials finished (PBT, halving on a short budget): take the best of them
        best = state.best()
        weights, ens_score = {best.trial_id: 1.0}, best.score
    cores = os.cpu_count() or 1
    models = refit_members(weights, state, ctx, store, run_id, budget, seed=est.seed, n_threads=cores,
                           n_folds=len(ctx.folds))
    if not models:
        raise NoModelFittedError("no pipeline could be refit on all rows; see .trials() for the errors")
    if set(models) != set(weights):
        # a refit failed or ran over: weigh again among the refit members, so the score still describes the model
        again, score = choose_weights(state, ctx.y, mask, metric, ensemble=est.ensemble,
                                      only=set(models), sample_weight=ctx.sample_weight)
        if again:
            weights, ens_score = again, score
        else:  # the refit members have no out-of-fold predictions: keep their weights, unscored
            weights, ens_score = {k: w for k, w in weights.items() if k in models}, None
    total = sum(weights.values())
    order = sorted(weights, key=lambda k: -weights[k])
    pipeline = FittedPipeline(ctx.schema, [models[k] for k in order], [weights[k] / total for k in order],
                              [describe(state.proposals[k].config) for k in order])
    return pipeline, {k: weights[k] / total for k in order}, ens_score, None


def _cheapest(warm: list[Config], families: dict) -> Config | None:
    """The warm-start configuration of the cheapest family (by its declared relative cost), first of those."""
    if not warm:
        return None
    return min(enumerate(warm), key=lambda iw: (families[iw[1]["family"]].capabilities.cost, iw[0]))[1]


def _fallback(est, config, ctx: EvalContext, store, run_id):
    """The cheapest default fit on all rows, unvalidated: what a budget too short for any trial still returns.

    A trial that failed means something is wrong with the data or a family, and the run says so instead; a
    budget in which every trial merely ran out of time still keeps its promise of a fitted model.
    """
    from forgeml.orchestrate.final import refit_in_process

    warnings.warn(f"no trial finished within the {est.time_budget:g} s budget; returning the cheapest default pipeline "
                  f"({describe(config)}) fit on all rows without validation. Give a larger time_budget for a "
                  "searched, cross-validated model.", SearchWarning, stacklevel=4)
    spec = TrialSpec(trial_id=store.next_trial_id(run_id), config=dict(config), seed=est.seed, kind="refit",
                     extra={"fallback": True})
    store.add_trial(run_id, spec)
    try:
        pipe, fit_time = refit_in_process(config, ctx, est.seed, os.cpu_count() or 1)
    except Exception as exc:
        store.finish_trial(run_id, TrialResult.failure(spec, TrialStatus.FAILED, ErrorInfo.from_exception(exc), 0.0))
        raise NoModelFittedError(f"no trial finished within the budget, and the fallback pipeline failed: "
                                 f"{type(exc).__name__}: {exc}"[:400] + "; give a larger time_budget") from exc
    store.finish_trial(run_id, TrialResult(trial_id=spec.trial_id, status=TrialStatus.COMPLETE, fit_time=fit_time,
                                           duration=fit_time, extra={"fallback": True}))
    row = {"trial_id": spec.trial_id, "family": config["family"], "fit_time": fit_time}
    return FittedPipeline(ctx.schema, [pipe], [1.0], [describe(config)]), {}, None, row


def build_leaderboard(state: SearchState, weights: dict[int, float], ens_score: float | None,
                      metric: Metric) -> pd.DataFrame:
    rows = []
    for r in state.completed(full_fidelity=False):
        cfg = state.proposals[r.trial_id].config
        rows.append({"trial_id": r.trial_id, "pipeline": describe(cfg), "family": cfg["family"],
                     "score": r.score, "fidelity": r.fidelity, "fit_time": r.fit_time,
                     "predict_time": r.extra.get("predict_s_per_1k_rows", r.predict_time),
                     "ensemble_weight": weights.get(r.trial_id, 0.0)})
    frame = pd.DataFrame(rows, columns=["trial_id", "pipeline", "family", "score", "fidelity", "fit_time",
                                        "predict_time", "ensemble_weight"])
    if len(weights) > 1 and ens_score is not None:
        members = frame[frame["trial_id"].isin(list(weights))]
        ens = {"trial_id": -1, "pipeline": "ensemble(" + ", ".join(
            f"{weights[t]:.2f}×#{t}" for t in weights) + ")", "family": "ensemble", "score": ens_score,
            "fidelity": 1.0, "fit_time": members["fit_time"].sum(), "predict_time": members["predict_time"].sum(),
            "ensemble_weight": 1.0}
        frame = pd.concat([pd.DataFrame([ens]), frame], ignore_index=True)
    frame = frame.sort_values(["fidelity", "score", "trial_id"],
                              ascending=[False, not metric.greater_is_better, True], kind="stable")
    frame = frame.rename(columns={"score": f"cv_{metric.name}", "predict_time": "predict_s_per_1k"})
    return frame.reset_index(drop=True)
