"""Predict cost: estimated from the trials' cross-validation, measured on a 10,000-row batch for ``infer_limit``.

``AutoML(infer_limit=S)`` promises that the returned model predicts a batch of ``BATCH_ROWS`` rows in at most
``S`` seconds per row. Before the refits, candidates are screened with the per-row predict time each member
showed on its validation folds (the ensemble's is the sum over its members; a bagged member predicts with every
fold model, so it counts once per fold). After the refits the kept model is timed on a batch of training rows
(sampled with replacement when there are fewer). When it is over the limit, every fitted member is timed once on
the batch (its predictions kept). The kept ensemble, when it is a weighted sum, is then pruned to the limit
(``ensemble.prune.prune_to_cost``: members dropped by least loss per second saved on the out-of-fold rows, as
AutoGluon prunes its weighted ensemble for its ``infer_limit``); it is kept when it fits, scored on those rows.
Otherwise each other candidate whose members are fitted is costed as the sum of its members' seconds plus its
combiner's on those predictions; the best-scoring one within the limit is kept, else the fastest single
pipeline, with a warning. Timing stops when the budget runs out: what was measured decides.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from forgeml.ensemble.base import Ensemble
from forgeml.ensemble.select import SINGLE, eligible
from forgeml.orchestrate.final import Choice

BATCH_ROWS = 10_000


def estimated_s_per_row(members: Iterable[int], per_1k: Mapping[int, float], folds: Mapping[int, int] | None = None
                        ) -> float:
    """Seconds per row an ensemble of ``members`` should take, from each member's CV predict seconds per 1,000 rows
    (times its number of fold models when it is bagged)."""
    folds = folds or {}
    return sum(float(per_1k.get(m, 0.0)) * folds.get(m, 1) for m in members) / 1000.0


def batch(X: pd.DataFrame, rows: int = BATCH_ROWS, seed: int = 0) -> pd.DataFrame:
    """``rows`` rows of ``X`` to time predictions on, as a caller sends them (``as_sent``: categoricals as strings,
    not the training frame's codes); sampled with replacement when ``X`` has fewer."""
    from forgeml.data.validate import as_sent

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), rows, replace=len(X) < rows)
    return as_sent(X.iloc[idx].reset_index(drop=True))


def measured_s_per_row(pipeline: Any, rows: pd.DataFrame) -> float:
    """Seconds per row ``pipeline`` takes to predict ``rows`` (probabilities for a classifier), after a warm-up
    on a few rows so one-off costs (lazy imports, caches) are not counted."""
    predict = pipeline.predict if pipeline.task == "regression" else pipeline.predict_proba
    predict(rows.iloc[:min(len(rows), 16)])
    t0 = time.perf_counter()
    predict(rows)
    return (time.perf_counter() - t0) / max(len(rows), 1)


def within_estimate(choice: Choice, state: Any, limit: float, metric: Any, folds: int = 1) -> Choice:
    """The best candidate whose estimated predict time per row is within ``limit`` (the kept one when none is);
    ``folds`` is the number of models per member when members are their fold models."""
    per_1k = {k: float(r.extra.get("predict_s_per_1k_rows", 0.0)) for k, r in state.results.items()}
    n = {k: folds for k in per_1k}
    if estimated_s_per_row(choice.members, per_1k, n) <= limit:
        return choice
    for c in eligible(choice.candidates, metric):
        if estimated_s_per_row(c.ensemble.members, per_1k, n) <= limit:
            return Choice(c.ensemble, c.name, c.nested_score, choice.candidates, choice.warning, choice.methods)
    return choice


