"""Evaluate one configuration: cross-validate it, keeping out-of-fold predictions (and, when asked, the fold
models: ``spec.extra["keep_folds"]``).

``run_trial(spec, context)`` is the function executors run in worker processes. It is the only place where
model code runs, and it never raises: every exception becomes a ``FAILED`` ``TrialResult``. Final refits on all
rows (``kind="refit"``) run here too, through ``evaluate/refit.py``.
"""
from __future__ import annotations

import os
import pickle
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from forgeml._io import atomic_write
from forgeml.data.schema import Schema
from forgeml.metrics import get_metric
from forgeml.pipeline.builder import fit_pipeline
from forgeml.pipeline.fitted import predict_matrix
from forgeml.space import Config
from forgeml.trial import ErrorInfo, TrialResult, TrialSpec, TrialStatus


@dataclass
class EvalContext:
    """Everything a worker needs, shipped to it once: data, folds, schema, metric and where to write."""

    X: pd.DataFrame
    y: np.ndarray  # integer-coded 0..k-1 for classification, float for regression
    folds: list[tuple[np.ndarray, np.ndarray]]
    schema_json: str
    metric: str
    run_dir: str
    plugins: Any = None  # a forgeml.registry.Portable of the run's metric and families (see shipped_plugins)
    # row weights (non-negative, aligned with y) or None: fold fits get their training rows' weights, fold and
    # out-of-fold scores their validation rows', the ensemble and the final refit all of them
    sample_weight: np.ndarray | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def schema(self) -> Schema:
        if "schema" not in self._cache:
            self._cache["schema"] = Schema.from_json(self.schema_json)
        return self._cache["schema"]

    @property
    def n_classes(self) -> int:
        return len(self.schema.classes) if self.schema.task != "regression" else 0

    def oof_mask(self) -> np.ndarray:
        """Rows that receive an out-of-fold prediction (all rows for k-fold, the holdout rows otherwise)."""
        mask = np.zeros(len(self.y), dtype=bool)
        for _, valid in self.folds:
            mask[valid] = True
        return mask

    def weights(self, rows: np.ndarray) -> np.ndarray | None:
        """The weights of ``rows`` (indices or a boolean mask), or None for an unweighted run."""
        return None if self.sample_weight is None else self.sample_weight[rows]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state


def finish_margin(timeout: float, kind: str = "cv") -> float:
    """Seconds before a trial's time limit at which its models stop training (families that honour
    ``FitContext.deadline``), so that the trial can still predict, score and save what it trained instead of
    being stopped with nothing (it is then marked ``extra["deadline_hit"]``). A cross-validation trial keeps a
    fifth of its limit (1 to 20 s): predicting its validation rows does not shrink with the share of rows it
    trains on (on 750,000 rows, a tenth was too little for XGBoost); a refit only saves, and keeps a tenth (1 to
    10 s)."""
    if kind == "refit":
        return min(max(0.1 * timeout, 1.0), 10.0)
    return min(max(0.2 * timeout, 1.0), 20.0)


def fit_context(ctx: EvalContext, n_rows: int, spec: TrialSpec):
    from forgeml.models.base import FitContext

    deadline = spec.extra.get("fit_deadline")  # set by run_trial from when the trial started
    if deadline is None and spec.timeout:
        deadline = time.time() + spec.timeout
    return FitContext(task=ctx.schema.task, n_rows=n_rows, n_features=len(ctx.schema.modelled),
                      n_classes=ctx.n_classes, seed=spec.seed, n_threads=spec.n_threads, deadline=deadline)


def build(config: Config, ctx: EvalContext, n_rows: int, spec: TrialSpec):
    from forgeml.models import get_families
    from forgeml.pipeline.builder import build_pipeline

    fctx = fit_context(ctx, n_rows, spec)
    families = _shipped(ctx, "families") or get_families([config["family"]], fctx, check_applies=False)
    return build_pipeline(config, ctx.schema, families, fctx)


def sample_rows(train: np.ndarray, y: np.ndarray, fidelity: float, seed: int, classification: bool) -> np.ndarray:
    if fidelity >= 0.999:
        return train
    n = max(int(round(len(train) * fidelity)), 20)
    if n >= len(train):
        return train
    rng = np.random.default_rng(seed)
    if not classification:
        return np.sort(rng.choice(train, n, replace=False))
    # keep at least one row of every class present so the model sees all classes
    picked = [rng.choice(train[y[train] == c], 1) for c in np.unique(y[train])]
    rest = rng.choice(train, n, replace=False)
    return np.unique(np.concatenate(picked + [rest]))


PREDICT_SLICE_CELLS = 2_000_000  # validation rows are predicted in slices of about this many input cells
_MIN_SLICE_ROWS = 1024


