"""``FeatureSelector``: the ``("select", ...)`` step between the engineered features and the model.

Methods (``method``):

* ``"none"``: keep every column, except that the width cap below still applies;
* ``"variance"``: drop near-constant columns (one value covers more than ``NEAR_CONSTANT`` = 99.5 % of the
  scoring rows);
* ``"correlation"``: of every pair with ``|Pearson r| > MAX_CORRELATION`` (0.95), drop the later column;
* ``"chi2"`` (classification only): chi² statistic of each column against the classes; columns are shifted to
  be non-negative first (minus their minimum on the fit rows), so any numeric input can be scored;
* ``"mutual_info"``: mutual information with the target (both tasks), estimated on equal-frequency bins
  (``MI_BINS`` = 16; columns with fewer distinct values, such as ``category`` codes or one-hot columns, keep their
  values; a regression target is binned the same way): it sees non-linear links, and costs a contingency
  table per column instead of a k-NN search;
* ``"tree_importance"``: impurity importance of a small seeded extra-trees ensemble;
* ``"l1"``: ``|coef|`` of an L1 model (Lasso on a standardized target, or L1-penalised logistic regression) on
  standardized columns.

The two filters drop what fails them (``keep`` does not apply); the ranking methods keep the best
``ceil(keep x n_columns)`` columns. Every method keeps at least one column (the best-scoring one).

Width cap: at most ``max_features`` (``MAX_FEATURES`` = 1,000) columns ever reach the model, whatever the method
(``"none"`` included): above it, the columns with the highest univariate F statistic (classification) or
|Pearson r| (regression) against the target are kept.

Scores are computed on at most ``max_rows`` (``SCORE_ROWS`` = 2,000, seeded sample) of the rows passed to
``fit``; missing values are filled with the column median for scoring only. ``category`` columns are scored
through their integer codes, and a kept one passes through unchanged (same values, same dtype): transform only
picks columns, it never converts them.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from forgeml.errors import ConfigError
from forgeml.features._frame import Rows, as_frame, check_fitted, in_order, index_of, positions_in, without_caches

METHODS = ("none", "variance", "correlation", "chi2", "mutual_info", "tree_importance", "l1")
FILTERS = ("variance", "correlation")
RANKERS = ("chi2", "mutual_info", "tree_importance", "l1")
MAX_FEATURES = 1000
SCORE_ROWS = 2000
# peak memory of fitting one engineered pipeline (traced allocations) stays below this multiple of the input
# frame's in-memory size plus a fixed allowance; the width cap is what bounds it (tests/e2e/test_selection_guards)
PEAK_MEMORY_MULTIPLE, PEAK_MEMORY_BASE_MB = 16, 64
NEAR_CONSTANT = 0.995
MAX_CORRELATION = 0.95
CORRELATION_BLOCK = 256  # columns whose correlations with the earlier ones are computed at once
MI_BINS = 16


class FeatureSelector(TransformerMixin, BaseEstimator):
    """Keep the columns ``method`` finds useful (see the module docstring), never more than ``max_features``.

    ``task`` is ``"binary"``, ``"multiclass"`` or ``"regression"``; ``keep`` is the fraction of columns the
    ranking methods keep.
    """

    def __init__(self, method: str = "none", keep: float = 0.5, *, task: str = "regression",
                 max_features: int = MAX_FEATURES, max_rows: int = SCORE_ROWS, seed: int = 0) -> None:
        self.method = method
        self.keep = keep
        self.task = task
        self.max_features = max_features
        self.max_rows = max_rows
        self.seed = seed

    def fit(self, X: Any, y: Any = None) -> FeatureSelector:
        if self.method not in METHODS:
            raise ConfigError(f"FeatureSelector method={self.method!r} is not one of {', '.join(METHODS)}")
        if not 0 < float(self.keep) <= 1:
            raise ConfigError(f"FeatureSelector keep={self.keep!r} must be a fraction in (0, 1]")
        classification = self.task != "regression"
        if self.method == "chi2" and not classification:
            raise ConfigError("chi2 feature selection needs a classification task; use mutual_info for regression")
        if y is None and self.method != "none":
            raise ConfigError(f"feature selection {self.method!r} needs y; pass the training target to fit")
        X = as_frame(X)
        names = [str(c) for c in X.columns]
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        is_cat = np.array([isinstance(X[c].dtype, pd.CategoricalDtype) for c in X.columns], dtype=bool)
        if self.method == "none" and len(names) <= self.max_features:  # nothing to score
            self.scores_, self.support_, self.selected_ = None, np.ones(len(names), dtype=bool), names
            return self
        A, yv = self._scoring_rows(X, y, is_cat)
        mask = np.ones(len(names), dtype=bool)
        scores = None
        if self.method == "variance":
            mask = _not_near_constant(A)
        elif self.method == "correlation":
            mask = _uncorrelated(A)
        elif self.method in RANKERS:
            scores = self._scores(A, yv, is_cat, classification)
            n_keep = max(1, math.ceil(float(self.keep) * len(names)))
            mask = _top(scores, n_keep)
        if not mask.any():  # every column failed a filter: keep the best single one
            mask = _top(_univariate(A, yv, classification) if yv is not None else A.var(axis=0), 1)
        if mask.sum() > self.max_features:  # the width cap, whatever the method
            cheap = _univariate(A, yv, classification) if yv is not None else A.var(axis=0)
            mask = mask & _top(np.where(mask, cheap, -np.inf), self.max_features)
        self.scores_ = scores
        self.support_ = mask
        self.selected_ = [n for n, m in zip(names, mask) if m]
        return self

    def _scoring_rows(self, X: pd.DataFrame, y: Any, is_cat: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The (capped, seeded) rows scores are computed on, as a float matrix with NaN filled by medians."""
        yv = None if y is None else np.asarray(y)
        idx = np.arange(len(X))
        if len(X) > self.max_rows:
            idx = np.sort(np.random.default_rng(self.seed).choice(len(X), self.max_rows, replace=False))
        sub = X.iloc[idx]
        A = np.empty((len(idx), X.shape[1]))
        num = np.flatnonzero(~is_cat)
        if len(num):
            block = sub.iloc[:, num]
            if not all(pd.api.types.is_numeric_dtype(t) for t in block.dtypes):
                block = block.apply(pd.to_numeric, errors="coerce")
            A[:, num] = block.to_numpy(dtype="float64", na_value=np.nan)
        for j in np.flatnonzero(is_cat):
            A[:, j] = sub.iloc[:, j].cat.codes.to_numpy(dtype="float64")
        A[~np.isfinite(A)] = np.nan
        if np.isnan(A).any():
            med = np.nanmedian(np.where(np.isnan(A).all(axis=0), 0.0, A), axis=0)
            A = np.where(np.isnan(A), med, A)
        return A, (None if yv is None else yv[idx])

    def _scores(self, A: np.ndarray, y: np.ndarray, is_cat: np.ndarray, classification: bool) -> np.ndarray:
        if self.method == "chi2":
            from sklearn.feature_selection import chi2
            s, _ = chi2(A - A.min(axis=0), y)
        elif self.method == "mutual_info":
            s = _binned_mutual_info(A, y, classification)
        elif self.method == "tree_importance":
            from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
            cls = ExtraTreesClassifier if classification else ExtraTreesRegressor
            s = cls(n_estimators=50, min_samples_leaf=3, max_features="sqrt", n_jobs=1,
                    random_state=self.seed).fit(A, y).feature_importances_
        else:
            s = _l1_scores(A, y, classification, self.seed)
        s = np.nan_to_num(np.asarray(s, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
        # ties (e.g. many zero L1 coefficients) are broken by a tiny share of the univariate score
        u = _univariate(A, y, classification)
        return s + 1e-9 * (s.max(initial=0.0) or 1.0) * u / (u.max(initial=0.0) or 1.0)

    def transform(self, X: Any) -> pd.DataFrame:
        check_fitted(self, "selected_")
        X = as_frame(X, self.feature_names_in_)
        if len(self.selected_) == X.shape[1] and list(X.columns) == list(self.selected_):
            return X  # every column kept (``method="none"``, or all of them selected): no copy (models never write
            # into their input; a one-row prediction paid 0.15 ms a member for the copy)
        return X.loc[:, self.selected_]

    def transform_rows(self, X: Any) -> Rows | None:
        """``transform`` of ``Rows`` (a request's few rows) as ``Rows``; None for anything else, or when a selected
        column is not among the rows' columns."""
        if not isinstance(X, Rows):
            return None
        check_fitted(self, "selected_")
        pos = positions_in(self, "rows_in", X.columns, self.selected_)
        if pos is None:
            return None
        if in_order(pos, X.values.shape[1]):
            return X  # every column kept, in order: as ``transform``, no copy
        return X.taken(pos, index_of(self, "out", self.selected_))

    def __getstate__(self) -> dict[str, Any]:
        return without_caches(super().__getstate__())

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_fitted(self, "selected_")
        return np.asarray(self.selected_, dtype=object)

    def describe_features(self) -> dict[str, str]:
        """Selection creates nothing: every kept column is described as it came in."""
        check_fitted(self, "selected_")
        return {}


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """A mask of the ``n`` highest scores (ties go to the earlier column)."""
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:n]
    mask = np.zeros(len(scores), dtype=bool)
    mask[order] = True
    return mask


def _not_near_constant(A: np.ndarray) -> np.ndarray:
    out = np.ones(A.shape[1], dtype=bool)
    for j in range(A.shape[1]):
        _, counts = np.unique(A[:, j], return_counts=True)
        out[j] = counts.max(initial=0) <= NEAR_CONSTANT * len(A)
    return out


def _uncorrelated(A: np.ndarray) -> np.ndarray:
    """Greedy in column order: a column is dropped when it is too correlated with an earlier kept one.

    Correlations are computed ``CORRELATION_BLOCK`` columns at a time against the earlier ones, so memory grows
    with ``n_columns x CORRELATION_BLOCK``, never with the full ``n_columns²`` matrix."""
    n, p = A.shape
    std = A.std(axis=0)
    ok = std > 0
    Z = A - A.mean(axis=0)
    Z /= np.where(ok, std, 1.0)
    Z[:, ~ok] = 0.0
    keep = np.ones(p, dtype=bool)
    for s in range(0, p, CORRELATION_BLOCK):
        e = min(p, s + CORRELATION_BLOCK)
        high = np.abs(Z[:, :e].T @ Z[:, s:e]) / max(n, 1) > MAX_CORRELATION  # high[i, j - s]: column i vs j
        for j in range(s, e):
            partners = np.flatnonzero(high[:j, j - s])  # only earlier columns can make j go
            if len(partners) and keep[partners].any():
                keep[j] = False
    return keep


def _univariate(A: np.ndarray, y: np.ndarray, classification: bool) -> np.ndarray:
    """The cheap criterion: the ANOVA F statistic (classification) or |Pearson r| with the target (regression)."""
    from sklearn.feature_selection import f_classif, r_regression
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        s = f_classif(A, y)[0] if classification else np.abs(r_regression(A, np.asarray(y, dtype=float)))
    return np.nan_to_num(np.asarray(s, dtype=float), nan=0.0, posinf=np.finfo(float).max, neginf=0.0)


def _l1_scores(A: np.ndarray, y: np.ndarray, classification: bool, seed: int) -> np.ndarray:
    std = A.std(axis=0)
    Z = (A - A.mean(axis=0)) / np.where(std > 0, std, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence on a capped sample is not the point: the ranking is
        if classification:  # one-vs-rest with liblinear: far faster than a multinomial saga fit
            from sklearn.linear_model import LogisticRegression
            classes = np.unique(y)
            targets = [y == classes[-1]] if len(classes) <= 2 else [y == c for c in classes]
            return sum(np.abs(LogisticRegression(l1_ratio=1.0, solver="liblinear", C=0.1, random_state=seed)
                              .fit(Z, t.astype(int)).coef_[0]) for t in targets)
        from sklearn.linear_model import Lasso
        yz = (y - y.mean()) / (y.std() or 1.0)
        alpha = 0.05 * np.abs(Z.T @ yz).max(initial=0.0) / max(len(Z), 1)
        return np.abs(Lasso(alpha=max(alpha, 1e-6), max_iter=2000, random_state=seed).fit(Z, yz).coef_)


def _bins(v: np.ndarray) -> np.ndarray:
    """Integer codes of ``v``: its values when there are at most ``MI_BINS``, else equal-frequency bins."""
    values, codes = np.unique(v, return_inverse=True)
    if len(values) <= MI_BINS:
        return codes
    edges = np.unique(np.quantile(v, np.linspace(0, 1, MI_BINS + 1)[1:-1]))
    return np.searchsorted(edges, v, side="right")


def _binned_mutual_info(A: np.ndarray, y: np.ndarray, classification: bool) -> np.ndarray:
    """Plug-in mutual information (nats) of each binned column with the (binned) target."""
    yb = np.unique(y, return_inverse=True)[1] if classification else _bins(np.asarray(y, dtype=float))
    ky, n = int(yb.max(initial=0)) + 1, len(yb)
    py = np.bincount(yb, minlength=ky) / max(n, 1)
    out = np.zeros(A.shape[1])
    for j in range(A.shape[1]):
        xb = _bins(A[:, j])
        kx = int(xb.max(initial=0)) + 1
        joint = np.bincount(xb * ky + yb, minlength=kx * ky).reshape(kx, ky) / max(n, 1)
        px = joint.sum(axis=1, keepdims=True)
        nz = joint > 0
        out[j] = float((joint[nz] * np.log(joint[nz] / (px @ py[None, :])[nz])).sum())
    return out
