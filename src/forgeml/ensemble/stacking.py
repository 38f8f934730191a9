"""Stacking: a meta-learner fitted on the members' out-of-fold predictions (layer 2), optionally a convex blend of
several meta-learners on top (layer 3), optionally with the raw numeric features passed through.

The members' predictions are already out of fold, so a meta-learner fitted on all the given rows never sees a
prediction of a row its member was trained on. Which meta-learner (``meta``: ``"linear"``, ``"logistic"``,
``"lightgbm"``; see ``forgeml.ensemble.meta``) is chosen by a nested out-of-fold score: each is cross-fitted over
``n_folds`` seeded folds of the rows (stratified for classification) and its cross-fitted predictions are scored
with the run's metric. With ``layers=3`` the candidates also include the convex blend of the meta-learners (the
Super Learner's optimiser), fitted on their cross-fitted predictions and itself cross-fitted over the same folds
for its score. The best candidate is refit on all rows. When it does not beat the best single member (whose
predictions are out of fold too), or there are fewer than ``2 * n_folds`` rows, the best single member is returned.

Members: the best ``max_members`` by their own metric whose refit costs fit in ``max_cost``. The weights are each
member's share of the meta-learners' use (normalised convex/NNLS coefficients, absolute logistic or ridge
coefficients, LightGBM gain); members under 1 % are dropped and the meta-learner refit without them.
``n_folds`` is 3 by default: over 14 of our datasets, 3 folds gave the same nested score as 5 on 10, a better one
on 3 and a slightly worse one on chile (log loss 0.8388 against 0.8375), in 30-60 % less time, which is what lets
stacking be compared within ``ensemble="auto"``'s share of the budget more often.
``passthrough=True`` lets the LightGBM meta-learner also read the numeric columns of ``features`` (the raw input
rows); categorical columns are left out. ``sample_weight`` weighs every fit and score.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from forgeml.ensemble.base import Combiner, Ensemble, Ensembler, affordable, as_members, member_loss, ranked
from forgeml.ensemble.meta import META_KINDS, MetaModel, fit_meta
from forgeml.errors import ConfigError
from forgeml.metrics import Metric

if TYPE_CHECKING:
    import pandas as pd

MIN_SHARE = 0.01  # members whose share of the meta-learner's use is smaller are dropped
_MAX_EXTRA = 200  # at most this many passed-through feature columns


class MetaCombiner(Combiner):
    """A convex blend (``alpha``) of fitted meta-learners over the predictions of ``members``."""

    def __init__(self, label: str, members: Sequence[int], k: int, models: Sequence[MetaModel],
                 alpha: Sequence[float], columns: tuple | None = None, cv_score: float | None = None) -> None:
        self.label = label
        self.members = tuple(int(m) for m in members)
        self.k = k
        self.models = tuple(models)
        self.alpha = np.asarray(alpha, dtype=float)
        self.columns = columns
        self.cv_score = cv_score  # the nested out-of-fold score it was chosen by (None when not measured)

    def combine(self, preds: Mapping[int, np.ndarray], features: pd.DataFrame | None = None) -> np.ndarray:
        p = [np.asarray(preds[m], dtype=float) for m in self.members]
        extra = None
        if self.columns is not None:
            if features is None:
                raise ValueError(f"{self.describe()} reads the raw feature rows: pass features= to combine")
            extra = numeric_block(features, self.columns)
        out = sum(a * model.predict(p, extra) for a, model in zip(self.alpha, self.models))
        return out / np.clip(out.sum(1, keepdims=True), 1e-15, None) if self.k else out

    def shares(self) -> np.ndarray:
        """Each member's share of the use, summing to 1 (all zero when no member is used)."""
        total = np.zeros(len(self.members))
        for a, model in zip(self.alpha, self.models):
            s = np.clip(model.shares(), 0.0, None)
            if s.sum() > 0:
                total += a * s / s.sum()
        return total / total.sum() if total.sum() > 0 else total

    def state(self) -> tuple:
        return (self.label, self.members, self.k, self.alpha, self.columns,
                tuple((m.kind, m.state()) for m in self.models))

    def describe(self) -> str:
        kinds = "+".join(m.kind for m in self.models)
        if len(self.models) > 1:
            kinds += "→blend"
        if self.columns is not None:
            kinds += "+features"
        return f"{self.label}({kinds})"