def hold_infer_limit(pipeline: Any, choice: Choice, models: dict[int, Any], ctx: Any, state: Any, limit: float,
                     metric: Any, budget: Any, seed: int, build: Callable[..., Any]) -> tuple[Any, Choice, float]:
    """``(pipeline, choice, seconds per row)`` within ``limit`` if any candidate is (see the module docstring).

    ``build(choice, models, ctx, state)`` makes the pipeline of a choice."""
    from forgeml.pipeline.fitted import predict_matrix

    rows = batch(ctx.X, seed=seed)
    took = measured_s_per_row(pipeline, rows)
    if took <= limit:
        return pipeline, choice, took
    aligned_s, X = _timed(lambda: pipeline._align(rows))
    aligned_s /= len(rows)
    k = ctx.n_classes
    member_s: dict[int, float] = {}
    preds: dict[int, np.ndarray] = {}
    for tid in sorted(models, key=lambda t: state.results[t].loss):
        if budget.remaining() < 1.0:
            break
        member_s[tid], preds[tid] = _timed(lambda m=models[tid]: predict_matrix(m, X, k))
    best = _pruned(choice, member_s, preds, X, ctx, state, limit, aligned_s, metric)
    if best is None:
        best = _other_candidate(choice, member_s, preds, X, limit, aligned_s, metric, budget)
    if best is None:
        singles = {t: aligned_s + s / len(rows) for t, s in member_s.items()} or {
            t: took for t in models}  # nothing could be timed: any member
        within = [t for t in singles if singles[t] <= limit]
        if within:
            tid = min(within, key=lambda t: (state.results[t].loss, t))
            warning = choice.warning
        else:
            tid = min(singles, key=lambda t: (singles[t], t))
            warning = (f"no pipeline predicts within infer_limit={limit:g} s per row (the fastest took "
                       f"{singles[tid]:.3g} s per row on {len(rows)} rows); returning the fastest, trial {tid}")
        res = state.results[tid]
        best = (singles[tid], Choice(Ensemble({tid: 1.0}, res.score), SINGLE, res.score, choice.candidates,
                                     warning, choice.methods))
    cost, kept = best
    return build(kept, models, ctx, state), kept, cost


def _other_candidate(choice: Choice, member_s: Mapping[int, float], preds: Mapping[int, np.ndarray],
                     X: pd.DataFrame, limit: float, aligned_s: float, metric: Any, budget: Any
                     ) -> tuple[float, Choice] | None:
    """``(seconds per row, choice)`` of the best other candidate whose members were all timed and that fits."""
    for c in eligible(choice.candidates, metric):
        need = c.ensemble.members
        if c.name == choice.method or not need <= set(preds) or budget.remaining() < 1.0:
            continue
        comb_s = _timed(lambda e=c.ensemble, n=need: e.combine({t: preds[t] for t in n}, X))[0]
        cost = aligned_s + (sum(member_s[t] for t in need) + comb_s) / len(X)
        if cost <= limit:
            return cost, Choice(c.ensemble, c.name, c.nested_score, choice.candidates, choice.warning,
                                choice.methods)
    return None


def _pruned(choice: Choice, member_s: Mapping[int, float], preds: Mapping[int, np.ndarray], X: pd.DataFrame,
            ctx: Any, state: Any, limit: float, aligned_s: float, metric: Any) -> tuple[float, Choice] | None:
    """``(seconds per row, choice)`` of the kept weighted-sum ensemble pruned to ``limit`` seconds per row
    (``aligned_s`` of them go to aligning the rows); None when it is not a weighted sum, a member was not timed,
    or no pruning fits."""
    from forgeml.ensemble.prune import prune_to_cost
    from forgeml.orchestrate.final import load_oof

    ens = choice.ensemble
    if ens is None or ens.combiner is not None or len(ens.members) < 2 or not ens.members <= set(member_s):
        return None
    mask = ctx.oof_mask()
    oof = load_oof([state.results[t] for t in ens.members], mask)
    if set(oof) != ens.members:
        return None
    rows = len(X)
    w = None if ctx.sample_weight is None else np.asarray(ctx.sample_weight, dtype=float)[mask]
    cost = {t: member_s[t] / rows for t in ens.members}
    kept = prune_to_cost(ens, oof, np.asarray(ctx.y)[mask], metric, cost, limit - aligned_s, sample_weight=w)
    if kept is None or kept is ens:
        return None
    comb_s = _timed(lambda: kept.combine({t: preds[t] for t in kept.members}, X))[0]
    took = aligned_s + (sum(member_s[t] for t in kept.members) + comb_s) / rows
    if took > limit:
        return None
    method = SINGLE if len(kept.members) == 1 else f"{choice.method}, pruned to infer_limit"
    return took, Choice(kept, method, float(kept.score), choice.candidates, choice.warning, choice.methods)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out
