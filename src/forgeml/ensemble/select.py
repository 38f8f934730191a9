"""Choosing the ensemble method by evidence none of the candidates was fitted on.

An ensembler's own score is measured on the rows it chose its weights (or fitted its meta-learner) on, so
comparing those scores favours whichever method fits those rows hardest: a stacker would win every time. Here
each candidate is *cross-fitted* over the out-of-fold rows instead: for each of ``n_folds`` folds of those rows it
is fitted on the other folds and predicts the held-out one; the predictions so gathered are scored with the run's
metric. That nested score is what ranks the candidates, and what the leaderboard reports. The winner is then fitted
once more on all the rows it may use.

``"single"`` is a candidate too: the best member by its own score on each fold's training rows. It is what
``ensemble=None`` returns. ``p_better`` is the share of ``N_BOOT`` bootstrap resamples of the nested rows on which
an ensemble scores better than ``single`` (paired: the same resample for both).

What ``ensemble="auto"`` takes (``best``): the better, by nested score, of the two convex combinations of the
members (``CONVEX``: greedy selection and the Super Learner). The single best is one of their vertices, so they
decline to ensemble by themselves when one member dominates, and a weight fitted on the out-of-fold rows has less
to gain from the search's own luck than the single best has: that member was picked as the best of every trial on
those very rows, and its out-of-fold score (nested or not) is biased up by the pick. Measured over three splits of
each dataset (docs/benchmarks.md), the convex combinations beat the single best on test rows far more often than
the nested scores said, and a gate that asked an ensemble to beat the single best on the nested rows kept the
single best where it then lost. The other methods (voting, blending, stacking) replace the convex choice only when
their nested score is better than its score *and* they beat ``single`` on at least ``CONFIDENCE`` of the
resamples. A tie with ``single`` goes to ``single``. When neither convex method could be evaluated, an ensemble is
taken only under that gate, else ``single``.

The comparison has a time limit: candidates are tried cheapest first; one that would start after the limit, or
whose first nested fold shows it cannot finish in time (its remaining folds and its final fit, projected from
that fold's seconds and the row counts), is listed as not evaluated and never chosen. The nested fits use at
most ``max_rows`` rows (a seeded sample, stratified by class for classification); the final fits at most
``fit_rows``. With too few rows to hold any out, only ``single`` is evaluated.

With ``prune_costs`` (each member's predict seconds), every weighted-sum ensemble a candidate fits is pruned of
the members it can spare (``ensemble/prune.py``), in each nested fold as in the final fit: the nested score is
the pruned ensemble's own, so the comparison weighs what pruning gives up.
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forgeml.ensemble.base import Ensemble, Ensembler, member_loss
from forgeml.ensemble.prune import SLACK, prune
from forgeml.metrics import Metric

SINGLE = "single"
CONFIDENCE = 0.8  # a method other than CONVEX must beat the single best on this share of resamples to be chosen
#: ``auto``'s default choice, whichever scores better on the nested rows (see the module docstring)
CONVEX = ("greedy", "super_learner")
N_BOOT = 200
# cheapest (and simplest) first: it is the order they are tried in, and the order that breaks a tie
ORDER = (SINGLE, "voting", "greedy", "super_learner", "blending", "stacking")


@dataclass
class Candidate:
    """One ensemble method's evidence: its nested out-of-fold score, and its fit on all rows."""

    name: str
    nested_score: float = float("nan")
    ensemble: Ensemble | None = None
    seconds: float = 0.0
    error: str | None = None
    nested_pred: np.ndarray | None = None  # the cross-fitted predictions behind nested_score
    nested_rows: np.ndarray | None = None  # the positions (in the rows compared) that nested_pred is for
    p_better: float = float("nan")  # share of bootstrap resamples on which it beats ``single`` (module docstring)

    @property
    def ok(self) -> bool:
        return self.ensemble is not None and self.error is None and np.isfinite(self.nested_score)


class BestSingle(Ensembler):
    """The best member by its own metric: ``ensemble=None``'s choice, as an ensembler so it can be compared."""

    name = SINGLE

    def fit(self, oof, y, metric, *, seed=0, costs=None, max_cost=None, sample_weight=None) -> Ensemble:
        keys = list(oof)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        losses = [member_loss(metric, y, np.asarray(oof[k], dtype=float), w) for k in keys]
        best = keys[int(np.argmin(losses))]
        return Ensemble(weights={best: 1.0}, score=metric.score(y, np.asarray(oof[best], dtype=float),
                                                                sample_weight=w))