def numeric_columns(features: pd.DataFrame) -> tuple | None:
    """The numeric (and boolean) columns of ``features`` to pass through, or None when there are none."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    cols = tuple(c for c in features.columns if is_numeric_dtype(features[c]) or is_bool_dtype(features[c]))
    return cols[:_MAX_EXTRA] or None


def numeric_block(features: pd.DataFrame, columns: tuple) -> np.ndarray:
    """``columns`` of ``features`` as floats (a missing column or value is NaN, which LightGBM handles)."""
    import pandas as pd

    frame = features.reindex(columns=list(columns))
    return np.column_stack([pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                            for c in columns])


def make_folds(y: np.ndarray, k: int, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded folds of the rows, stratified for classification when the classes allow it."""
    from sklearn.model_selection import KFold, StratifiedKFold

    idx = np.zeros(len(y))
    if k:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a class with fewer rows than folds: stratify as far as possible
                return list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(idx, y))
        except ValueError:
            pass
    return list(KFold(n_folds, shuffle=True, random_state=seed).split(idx))


def cross_fit(kind: str, preds: list[np.ndarray], y: np.ndarray, k: int, w: np.ndarray | None, folds, seed: int,
              extra: np.ndarray | None = None) -> np.ndarray:
    """Predictions of meta-learner ``kind`` for each fold's rows, fitted on the other folds' rows."""
    out = np.zeros((len(y), k)) if k else np.zeros(len(y))
    for tr, te in folds:
        model = fit_meta(kind, [p[tr] for p in preds], y[tr], k, None if w is None else w[tr], seed,
                         None if extra is None else extra[tr])
        out[te] = model.predict([p[te] for p in preds], None if extra is None else extra[te])
    return out