def predict_rows(pipe: Any, X: pd.DataFrame, rows: np.ndarray, n_classes: int) -> np.ndarray:
    """``predict_matrix`` of ``X.iloc[rows]``, a slice of rows at a time on large folds.

    On a large table the validation fold is large at every fidelity, and a pipeline's transformed copy of all of
    it at once (float64, one-hot columns, then the model's own input copy) was a trial's largest allocation:
    300 MB of an MLP trial on 150,000 rows. Every model predicts each row on its own, so the slices join into
    the same predictions."""
    step = max(_MIN_SLICE_ROWS, PREDICT_SLICE_CELLS // max(X.shape[1], 1))
    if len(rows) <= step:
        return predict_matrix(pipe, X.iloc[rows], n_classes)
    return np.concatenate([predict_matrix(pipe, X.iloc[rows[i:i + step]], n_classes)
                           for i in range(0, len(rows), step)])


def iterative_family(config: Config, ctx: EvalContext, spec: TrialSpec) -> tuple[Any, str | None]:
    """The family of ``config`` and the joint-config key of its iterative parameter (None if it has none)."""
    from forgeml.models import get_families

    name = config["family"]
    family = (_shipped(ctx, "families") or get_families([name], fit_context(ctx, len(ctx.y), spec),
                                                        check_applies=False))[name]
    param = family.capabilities.iterative_param
    return family, (f"{name}.{param}" if param else None)


def continue_pipeline(before: Any, config: Config, more: int, family: Any, fctx: Any, X: pd.DataFrame,
                      y: np.ndarray, sample_weight: np.ndarray | None = None) -> Any | None:
    """``before`` (a fitted ``ForgePipeline(prep, ..., model)``) trained ``more`` further iterations with
    ``config``'s settings, on the rows it was fitted on; its preprocessing is kept as fitted. ``None`` when the
    family cannot continue this model."""
    from forgeml.pipeline.builder import split_config
    from forgeml.pipeline.pipe import ForgePipeline

    hp, _ = split_config(config, config["family"])
    hp[family.capabilities.iterative_param] = int(more)
    model = family.continue_from(before.named_steps["model"], hp, fctx)
    if model is None:
        return None
    keep = before.kept_rows(X, y) if hasattr(before, "kept_rows") else None
    if keep is not None:  # the rows its steps were fitted on (missing_rows="drop")
        X, y = X[keep], np.asarray(y)[keep]
        sample_weight = None if sample_weight is None else np.asarray(sample_weight)[keep]
    prep = before[:-1]
    Xt = prep.transform(X)
    yt = before.transform_target(y) if hasattr(before, "transform_target") else y  # the scale it learned on
    if sample_weight is None:
        model.fit(Xt, yt)
    else:
        model.fit(Xt, yt, sample_weight=sample_weight)
    out = ForgePipeline([*prep.steps, ("model", model)], missing_rows=getattr(before, "missing_rows", "impute"),
                        target_transform=getattr(before, "target_transform", "none"))
    out.target_ = getattr(before, "target_", None)
    return out


class _Iterations:
    """Fidelity as a share of the family's rounds or epochs (``fidelity_unit="iterations"``, used by PBT).

    The trial trains ``target = fidelity x config[iterative_param]`` iterations on all training rows of each fold.
    With a ``parent_id`` whose trained state is on disk (``run_dir/state/<run>/``), each fold continues the
    parent's fitted pipeline (its preprocessing as fitted, its model through ``ModelFamily.continue_from``) for
    the iterations that are missing; otherwise it trains afresh. A state is only continued when it was made
    for the same family and preprocessing on the same folds (a fingerprint of each fold's training rows), so a
    resumed run with other folds, or a stale file, never leaks validation rows into a model. A trial below
    full fidelity then saves its own per-fold pipelines so that later trials can continue from it (nothing
    continues from a full-fidelity trial).
    """

    def __init__(self, spec: TrialSpec, ctx: EvalContext, config: Config) -> None:
        self.spec, self.ctx, self.config = spec, ctx, config
        family = config["family"]
        self.family, self.key = iterative_family(config, ctx, spec)
        total = int(config[self.key]) if self.key in config else 0
        self.target = max(1, int(round(spec.fidelity * total))) if self.key else 0
        self.total = total
        self.fingerprint = {"family": family, "prep": _prep_of(config), "folds": _folds_digest(ctx)}
        self.parent = self._load(spec.parent_id) if self.key else None
        self.pipes: list[Any] = []
        self.continued = 0
        self.trained = 0  # iterations trained by this trial, summed over folds
        self.reached = self.target  # iterations the fold models have (more than target when a parent had more)

    def _path(self, trial_id: int) -> str:
        run = str(self.spec.extra.get("state_key", "run"))
        return os.path.join(self.ctx.run_dir, "state", run, f"trial_{trial_id}.pkl")

    def _load(self, trial_id: int | None) -> dict[str, Any] | None:
        if trial_id is None or not os.path.exists(self._path(trial_id)):
            return None  # e.g. a worker on another machine: train afresh
        try:
            with open(self._path(trial_id), "rb") as f:
                state = pickle.load(f)
        except Exception:  # a truncated or unreadable file: train afresh
            return None
        ok = state.get("fingerprint") == self.fingerprint and len(state.get("pipes", ())) == len(self.ctx.folds)
        return state if ok else None

    def fit(self, i: int, train: np.ndarray) -> Any:
        X, y, w = self.ctx.X.iloc[train], self.ctx.y[train], self.ctx.weights(train)
        if self.key is None:  # not an iterative family: fidelity means nothing here
            pipe = build(self.config, self.ctx, len(train), self.spec)
            fit_pipeline(pipe, X, y, w)
            return self._keep(pipe)
        if self.parent is not None and i < len(self.parent["pipes"]):
            before = self.parent["pipes"][i]
            more = self.target - int(self.parent["iterations"])
            if more <= 0:  # the parent already trained this far (PBT's explore lowered the total)
                self.continued += 1
                self.reached = max(self.reached, int(self.parent["iterations"]))
                return self._keep(before)
            pipe = continue_pipeline(before, self.config, more, self.family,
                                     fit_context(self.ctx, len(train), self.spec), X, y, w)
            if pipe is not None:
                self.continued += 1
                self.trained += more
                return self._keep(pipe)
        pipe = build(Config({**self.config, self.key: self.target}), self.ctx, len(train), self.spec)
        fit_pipeline(pipe, X, y, w)
        self.trained += self.target
        return self._keep(pipe)

    def _keep(self, pipe: Any) -> Any:
        self.pipes.append(pipe)
        return pipe

    def save(self) -> dict[str, Any]:
        if self.key is not None and self.spec.fidelity < 0.999:
            path = self._path(self.spec.trial_id)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            state = {"fingerprint": self.fingerprint, "iterations": self.reached, "pipes": self.pipes}
            atomic_write(path, lambda f: pickle.dump(state, f, pickle.HIGHEST_PROTOCOL))
        # the share of a full fit this trial paid for, so the orchestrator can estimate a full fit's cost
        share = self.trained / max(len(self.pipes) * self.total, 1) if self.key else 1.0
        return {"iterations": self.reached, "continued_folds": self.continued, "trained_share": share,
                "continued_from": self.spec.parent_id if self.continued else None}


def _prep_of(config: Config) -> dict[str, Any]:
    from forgeml.pipeline.builder import split_config

    return split_config(config, config["family"])[1]


def _folds_digest(ctx: EvalContext) -> str:
    """A fingerprint of every fold's training rows (a continued model must have seen exactly these)."""
    if "folds_digest" not in ctx._cache:
        import hashlib

        h = hashlib.sha1()
        for train, _ in ctx.folds:
            h.update(np.asarray(train, dtype=np.int64).tobytes())
            h.update(b"|")
        h.update(str(len(ctx.y)).encode())
        if ctx.sample_weight is not None:  # a model trained with other weights is another model
            h.update(np.asarray(ctx.sample_weight, dtype=np.float64).tobytes())
        ctx._cache["folds_digest"] = h.hexdigest()
    return ctx._cache["folds_digest"]


def _cv(spec: TrialSpec, ctx: EvalContext) -> TrialResult:
    config = Config(spec.config)
    metric = _shipped(ctx, "metric") or get_metric(ctx.metric, ctx.schema.task)
    k = ctx.n_classes
    oof = np.full((len(ctx.y), k) if k else len(ctx.y), np.nan)
    fit_time = predict_time = 0.0
    fold_scores = []
    keep = bool(spec.extra.get("keep_folds"))  # the loop asks for them (at any fidelity: see LoopOptions)
    pipes: list[Any] = []  # the fold models, held only when they are kept (they can be large)
    iterations = _Iterations(spec, ctx, config) if spec.extra.get("fidelity_unit") == "iterations" else None
    stop, hit = spec.extra.get("fit_deadline"), False
    for i, (train, valid) in enumerate(ctx.folds):
        t0 = time.perf_counter()
        if iterations is not None:
            pipe = iterations.fit(i, train)
        else:
            fold = spec
            if stop is not None:  # each fold gets its share of the time left, so none is starved
                now = time.time()
                fold = replace(spec, extra={**spec.extra, "fit_deadline": now + (stop - now) / (len(ctx.folds) - i)})
            train = sample_rows(train, ctx.y, spec.fidelity, spec.seed + i, k > 0)
            pipe = build(config, ctx, len(train), fold)
            fit_pipeline(pipe, ctx.X.iloc[train], ctx.y[train], ctx.weights(train))
            hit = hit or (stop is not None and time.time() >= fold.extra["fit_deadline"])
        if keep:
            pipes.append(pipe)
        t1 = time.perf_counter()
        pred = predict_rows(pipe, ctx.X, valid, k)
        t2 = time.perf_counter()
        fit_time += t1 - t0
        predict_time += t2 - t1
        oof[valid] = pred
        fold_scores.append(metric.score(ctx.y[valid], pred, sample_weight=ctx.weights(valid)))
    mask = ctx.oof_mask()
    if not np.all(np.isfinite(oof[mask])):
        raise ValueError("the model produced NaN or infinite predictions")
    score = metric.score(ctx.y[mask], oof[mask], sample_weight=ctx.weights(mask))
    if not np.isfinite(score):
        raise ValueError(f"{metric.name} is not finite ({score})")
    oof_path = None
    if spec.fidelity >= 0.999:
        os.makedirs(os.path.join(ctx.run_dir, "oof"), exist_ok=True)
        oof_path = os.path.join(ctx.run_dir, "oof", f"trial_{spec.trial_id}.npy")
        atomic_write(oof_path, lambda f: np.save(f, oof.astype(np.float32)))
    n_pred = int(mask.sum())
    extra = iterations.save() if iterations is not None else {}
    if hit:  # a model was stopped by its deadline: the fold models are what was validated, not the config
        extra["deadline_hit"] = True
    if keep:
        extra["folds_path"] = _save_folds(pipes, ctx.run_dir, spec.trial_id)
    return TrialResult(
        trial_id=spec.trial_id, status=TrialStatus.COMPLETE, score=score, loss=metric.loss(score),
        fold_scores=tuple(float(s) for s in fold_scores), fit_time=fit_time, predict_time=predict_time,
        fidelity=spec.fidelity, oof_path=oof_path,
        extra={"predict_s_per_1k_rows": predict_time / max(n_pred, 1) * 1000, "n_folds": len(ctx.folds), **extra},
    )


def folds_path(run_dir: str, trial_id: int) -> str:
    """Where a trial's fold pipelines are pickled (a list, in fold order) when it keeps them."""
    return os.path.join(run_dir, "folds", f"trial_{trial_id}.pkl")


def _save_folds(pipes: list[Any], run_dir: str, trial_id: int) -> str:
    path = folds_path(run_dir, trial_id)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, lambda f: pickle.dump(pipes, f, pickle.HIGHEST_PROTOCOL))
    return path