def compare(ensemblers: Mapping[str, Ensembler], oof: Mapping[int, np.ndarray], y: np.ndarray, metric: Metric, *,
            classification: bool, seed: int = 0, costs: Mapping[int, float] | None = None,
            max_cost: float | None = None, sample_weight: np.ndarray | None = None, features: Any = None,
            n_folds: int = 5, max_rows: int = 2000, fit_rows: int = 10_000,
            time_limit: float | None = None, prune_costs: Mapping[int, float] | None = None,
            prune_slack: float = SLACK) -> list[Candidate]:
    """Every candidate's nested score and final fit, in the order tried (see the module docstring).

    ``ensemblers`` maps names to ensemblers (``SINGLE`` is added when missing); ``features`` is the raw input
    frame aligned with ``y``, given to ensemblers whose ``uses_features`` is set; ``prune_costs`` turns pruning
    on, giving up at most ``prune_slack`` of an ensemble's gain (module docstring). A candidate that raises is
    listed with its error and never chosen.
    """
    from threadpoolctl import threadpool_limits

    # small dense problems: BLAS threads only spin-wait for each other (9x slower on 2 busy cores, measured)
    with threadpool_limits(limits=1):
        return _compare(ensemblers, oof, y, metric, classification=classification, seed=seed, costs=costs,
                        max_cost=max_cost, sample_weight=sample_weight, features=features, n_folds=n_folds,
                        max_rows=max_rows, fit_rows=fit_rows, time_limit=time_limit, prune_costs=prune_costs,
                        prune_slack=prune_slack)


def _compare(ensemblers: Mapping[str, Ensembler], oof: Mapping[int, np.ndarray], y: np.ndarray, metric: Metric, *,
             classification: bool, seed: int, costs: Mapping[int, float] | None, max_cost: float | None,
             sample_weight: np.ndarray | None, features: Any, n_folds: int, max_rows: int, fit_rows: int,
             time_limit: float | None, prune_costs: Mapping[int, float] | None = None,
             prune_slack: float = SLACK) -> list[Candidate]:
    start = time.monotonic()
    pool = {SINGLE: BestSingle(), **dict(ensemblers)}
    names = sorted(pool, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    nested_rows = _sample(y, max_rows, classification, rng)
    folds = _folds(y[nested_rows], n_folds, classification, seed)
    all_rows = _sample(y, fit_rows, classification, np.random.default_rng(seed + 1))
    deadline = None if time_limit is None else start + time_limit
    out = []
    for name in names:
        if deadline is not None and out and time.monotonic() > deadline:
            out.append(Candidate(name, error=NO_TIME))
            continue
        if folds is None and name != SINGLE:
            out.append(Candidate(name, error="not evaluated: too few rows to cross-fit"))
            continue
        t0 = time.monotonic()
        cand = Candidate(name)
        try:
            fit_kw = dict(seed=seed, costs=costs, max_cost=max_cost, prune_costs=prune_costs, prune_slack=prune_slack)
            # the first candidate always runs: it is what the run falls back to
            limit = deadline if out else None
            cand.nested_score, cand.nested_pred = _nested(pool[name], oof, y, metric, nested_rows, folds,
                                                          sample_weight, features, fit_kw, deadline=limit,
                                                          final_rows=len(all_rows))
            cand.nested_rows = nested_rows if cand.nested_pred is not None else None
            cand.ensemble = _fit(pool[name], oof, y, metric, all_rows, sample_weight, features, fit_kw)
        except _NoTime:
            cand.error = NO_TIME
        except Exception as exc:  # noqa: BLE001 - a broken candidate is listed, not fatal
            cand.error = f"{type(exc).__name__}: {exc}"[:300]
        cand.seconds = time.monotonic() - t0
        out.append(cand)
    if folds is not None:
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)[nested_rows]
        _p_better(out, y[nested_rows], w, metric, seed)
    return out


def by_score(candidates: Sequence[Candidate], metric: Metric) -> list[Candidate]:
    """The evaluated candidates, best nested score first; on a tie the one tried first (the simpler)."""
    return sorted((c for c in candidates if c.ok), key=lambda c: metric.loss(c.nested_score))


def eligible(candidates: Sequence[Candidate], metric: Metric) -> list[Candidate]:
    """What ``auto`` may choose, best first: ``best``, then by nested score the other convex combinations, the
    methods that beat ``single`` by more than noise (``p_better >= CONFIDENCE``), and ``single`` (the fallbacks
    when the first cannot be used, e.g. too slow for ``infer_limit``)."""
    first = best(candidates, metric)
    rest = [c for c in by_score(candidates, metric) if c is not first
            and (c.name == SINGLE or c.name in CONVEX or not c.p_better < CONFIDENCE)]
    return ([first] if first is not None else []) + rest


def best(candidates: Sequence[Candidate], metric: Metric) -> Candidate | None:
    """``auto``'s choice (module docstring); None when none was evaluated."""
    ranked = by_score(candidates, metric)
    gated = [c for c in ranked if c.name != SINGLE and not c.p_better < CONFIDENCE]
    base = next((c for c in ranked if c.name in CONVEX), None)
    if base is None:
        return next((c for c in ranked if c.name == SINGLE or c in gated), None)
    better = [c for c in gated if c.name not in CONVEX and metric.loss(c.nested_score) < metric.loss(base.nested_score)]
    if better:
        return better[0]
    single = next((c for c in ranked if c.name == SINGLE), None)
    # a tie (e.g. one member, or weights that all went to the single best) goes to the simpler
    return single if single is not None and single.nested_score == base.nested_score else base