def convex(preds: list[np.ndarray], y: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Simplex weights over ``preds`` minimising log loss / squared error (equal weights if nothing to fit)."""
    from forgeml.ensemble.super_learner import SuperLearnerEnsembler

    a = SuperLearnerEnsembler()._convex_weights(preds, y, w) if len(preds) > 1 else None
    return np.full(len(preds), 1.0 / len(preds)) if a is None else a


def single_member(keys: list[int], preds: list[np.ndarray], y: np.ndarray, metric: Metric, w, best: int) -> Ensemble:
    return Ensemble(weights={keys[best]: 1.0}, score=metric.score(y, preds[best], sample_weight=w))


def finish(combiner: MetaCombiner, refit, keys: list[int], preds: list[np.ndarray], y: np.ndarray, metric: Metric,
           w, best: int, features=None) -> Ensemble:
    """Weights from the combiner's shares, dropping members under ``MIN_SHARE`` (``refit(members)`` rebuilds it
    without them); the best single member instead when no member is used or the result is worse than it."""
    single = single_member(keys, preds, y, metric, w, best)
    shares = combiner.shares()
    if not shares.sum() > 0:
        return single
    keep = [m for m, s in zip(combiner.members, shares) if s >= MIN_SHARE]
    if len(keep) < len(combiner.members):
        combiner = refit(keep)
        shares = combiner.shares()
        if not shares.sum() > 0:
            return single
    used = {m: float(s) for m, s in zip(combiner.members, shares) if s > 0}
    if set(used) != set(combiner.members):  # every member the combiner reads must be refit: floor the unused
        used = {m: max(used.get(m, 0.0), 1e-6) for m in combiner.members}
    total = sum(used.values())
    weights = {m: s / total for m, s in used.items()}
    oof = dict(zip(keys, preds))
    score = metric.score(y, combiner.combine(oof, features), sample_weight=w)
    if not np.isfinite(metric.loss(score)) or metric.loss(score) > metric.loss(single.score):
        return single
    return Ensemble(weights=weights, score=score, combiner=combiner)


# below this many rows a list of meta-learners leaves the small LightGBM out: on so few rows it seldom beats a
# linear blend on the nested score, and it is most of the comparison's time (``meta="lightgbm"`` alone keeps it)
MIN_LIGHTGBM_ROWS = 1000


class StackingEnsembler(Ensembler):
    name = "stacking"

    def __init__(self, layers: int = 2, passthrough: bool = False,
                 meta: str | Sequence[str] = ("linear", "logistic", "lightgbm"), n_folds: int = 3,
                 max_members: int = 10, tol: float = 1e-7) -> None:
        self.layers = layers
        self.passthrough = passthrough
        self.meta = meta
        self.n_folds = n_folds
        self.max_members = max_members
        self.tol = tol

    @property
    def uses_features(self) -> bool:  # type: ignore[override]
        return bool(self.passthrough)

    def _kinds(self) -> tuple[str, ...]:
        kinds = (self.meta,) if isinstance(self.meta, str) else tuple(self.meta)
        if not kinds or any(k not in META_KINDS for k in kinds):
            raise ConfigError(f"stacking meta must be one or more of {', '.join(META_KINDS)}; got {self.meta!r}")
        if self.layers not in (2, 3):
            raise ConfigError(f"stacking layers must be 2 or 3; got {self.layers!r}")
        for what, v, low in (("n_folds", self.n_folds, 2), ("max_members", self.max_members, 1)):
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise ConfigError(f"stacking {what} must be an integer >= {low}; got {v!r}")
        return tuple(dict.fromkeys(kinds))

    def fit(self, oof: Mapping[int, np.ndarray], y: np.ndarray, metric: Metric, *, seed: int = 0,
            costs: Mapping[int, float] | None = None, max_cost: float | None = None,
            sample_weight: np.ndarray | None = None, features: pd.DataFrame | None = None) -> Ensemble:
        kinds = self._kinds()
        if isinstance(self.meta, (tuple, list)) and len(y) < MIN_LIGHTGBM_ROWS and len(kinds) > 1:
            kinds = tuple(k for k in kinds if k != "lightgbm") or kinds  # too few rows for trees to beat a blend
        if features is not None and len(features) != len(y):
            raise ValueError(f"features has {len(features)} rows but y has {len(y)}; pass the raw rows aligned with y")
        keys, preds, w = as_members(oof, sample_weight)
        order = ranked(metric, y, preds, w)
        best = order[0]
        cost = np.array([float((costs or {}).get(k, 0.0)) for k in keys])
        cand = affordable(order, cost, max_cost)[:self.max_members]
        if len(cand) < 2 or len(y) < 2 * self.n_folds:
            return single_member(keys, preds, y, metric, w, best)
        k = preds[0].shape[1] if preds[0].ndim == 2 else 0
        yy = np.asarray(y).astype(int) if k else np.asarray(y, dtype=float)
        columns = numeric_columns(features) if self.passthrough and features is not None else None
        extra = None if columns is None else numeric_block(features, columns)
        folds = make_folds(yy, k, self.n_folds, seed)
        p = [preds[j] for j in cand]
        cross = [cross_fit(kind, p, yy, k, w, folds, seed, extra if kind == "lightgbm" else None) for kind in kinds]
        options = [(member_loss(metric, yy, c, w), (kind,), np.ones(1)) for kind, c in zip(kinds, cross)]
        if self.layers == 3 and len(kinds) > 1:
            out = np.zeros_like(cross[0])
            for tr, te in folds:
                a = convex([c[tr] for c in cross], yy[tr], None if w is None else w[tr])
                out[te] = sum(ai * c[te] for ai, c in zip(a, cross))
            alpha = convex(cross, yy, w)
            used = alpha >= 1e-4
            options.append((member_loss(metric, yy, out, w), tuple(np.array(kinds)[used]),
                            alpha[used] / alpha[used].sum()))
        loss, chosen, alpha = min(options, key=lambda o: o[0])  # ties: the first, i.e. the simplest
        if not loss < member_loss(metric, yy, preds[best], w) - self.tol:
            return single_member(keys, preds, y, metric, w, best)
        cv_score = -loss if metric.greater_is_better else loss

        def refit(members: list[int]) -> MetaCombiner:
            idx = [keys.index(m) for m in members]
            models = [fit_meta(kind, [preds[j] for j in idx], yy, k, w, seed, extra if kind == "lightgbm" else None)
                      for kind in chosen]
            return MetaCombiner("stacking", members, k, models, alpha,
                                columns if "lightgbm" in chosen else None, cv_score)

        return finish(refit([keys[j] for j in cand]), refit, keys, preds, y, metric, w, best, features)
