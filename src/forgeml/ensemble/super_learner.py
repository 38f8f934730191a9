"""The Super Learner (van der Laan, Polley and Hubbard, 2007): the convex combination of the members'
out-of-fold predictions that minimises the run's loss.

The weights are non-negative and sum to one. They are fitted with SLSQP over the simplex on a smooth, convex
surrogate of the loss: the log loss of the blended probabilities for classification (``(n, k)`` arrays; the log
loss of a mixture is convex in its weights), the squared error of the blended values for regression. The blend
is then scored with the run's own metric; when it scores worse there than the best single member, the best
single member is returned instead, so the result is never worse than it on these rows. Weights below
``min_weight`` are dropped and the rest renormalised before scoring.

With ``costs`` and ``max_cost`` (seconds to refit each member, and the seconds left), the candidates are the best
single member (always allowed) plus the next best members, by their own metric, while their summed costs fit; a
member that would not fit is left out, so any subset the fit picks can be refit. ``sample_weight`` weighs the rows
in the surrogate and in every score. The optimiser starts from equal weights and uses no randomness, so the
result is the same for every ``seed``.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from forgeml.ensemble.base import Ensemble, Ensembler, affordable, as_members, member_loss, ranked
from forgeml.metrics import Metric


class SuperLearnerEnsembler(Ensembler):
    name = "super_learner"

    def __init__(self, min_weight: float = 1e-4, max_iter: int = 200) -> None:
        self.min_weight = min_weight
        self.max_iter = max_iter

    def fit(self, oof: Mapping[int, np.ndarray], y: np.ndarray, metric: Metric, *, seed: int = 0,
            costs: Mapping[int, float] | None = None, max_cost: float | None = None,
            sample_weight: np.ndarray | None = None) -> Ensemble:
        keys, preds, w = as_members(oof, sample_weight)
        order = ranked(metric, y, preds, w)
        best = order[0]
        single = Ensemble(weights={keys[best]: 1.0}, score=metric.score(y, preds[best], sample_weight=w))
        cost = np.array([float((costs or {}).get(k, 0.0)) for k in keys])
        cand = affordable(order, cost, max_cost)
        if len(cand) < 2:
            return single
        alpha = self._convex_weights([preds[j] for j in cand], y, w)
        if alpha is None:
            return single
        alpha = np.where(alpha < self.min_weight, 0.0, alpha)
        alpha = alpha / alpha.sum()
        weights = {keys[j]: float(a) for j, a in zip(cand, alpha) if a > 0}
        blend = sum(a * preds[j] for j, a in zip(cand, alpha) if a > 0)
        score = metric.score(y, blend, sample_weight=w)
        loss = metric.loss(score)
        if not np.isfinite(loss) or loss > member_loss(metric, y, preds[best], w):
            return single
        return Ensemble(weights=weights, score=score)

    def _convex_weights(self, preds: list[np.ndarray], y: np.ndarray, w: np.ndarray | None) -> np.ndarray | None:
        """Simplex weights minimising the surrogate loss, or None when there is nothing to improve."""
        from scipy.optimize import minimize

        m = len(preds)
        rw = np.ones(len(y)) if w is None else w
        if not rw.sum() > 0:
            return None
        rw = rw / rw.sum()
        if preds[0].ndim == 2:  # classification: log loss of the mixture, on each row's true-class probability
            rows = np.arange(len(y))
            codes = np.asarray(y).astype(int)
            q = np.column_stack([np.clip(p[rows, codes], 0.0, 1.0) for p in preds])

            def surrogate(a: np.ndarray) -> tuple[float, np.ndarray]:
                mix = np.clip(q @ a, 1e-15, None)
                return float(-(rw * np.log(mix)).sum()), -(q * (rw / mix)[:, None]).sum(axis=0)
        else:  # regression: squared error, as a quadratic form in the weights
            p = np.column_stack(preds)
            yy = np.asarray(y, dtype=float)
            gram = p.T @ (p * rw[:, None])
            lin = p.T @ (rw * yy)
            const = float((rw * yy * yy).sum())

            def surrogate(a: np.ndarray) -> tuple[float, np.ndarray]:
                return float(a @ gram @ a - 2 * lin @ a + const), 2 * (gram @ a - lin)
        start = np.full(m, 1.0 / m)
        scale = max(min(surrogate(np.eye(m)[j])[0] for j in range(m)), 1e-12)  # ftol relative to the best member
        res = minimize(lambda a: tuple(v / scale for v in surrogate(a)), start, jac=True, method="SLSQP",
                       bounds=[(0.0, 1.0)] * m,
                       constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1.0, "jac": lambda a: np.ones(m)}],
                       options={"maxiter": self.max_iter, "ftol": 1e-10})
        alpha = np.clip(np.nan_to_num(res.x, nan=0.0), 0.0, None)
        if not alpha.sum() > 0:
            return None
        return alpha / alpha.sum()
