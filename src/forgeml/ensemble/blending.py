"""Blending: the combiner is fitted on a holdout carved from the rows, and judged on the rest.

A seeded holdout of ``holdout`` of the rows (stratified for classification) is carved out. The members are ranked
by their own metric on the holdout, the best ``max_members`` whose refit costs fit in ``max_cost`` are the
candidates, and the combiner is fitted on the holdout rows only: ``meta="linear"`` is the convex blend (non-negative
weights summing to one, the Super Learner's optimiser: log loss of the blended probabilities, squared error of the
blended values), expressed as plain ensemble weights; ``"logistic"`` or ``"lightgbm"`` fit that meta-learner (see
``forgeml.ensemble.meta``) and return it as the ensemble's combiner. The blend is kept only when it beats the best
single member on the other rows, which it was not fitted on; otherwise the best single member is returned. The
reported ``score`` is the metric of the blend on all the given rows. ``sample_weight`` weighs every fit and score.
Too few rows for a holdout with two classes (or two rows) and two other rows gives the best single member.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from forgeml.ensemble.base import Ensemble, Ensembler, affordable, as_members, member_loss, ranked
from forgeml.ensemble.meta import META_KINDS, fit_meta
from forgeml.ensemble.stacking import MetaCombiner, convex, finish, single_member
from forgeml.errors import ConfigError
from forgeml.metrics import Metric


def carve(y: np.ndarray, k: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(rest, holdout)`` row indices: a seeded split, stratified when every class has two rows or more."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    strat = y if k and np.bincount(y.astype(int)).min(initial=0) >= 2 and len(np.unique(y)) > 1 else None
    try:
        rest, hold = train_test_split(idx, test_size=holdout, random_state=seed, stratify=strat)
    except ValueError:  # a holdout too small to hold every class: split without stratifying
        rest, hold = train_test_split(idx, test_size=holdout, random_state=seed)
    return np.sort(rest), np.sort(hold)


class BlendingEnsembler(Ensembler):
    name = "blending"

    def __init__(self, holdout: float = 0.25, meta: str = "linear", max_members: int = 10,
                 tol: float = 1e-7) -> None:
        self.holdout = holdout
        self.meta = meta
        self.max_members = max_members
        self.tol = tol

    def fit(self, oof: Mapping[int, np.ndarray], y: np.ndarray, metric: Metric, *, seed: int = 0,
            costs: Mapping[int, float] | None = None, max_cost: float | None = None,
            sample_weight: np.ndarray | None = None) -> Ensemble:
        if self.meta not in META_KINDS:
            raise ConfigError(f"blending meta must be one of {', '.join(META_KINDS)}; got {self.meta!r}")
        if not isinstance(self.holdout, (int, float)) or not 0 < self.holdout < 1:
            raise ConfigError(f"blending holdout must be a fraction of the rows in (0, 1); got {self.holdout!r}")
        keys, preds, w = as_members(oof, sample_weight)
        best = ranked(metric, y, preds, w)[0]
        single = single_member(keys, preds, y, metric, w, best)
        k = preds[0].shape[1] if preds[0].ndim == 2 else 0
        yy = np.asarray(y).astype(int) if k else np.asarray(y, dtype=float)
        n = len(yy)
        n_hold = int(np.ceil(self.holdout * n))
        if len(keys) < 2 or n_hold < 2 or n - n_hold < 2:
            return single
        rest, hold = carve(yy, k, self.holdout, seed)
        if k and len(np.unique(yy[hold])) < 2:
            return single
        wh = None if w is None else w[hold]
        wr = None if w is None else w[rest]
        ph = [p[hold] for p in preds]
        order = ranked(metric, yy[hold], ph, wh)
        cost = np.array([float((costs or {}).get(key, 0.0)) for key in keys])
        cand = affordable(order, cost, max_cost)[:self.max_members]
        if len(cand) < 2:
            return single
        single_rest = member_loss(metric, yy[rest], preds[best][rest], wr)  # the bar, on rows no blend was fitted on
        if self.meta == "linear":
            alpha = convex([ph[j] for j in cand], yy[hold], wh)
            weights = {keys[j]: float(a) for j, a in zip(cand, alpha) if a >= 1e-4}
            total = sum(weights.values())
            weights = {key: a / total for key, a in weights.items()}
            blend_on = lambda rows: sum(a * preds[keys.index(key)][rows] for key, a in weights.items())  # noqa: E731
            if not member_loss(metric, yy[rest], blend_on(rest), wr) < single_rest - self.tol:
                return single
            score = metric.score(y, blend_on(slice(None)), sample_weight=w)
            if len(weights) == 1 and metric.loss(score) > metric.loss(single.score):
                return single
            return Ensemble(weights=weights, score=score)

        def refit(members: list[int]) -> MetaCombiner:
            idx = [keys.index(m) for m in members]
            model = fit_meta(self.meta, [ph[j] for j in idx], yy[hold], k, wh, seed)
            return MetaCombiner("blending", members, k, [model], [1.0])

        combiner = refit([keys[j] for j in cand])
        on_rest = combiner.combine({key: p[rest] for key, p in zip(keys, preds)})
        if not member_loss(metric, yy[rest], on_rest, wr) < single_rest - self.tol:
            return single
        return finish(combiner, refit, keys, preds, y, metric, w, best)