def _p_better(cands: list[Candidate], y: np.ndarray, w: np.ndarray | None, metric: Metric, seed: int) -> None:
    """Set ``p_better`` on every evaluated candidate but ``single`` (paired bootstrap over the nested rows)."""
    base = next((c for c in cands if c.name == SINGLE and c.ok and c.nested_pred is not None), None)
    if base is None:
        return
    rng = np.random.default_rng(seed + 7)
    draws = [rng.integers(0, len(y), len(y)) for _ in range(N_BOOT)]

    def losses(pred: np.ndarray) -> np.ndarray:
        out = np.full(N_BOOT, np.nan)
        for b, i in enumerate(draws):
            try:
                out[b] = metric.loss(metric.score(y[i], pred[i], sample_weight=None if w is None else w[i]))
            except ValueError:  # e.g. one class only in a resample: that draw says nothing
                continue
        return out

    ref = losses(base.nested_pred)
    for c in cands:
        if c is not base and c.ok and c.nested_pred is not None:
            mine = losses(c.nested_pred)
            seen = np.isfinite(mine) & np.isfinite(ref)
            c.p_better = float(np.mean(mine[seen] < ref[seen])) if seen.any() else float("nan")


class _NoTime(Exception):
    pass


NO_TIME = "not evaluated: no time left"


def _nested(ensembler: Ensembler, oof, y, metric: Metric, rows: np.ndarray, folds, sample_weight, features,
            fit_kw: dict, deadline: float | None = None, final_rows: int = 0) -> tuple[float, np.ndarray | None]:
    if folds is None:  # too few rows to hold any out: only the best single member's own (out-of-fold) score
        return float(_fit(ensembler, oof, y, metric, rows, sample_weight, features, fit_kw).score), None
    first = np.asarray(next(iter(oof.values())))
    pred = np.zeros((len(rows),) + first.shape[1:])
    for i, (train, valid) in enumerate(folds):
        t0 = time.monotonic()
        ens = _fit(ensembler, oof, y, metric, rows[train], sample_weight, features, fit_kw)
        pred[valid] = _combine(ens, ensembler, oof, rows[valid], features)
        if deadline is not None:  # the folds left and the final fit, at this fold's pace per row
            per_row = (time.monotonic() - t0) / max(len(train), 1)
            left = per_row * ((len(folds) - i - 1) * len(train) + final_rows)
            if time.monotonic() + left > deadline:
                raise _NoTime
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)[rows]
    score = metric.score(y[rows], pred, sample_weight=w)
    if not np.isfinite(score):
        raise ValueError(f"the cross-fitted {metric.name} is not finite")
    return float(score), pred


def _fit(ensembler: Ensembler, oof, y, metric: Metric, rows: np.ndarray, sample_weight, features,
         fit_kw: dict) -> Ensemble:
    kw = dict(fit_kw)
    prune_costs, slack = kw.pop("prune_costs", None), kw.pop("prune_slack", SLACK)
    if sample_weight is not None:
        kw["sample_weight"] = np.asarray(sample_weight, dtype=float)[rows]
    if getattr(ensembler, "uses_features", False):
        kw["features"] = None if features is None else features.iloc[rows]
    part = {k: np.asarray(v)[rows] for k, v in oof.items()}
    ens = ensembler.fit(part, y[rows], metric, **kw)
    if prune_costs is None or not isinstance(ens, Ensemble):
        return ens
    return prune(ens, part, y[rows], metric, prune_costs, slack=slack, sample_weight=kw.get("sample_weight"))


def _combine(ens: Ensemble, ensembler: Ensembler, oof, rows: np.ndarray, features) -> np.ndarray:
    preds = {k: np.asarray(oof[k], dtype=float)[rows] for k in ens.members}
    if ens.combiner is None:
        return ens.combine(preds)
    feats = features.iloc[rows] if (features is not None and getattr(ensembler, "uses_features", False)) else None
    return ens.combine(preds, feats)


def _sample(y: np.ndarray, limit: int, classification: bool, rng: np.random.Generator) -> np.ndarray:
    """At most ``limit`` row indices, sorted; for classification each class keeps its share (at least 2 rows)."""
    n = len(y)
    if n <= limit:
        return np.arange(n)
    if not classification:
        return np.sort(rng.choice(n, limit, replace=False))
    picked = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        take = min(len(idx), max(2, int(round(limit * len(idx) / n))))
        picked.append(rng.choice(idx, take, replace=False))
    return np.sort(np.concatenate(picked))


def _folds(y: np.ndarray, n_folds: int, classification: bool, seed: int):
    """Folds over ``y``'s positions, stratified when every class has enough rows; None when too few rows."""
    from sklearn.model_selection import KFold, StratifiedKFold

    k = min(n_folds, len(y) // 2)
    if k < 2:
        return None
    if classification:
        counts = np.unique(y, return_counts=True)[1]
        if counts.min() >= k:
            return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    return list(KFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y))))