# -- plug-ins: the run's metric and family objects travel with the context, so a user's metric or family, or one
# registered only in the parent, exists in worker processes too (by reference: see forgeml.registry.Portable)
def shipped_plugins(metric: Any, families: dict[str, Any]) -> Any:
    """What ``EvalContext.plugins`` holds for a run with this metric and these families."""
    from forgeml.registry import Portable

    return Portable({"metric": metric, "families": dict(families)})


def _shipped(ctx: EvalContext, key: str) -> Any:
    return ctx.plugins.load().get(key) if ctx.plugins is not None else None


def run_trial(spec: TrialSpec, ctx: EvalContext) -> TrialResult:
    """Cross-validate one trial (``kind="cv"``) or refit a member on all rows (``kind="refit"``, see
    ``evaluate.refit.run_refit``); never raises. Any other kind is a failed trial."""
    t0 = time.time()
    # training stops in time to finish the trial (the folds share it: ``_cv``); not for trials continued in
    # rounds (PBT), whose saved states must hold the rounds they claim
    if spec.timeout and spec.extra.get("fidelity_unit") != "iterations":
        stop = t0 + spec.timeout - finish_margin(spec.timeout, spec.kind)
        spec = replace(spec, extra={**spec.extra, "fit_deadline": stop})
    try:
        if spec.kind not in ("cv", "refit"):
            raise ValueError(f"run_trial runs trials of kind 'cv' or 'refit', not {spec.kind!r}")
        with warnings.catch_warnings():  # library chatter (convergence, deprecations) is not the user's concern
            warnings.simplefilter("ignore")
            if spec.kind == "refit":
                from forgeml.evaluate.refit import run_refit  # refit.py builds on this module

                result = run_refit(spec, ctx)
            else:
                result = _cv(spec, ctx)
    except MemoryError as exc:
        return TrialResult.failure(spec, TrialStatus.CRASHED, ErrorInfo.from_exception(exc), time.time() - t0)
    except Exception as exc:  # a failed trial is a result, not a crash of the run
        return TrialResult.failure(spec, TrialStatus.FAILED, ErrorInfo.from_exception(exc), time.time() - t0)
    return _with_duration(result, time.time() - t0)


def _with_duration(result: TrialResult, duration: float) -> TrialResult:
    return replace(result, duration=duration)  # the executor names the worker
